"""rportd's schedules (``/schedules``, ``/schedules/{id}``) over core's schedules
(``core/jobs/schedules.py``). rportd's routes and answers: the list with its
page/sort/filter/fields rules (20 a page, 100 at most), ``POST`` 201 with the schedule, ``PUT``
a whole replacement 200, ``DELETE`` 204, an unknown id 404. Schedules need the ``scheduler``
permission, a command schedule the ``commands`` permission too and a script schedule the
``scripts`` permission as well; what to run is checked as ``POST /commands`` and ``/scripts``
check it (scripts in base64, rportd's interpreters, ``is_sudo`` through ``sudo -n`` on the agent). Each tick
starts a multi-client job as the schedule's creator: ``GET /commands?filter[schedule_id]=<id>``
lists a schedule's runs, and their jobs carry its id. ``catch_up`` is this server's own field (a
client offline at the tick runs the missed run when it is back, until the next tick). Not
implemented (400): ``filter[client_ids]`` and ``filter[group_ids]``. Every change is in the
audit log as application ``schedule``. Each call makes at most one core change; a list reads a
constant number of statements whatever its size.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.filters import time_condition
from fleetdeck.api.dialects.rport.methods.commands import (
    DEFAULT_TIMEOUT,
    RunBody,
    clients_by_id,
    clients_by_uid,
    request_of,
    require,
    summary,
)
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import SCHEDULES, SYNTAX, ScheduleBody
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.computers.entities import ComputerRow
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.jobs.schedules import COMMAND, SCRIPT, ScheduleInput, ScheduleItem

_TEXT_OPS = {q.Op.EQ: q.Op.IEQ, q.Op.IN: q.Op.IIN}
_UNDONE = {JobStatus.QUEUED.value, JobStatus.SENT.value, JobStatus.RUNNING.value}
# the agents' interpreters -> rportd's names, to show a schedule back
_RPORT_INTERPRETER = {
    "": "",
    "sh": "/bin/sh",
    "bash": "/bin/bash",
    "zsh": "/bin/zsh",
    "cmd": "cmd",
    "powershell": "powershell",
}


def _last(item: ScheduleItem) -> dict[str, Any] | None:
    last = item.last_run
    if last is None:
        return None
    out: dict[str, Any] = {
        "started_at": render.time(last.started_at),
        "client_count": last.client_count,
        "success_count": last.success_count,
    }
    if last.client_count == 1:  # rportd: status and summary of one-client runs only
        [status] = last.statuses
        done = status not in _UNDONE
        out["status"] = (
            "successful" if status == JobStatus.SUCCEEDED.value else "running" if not done else "failed"
        )
        out["summary"] = summary(last.output or "")
    return out


def schedule(item: ScheduleItem, clients: dict[int, ComputerRow]) -> dict[str, Any]:
    data = item.data
    script = data.kind == SCRIPT
    return {
        "id": item.id,
        "created_at": render.time(item.created_at),
        "created_by": item.created_by,
        "name": data.name,
        "schedule": data.cron,
        "type": data.kind,
        "client_ids": [clients[c].uid for c in data.computer_ids if c in clients],
        "group_ids": list(data.group_keys),
        "tags": {"tags": list(data.tags), "operator": data.tag_operator.upper()} if data.tags else None,
        "command": "" if script else data.content,
        "script": base64.b64encode(data.content.encode()).decode() if script else "",
        "interpreter": _RPORT_INTERPRETER.get(data.interpreter, data.interpreter),
        "cwd": data.cwd,
        "is_sudo": data.sudo,
        "timeout_sec": data.timeout_sec,
        "execute_concurrently": data.concurrent,
        "abort_on_error": data.abort_on_error,
        "overlaps": data.overlaps,
        "catch_up": data.catch_up,
        "last_execution": _last(item),
    }


def _clients(ctx: Context, items: Sequence[ScheduleItem]) -> dict[int, ComputerRow]:
    return clients_by_id(ctx.services, ctx.me, (c for i in items for c in i.data.computer_ids))


def _input(ctx: Context) -> ScheduleInput:
    body = ctx.decode(ScheduleBody)
    if not body.name.strip():
        raise RportError(400, "Missing required field: name.")
    if not body.schedule.strip():
        raise RportError(400, "Missing required field: schedule.")
    if body.type not in (COMMAND, SCRIPT):
        raise RportError(400, "Invalid type, expected one of: command, script.")
    script = body.type == SCRIPT
    if (body.script if not script else body.command) not in (None, ""):
        raise RportError(400, f"A {body.type} schedule takes '{body.type}' only.")
    require(ctx.me, script)
    run = RunBody(
        command=body.command,
        script=body.script,
        interpreter=body.interpreter,
        cwd=body.cwd,
        is_sudo=body.is_sudo,
        timeout_sec=body.timeout_sec,
    )
    request = request_of(run, script, multi=False)  # rportd's checks of what to run
    ids = list(dict.fromkeys(body.client_ids or []))
    tags = body.tags.tags if body.tags is not None else None
    operator = (body.tags.operator if body.tags is not None else None) or "OR"
    if operator.upper() not in ("AND", "OR"):
        raise RportError(400, "Invalid tags operator, expected one of: AND, OR.")
    if not ids and not body.group_ids and not tags:
        raise RportError(400, "At least 1 client should be specified.")
    found = clients_by_uid(ctx.services, ctx.me, ids)
    missing = [uid for uid in ids if uid not in found]
    if missing:
        raise RportError(400, f"Client with id={missing[0]} not found.")
    return ScheduleInput(
        name=body.name,
        cron=body.schedule,
        kind=body.type,
        content=request.command,
        interpreter=request.interpreter or "",
        cwd=request.cwd or "",
        sudo=request.sudo,
        timeout_sec=request.timeout_sec or DEFAULT_TIMEOUT,
        concurrent=bool(body.execute_concurrently),
        abort_on_error=bool(body.abort_on_error),
        overlaps=bool(body.overlaps),
        catch_up=bool(body.catch_up),
        computer_ids=[found[uid].id for uid in ids],
        group_keys=list(body.group_ids or []),
        tags=list(tags or []),
        tag_operator=operator.lower(),
    )


def _translate(expr: q.Expr) -> q.Expr:
    return listing.map_conds(expr, _translate_cond)


def _translate_cond(expr: q.Cond) -> q.Expr:
    if expr.field == "created_at":
        return time_condition("created_at", expr)
    field = "uid" if expr.field == "id" else expr.field  # rportd's id is the uuid
    return q.Cond(field, _TEXT_OPS.get(expr.op, expr.op), expr.value)


def _allowed(ctx: Context) -> None:
    if not ctx.me.can(render.PERMISSIONS["scheduler"]):
        raise RportError(403, 'user does not have "scheduler" permission')


@route("GET", "/schedules")
def schedules_list(ctx: Context) -> Response:
    _allowed(ctx)
    for name, _ in ctx.params:
        if name in ("filter[client_ids]", "filter[group_ids]"):
            raise RportError(400, "not implemented", f"{name} is not implemented by this server")
    request = listing.parse(ctx.params, SCHEDULES, SYNTAX)
    query = request.query
    page = ctx.services.schedules.find(
        ctx.me,
        q.Query(
            where=tuple(_translate(e) for e in query.where),
            sort=(
                *(q.SortKey("uid" if k.field == "id" else k.field, k.descending) for k in query.sort),
                q.SortKey("id"),
            ),
            limit=query.limit,
            offset=query.offset,
        ),
    )
    clients = _clients(ctx, page.items)
    fields = request.fields["schedules"]
    rows = [{k: v for k, v in schedule(i, clients).items() if k in fields} for i in page.items]
    return render.ok(rows, meta={"count": page.total})


@route("POST", "/schedules")
def schedules_create(ctx: Context) -> Response:
    _allowed(ctx)
    saved = ctx.services.schedules.save(ctx.me, _input(ctx))
    return render.ok(schedule(saved, _clients(ctx, [saved])), 201)


@route("GET", "/schedules/{id}")
def schedules_get(ctx: Context) -> Response:
    _allowed(ctx)
    item = ctx.services.schedules.get(ctx.me, str(ctx.path_params["id"]))
    return render.ok(schedule(item, _clients(ctx, [item])))


@route("PUT", "/schedules/{id}")
def schedules_update(ctx: Context) -> Response:
    _allowed(ctx)
    saved = ctx.services.schedules.save(ctx.me, _input(ctx), str(ctx.path_params["id"]))
    return render.ok(schedule(saved, _clients(ctx, [saved])))


@route("DELETE", "/schedules/{id}")
def schedules_delete(ctx: Context) -> Response:
    _allowed(ctx)
    ctx.services.schedules.delete(ctx.me, str(ctx.path_params["id"]))
    return render.empty(204)
