"""rportd's library (``/library/scripts``, ``/library/commands``) over core's library service.

rportd's routes and answers: lists with its page/sort/filter/fields rules (20 a page, 100 at
most; one count and one select whatever the page), ``POST`` 201 with the entry, ``PUT`` a whole
replacement 200 with the entry, ``DELETE`` 204, a taken name 409, an unknown id 404. Scripts need
the ``scripts`` permission and commands the ``commands`` permission, for reading too.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.filters import time_condition
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import LIBRARY, LIBRARY_TIMES, SYNTAX, CommandBody, ScriptBody
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.jobs.library import COMMAND, SCRIPT, LibraryInput, LibraryItem

RESOURCE = {SCRIPT: "scripts", COMMAND: "commands"}
TEXT = {SCRIPT: "script", COMMAND: "cmd"}  # the field that holds the entry's text
_TEXT_OPS = {q.Op.EQ: q.Op.IEQ, q.Op.IN: q.Op.IIN}


def _allowed(ctx: Context, kind: str) -> None:
    """rportd's own refusal text; core checks the same permission again."""
    name = RESOURCE[kind]
    if not ctx.me.can(render.PERMISSIONS[name]):
        raise RportError(403, f'user does not have "{name}" permission')


def item(entry: LibraryItem) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "created_by": entry.created_by,
        "created_at": render.time(entry.created_at),
        "updated_by": entry.updated_by,
        "updated_at": render.time(entry.updated_at or entry.created_at),
        "tags": entry.tags,
        "timeout_sec": entry.timeout_sec,
        TEXT[entry.kind]: entry.content,
    }
    if entry.kind == SCRIPT:
        data.update(interpreter=entry.interpreter, is_sudo=entry.is_sudo, cwd=entry.cwd)
    return data


def _translate(expr: q.Expr) -> q.Expr:
    if isinstance(expr, q.AnyOf):
        return q.AnyOf(tuple(_translate(c) for c in expr.conds))
    if isinstance(expr, q.AllOf):
        return q.AllOf(tuple(_translate(c) for c in expr.conds))
    if expr.field in LIBRARY_TIMES:
        return time_condition(expr.field, expr)
    return q.Cond(expr.field, _TEXT_OPS.get(expr.op, expr.op), expr.value)


def _list(ctx: Context, kind: str) -> Response:
    _allowed(ctx, kind)
    request = listing.parse(ctx.params, LIBRARY[kind], SYNTAX)
    query = request.query
    page = ctx.services.library.find(
        ctx.me,
        kind,
        q.Query(
            where=tuple(_translate(e) for e in query.where),
            sort=(*query.sort, q.SortKey("id")),  # a stable order across pages
            limit=query.limit,
            offset=query.offset,
        ),
    )
    fields = request.fields[RESOURCE[kind]]
    return render.ok([_pick(item(e), fields) for e in page.items], meta={"count": page.total})


def _pick(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in fields}


def _get(ctx: Context, kind: str) -> Response:
    _allowed(ctx, kind)
    fields = listing.parse(ctx.params, LIBRARY[kind], SYNTAX).fields[RESOURCE[kind]]
    return render.ok(_pick(item(ctx.services.library.get(ctx.me, kind, str(ctx.path_params["id"]))), fields))


def _input(ctx: Context, kind: str) -> LibraryInput:
    if kind == SCRIPT:
        script = ctx.decode(ScriptBody)
        return LibraryInput(
            script.name,
            script.script,
            script.interpreter,
            script.cwd,
            script.is_sudo,
            script.timeout_sec,
            script.tags or [],
        )
    command = ctx.decode(CommandBody)
    if command.cmd is not None and command.script is not None and command.cmd != command.script:
        raise RportError(400, "give the command as cmd or as script, not both")
    text = command.cmd if command.cmd is not None else command.script
    return LibraryInput(command.name, text or "", timeout_sec=command.timeout_sec, tags=command.tags or [])


def _save(ctx: Context, kind: str, uid: str | None) -> Response:
    _allowed(ctx, kind)
    data = _input(ctx, kind)
    saved = ctx.services.library.save(ctx.me, kind, data, uid)
    return render.ok(item(saved), 201 if uid is None else 200)


def _delete(ctx: Context, kind: str) -> Response:
    _allowed(ctx, kind)
    ctx.services.library.delete(ctx.me, kind, str(ctx.path_params["id"]))
    return render.empty(204)


@route("GET", "/library/scripts")
def scripts_list(ctx: Context) -> Response:
    return _list(ctx, SCRIPT)


@route("POST", "/library/scripts")
def scripts_create(ctx: Context) -> Response:
    return _save(ctx, SCRIPT, None)


@route("GET", "/library/scripts/{id}")
def scripts_get(ctx: Context) -> Response:
    return _get(ctx, SCRIPT)


@route("PUT", "/library/scripts/{id}")
def scripts_update(ctx: Context) -> Response:
    return _save(ctx, SCRIPT, str(ctx.path_params["id"]))


@route("DELETE", "/library/scripts/{id}")
def scripts_delete(ctx: Context) -> Response:
    return _delete(ctx, SCRIPT)


@route("GET", "/library/commands")
def commands_list(ctx: Context) -> Response:
    return _list(ctx, COMMAND)


@route("POST", "/library/commands")
def commands_create(ctx: Context) -> Response:
    return _save(ctx, COMMAND, None)


@route("GET", "/library/commands/{id}")
def commands_get(ctx: Context) -> Response:
    return _get(ctx, COMMAND)


@route("PUT", "/library/commands/{id}")
def commands_update(ctx: Context) -> Response:
    return _save(ctx, COMMAND, str(ctx.path_params["id"]))


@route("DELETE", "/library/commands/{id}")
def commands_delete(ctx: Context) -> Response:
    return _delete(ctx, COMMAND)
