"""rportd's file uploads: ``POST /files`` (multipart) pushes a file to clients through core's file
push (``core/jobs/files.py``): the server keeps it and each client's agent fetches it and writes
it to ``dest`` with the requested mode, owner and group (``force``: overwrite; ``sync``: only
when it differs). The answer comes at once, ``{uuid, filepath, size}``; delivery is a job per
client. Needs the ``uploads`` permission.

``group_id`` (repeatable) targets the members of client groups, as core decides them in the
transaction that makes the jobs (an unknown group, or groups without members, is a 400).
``tags`` (one JSON ``{"tags": [...], "operator": "AND"|"OR"}``) targets the clients having
those tags, exactly as commands do (``commands.tag_target``); not with ids or groups.

``/ws/uploads`` (``ws.py`` authenticates; the ``uploads`` permission): every upload result of
every client the caller may see, ``{client_id, uuid, filepath, size, message, status}``, as each
``file_put`` job ends, followed through core's ``JobWatch.finals`` (no polling); rportd, too,
broadcasts to every open socket and ignores what the client sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response
from starlette.websockets import WebSocket

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.methods.commands import TagsBody, tag_target
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.core.authz import Actor
from fleetdeck.core.computers.entities import ComputerRow
from fleetdeck.core.jobs.entities import FILE_PUT_KIND, FINAL, JobInfo, JobStatus, TagTarget
from fleetdeck.core.jobs.files import IGNORED, BadDestination, FilePutRequest
from fleetdeck.core.ports import JobWatch
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.services import Services

FIELDS = {"upload", "client_id", "group_id", "tags", "dest", "force", "sync", "mode", "user", "group", "id"}
TRUE = {"true", "1", "on", "yes", "t"}
FALSE = {"false", "0", "off", "no", "f", ""}
MAX_GROUPS = 100  # client groups one push may target (their rules become one SQL condition)
WAIT_SEC = 30.0  # /ws/uploads: one wait for final jobs (then simply another)
MAX_READ = 500  # /ws/uploads: final jobs read at once


def _flag(form: Any, name: str) -> bool:
    value = str(form.get(name) or "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise RportError(400, f"invalid {name} value {value!r}: true or false")


def _text(form: Any, name: str) -> str:
    values = form.getlist(name)
    if len(values) > 1:
        raise RportError(400, f"{name} given more than once")
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise RportError(400, f"{name} must be a text field")
    return value.strip()


def _values(form: Any, name: str) -> list[str]:
    """A repeatable text field's values, trimmed, blanks dropped, each once (first place kept)."""
    values = [str(v).strip() for v in form.getlist(name) if not isinstance(v, UploadFile)]
    return list(dict.fromkeys(v for v in values if v))


def _tags(raw: str, client_ids: list[str], group_ids: list[str]) -> TagTarget | None:
    """The ``tags`` field, one JSON ``{tags, operator}`` (strict, as rportd decodes it)."""
    if not raw:
        return None
    try:
        body = msgspec.json.decode(raw, type=TagsBody)
    except msgspec.ValidationError as exc:
        raise RportError(400, "Invalid JSON data.", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise RportError(400, "Invalid JSON data.", str(exc)) from None
    return tag_target(client_ids or None, group_ids or None, body)


@route("POST", "/files")
def files_post(ctx: Context) -> Response:
    form = ctx.form
    if not ctx.me.can(render.PERMISSIONS["uploads"]):
        raise RportError(403, 'user does not have "uploads" permission')
    unknown = sorted(set(form.keys()) - FIELDS)
    if unknown:
        raise RportError(400, f"unknown form field {unknown[0]!r}")
    upload = form.get("upload")
    if not isinstance(upload, UploadFile):
        raise RportError(400, "missing file in the 'upload' field")
    client_ids = _values(form, "client_id")
    group_ids = _values(form, "group_id")
    tags = _tags(_text(form, "tags"), client_ids, group_ids)
    if not client_ids and not group_ids and tags is None:
        raise RportError(400, "at least 1 client should be specified")
    if len(group_ids) > MAX_GROUPS:
        raise RportError(400, f"at most {MAX_GROUPS} groups may be given")
    request = FilePutRequest(
        dest=_text(form, "dest"),
        mode=_text(form, "mode"),
        user=_text(form, "user"),
        group=_text(form, "group"),
        force=_flag(form, "force"),
        sync=_flag(form, "sync"),
        filename=upload.filename or "",
    )
    try:
        pushed = ctx.services.file_pushes.push(
            ctx.me, upload.file, request, computer_uids=client_ids, rule_groups=group_ids, tags=tags
        )
    except BadDestination as exc:
        raise RportError(400, exc.message, code="BAD_DESTINATION") from None
    return render.ok({"uuid": pushed.uuid, "filepath": pushed.dest, "size": pushed.size})


# ---------------------------------------------------------------- /ws/uploads


def upload_result(info: JobInfo, client: ComputerRow | None) -> dict[str, Any]:
    """rportd's upload result of one client: ``success`` (written, or only chmod/chown'ed),
    ``ignored`` (left as it was: the agent's message starts with ``ignored:``), else ``error``
    with why (the agent's message, or why the job never ran: expired, cancelled)."""
    spec = info.spec
    if info.status is JobStatus.SUCCEEDED:
        ignored = info.message.startswith(IGNORED)
        state, message = ("ignored", info.message[len(IGNORED) :]) if ignored else ("success", info.stdout)
    else:
        state, message = "error", info.message or f"the upload {info.status.value}"
    return {
        "client_id": client.uid if client else "",
        "uuid": str(spec.get("upload", "")),
        "filepath": str(spec.get("dest", "")),
        "size": int(spec.get("size", 0) or 0),
        "message": message,
        "status": state,
    }


def _results(services: Services, actor: Actor, job_ids: list[int]) -> list[dict[str, Any]]:
    """The upload results among the final jobs ``job_ids`` the actor may see (two reads)."""
    page = services.jobs.find(
        actor,
        Query(
            where=(Cond("id", Op.IN, job_ids), Cond("kind", Op.EQ, FILE_PUT_KIND)),
            sort=(SortKey("id"),),
            limit=len(job_ids),
        ),
    )
    done = [j for j in page.items if j.status in FINAL]
    ids = sorted({j.computer_id for j in done})
    clients = services.computers.find_detailed(actor, Query(where=(Cond("id", Op.IN, ids),), limit=len(ids)))
    by_id = {row.id: row for row in clients.items} if ids else {}
    return [upload_result(j, by_id.get(j.computer_id)) for j in done]


async def upload_progress(websocket: WebSocket, services: Services, watch: JobWatch, actor: Actor) -> None:
    """rportd's ``/ws/uploads``: every upload result of every client the caller may see, as
    each job ends (core's ``JobWatch.finals``), until the client goes; what the client sends
    is read and ignored, as rportd does."""

    async def listen() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    async def forward() -> None:
        async with watch.finals() as feed:
            while True:
                ids = await feed.finished(WAIT_SEC)
                for start in range(0, len(ids), MAX_READ):
                    part = ids[start : start + MAX_READ]
                    for result in await run_in_threadpool(_results, services, actor, part):
                        await websocket.send_json(result)

    leaving = asyncio.ensure_future(listen())
    following = asyncio.ensure_future(forward())
    try:
        await asyncio.wait({leaving, following}, return_when=asyncio.FIRST_COMPLETED)
        if following.done():
            following.result()
    finally:
        leaving.cancel()
        following.cancel()
