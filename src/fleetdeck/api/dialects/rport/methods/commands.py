"""rportd's commands, scripts and jobs over core's command jobs (``core/jobs``).

A job's ``jid`` is core's job id and a multi-client job's ``jid`` its batch id (as text: rportd
writes UUIDs, its clients only pass them back). A script is decoded from base64 and run by the
agent through the interpreter like a command (``CommandRequest.is_script``: the scripts
permission). Sequential multi-client runs, with abort on error, are core's ``RunOrder``. What
the request said in rportd's words (targets, flags, the interpreter asked for) is kept in the
job's ``origin`` and shown back. Each call makes at most one core change; lists read a constant
number of queries (jobs or batches: a count and a select; their clients: a count and a select).

Client groups (``group_ids``) target their members as core decides them when the jobs are made;
explicit client ids come first, then the groups' members. ``tags`` (``{tags, operator}``, not
with ids or groups) target the clients having every tag (AND) or any (OR), exact text,
connected or not, as core picks them in the jobs' transaction (``TagTarget``). ``is_sudo``: the
agent runs the command through ``sudo -n``; a refusal fails the job with sudo's words. Not
implemented (400s titled "not implemented"): interpreters the agent has not (``tacoscript``,
paths).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import msgspec
from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.envelope import is_admin
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import JOB_FIELDS, JOBS, MULTI_JOBS, SYNTAX, Strict
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.computers.entities import ComputerRow
from fleetdeck.core.errors import NotFound
from fleetdeck.core.jobs.entities import (
    ABORTED_CODE,
    BatchInfo,
    CommandRequest,
    JobInfo,
    JobStatus,
    RunOrder,
    TagTarget,
)
from fleetdeck.core.jobs.schedules import RUN_NAME as SCHEDULE_RUN
from fleetdeck.core.services import Services

DEFAULT_TIMEOUT = 60  # rportd's server.run_remote_cmd_timeout_sec
SINGLE = "rport job"  # JobBatch.name of a one-client run
MAX_GROUPS = 100  # client groups one run may target (each is one read before the run)
MAX_TAGS = 100  # tags one run or push may target (each one EXISTS in the targets' statement)
TARGETS_MISSING = "please specify targeting options, such as client ids, groups ids or tags"
TARGETS_MANY = "multiple targeting options are not supported. Please specify only one"
MULTI = "rport multi-client job"  # JobBatch.name of a multi-client run (GET /commands lists these)
MULTI_NAMES = [MULTI, SCHEDULE_RUN]  # a schedule's tick is a multi-client run too
MAX_CHUNK = 4096  # bytes of output per websocket message, as rportd
MAX_CHILD_JOBS = 100  # GET /commands/{jid} shows at most this many jobs
STATUS = {
    JobStatus.QUEUED: "running",
    JobStatus.SENT: "running",
    JobStatus.RUNNING: "running",
    JobStatus.SUCCEEDED: "successful",
    JobStatus.TIMEOUT: "unknown",  # rportd stops watching; the process may go on
}
CORE_STATUSES = {
    "running": ["queued", "sent", "running"],
    "successful": ["succeeded"],
    "unknown": ["timeout"],
    "failed": ["failed", "cancelled", "expired", "skipped"],
}
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.S)
# the interpreters rportd names -> the agent's; commands take fewer than scripts
COMMAND_INTERPRETERS: dict[str, str | None] = {"": None, "cmd": "cmd", "powershell": "powershell"}
SCRIPT_INTERPRETERS: dict[str, str | None] = {
    **COMMAND_INTERPRETERS,
    "sh": "sh",
    "/bin/sh": "sh",
    "bash": "bash",
    "/bin/bash": "bash",
    "zsh": "zsh",  # macOS's shell; agents without zsh fail the job at delivery, saying so
    "/bin/zsh": "zsh",
}


class TagsBody(Strict):
    tags: list[str] | None = None
    operator: str | None = None


class RunBody(Strict):
    """One body for every run: one client (``/clients/{id}/commands|scripts``) or many
    (``/commands``, ``/scripts``, the websockets); which fields a route takes is checked there."""

    command: str | None = None
    script: str | None = None
    interpreter: str | None = None
    cwd: str | None = None
    is_sudo: bool | None = None
    timeout_sec: int | None = None
    client_ids: list[str] | None = None
    group_ids: list[str] | None = None
    tags: TagsBody | None = None
    execute_concurrently: bool | None = None
    abort_on_error: bool | None = None


_COMMON = ("interpreter", "cwd", "is_sudo", "timeout_sec")
_TARGETS = ("client_ids", "group_ids", "tags", "execute_concurrently", "abort_on_error")


def _fields(name: str, text: str, multi: bool) -> type[Strict]:
    """The fields of ``RunBody`` one route takes, as a strict struct of its own."""
    types = {f.name: f.type for f in msgspec.structs.fields(RunBody)}
    wanted = (text, *_COMMON, *(_TARGETS if multi else ()))
    made = msgspec.defstruct(name, [(n, types[n], None) for n in wanted], bases=(Strict,))
    return cast(type[Strict], made)


_BODIES: dict[tuple[bool, bool], type[Strict]] = {
    (script, multi): _fields("RunFields", "script" if script else "command", multi)
    for script in (False, True)
    for multi in (False, True)
}


def decode_run(raw: bytes, script: bool, multi: bool) -> RunBody:
    """The body strictly with the fields of its route (an unknown one is rportd's 400)."""
    from fleetdeck.api.dialects.rport.envelope import decode_body

    fields = decode_body(raw, _BODIES[(script, multi)])
    return msgspec.convert(msgspec.to_builtins(fields), RunBody)


def require(actor: Actor, script: bool) -> None:
    """rportd's function permission of the route: ``commands`` or ``scripts``."""
    perm, name = (Perm.RUN_SCRIPTS, "scripts") if script else (Perm.RUN_COMMANDS, "commands")
    if not actor.can(perm):
        raise RportError(403, f'user does not have "{name}" permission')


def _text(body: RunBody, script: bool) -> str:
    if not script:
        if not (body.command or "").strip():
            raise RportError(400, "Command cannot be empty.")
        return body.command or ""
    if not (body.script or "").strip():
        raise RportError(400, "Missing required field: script.")
    try:
        text = base64.b64decode(body.script or "", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RportError(400, "failed to decode script payload from base64", "script") from None
    if not text.strip():
        raise RportError(400, "Empty script is not allowed.")
    return text


def request_of(body: RunBody, script: bool, multi: bool) -> CommandRequest:
    """Core's request for a run, or rportd's 400 (titled "not implemented" for what is not built)."""
    interpreter = body.interpreter or ""
    known = SCRIPT_INTERPRETERS if script else COMMAND_INTERPRETERS
    if interpreter not in known:
        if not script:
            raise RportError(400, f"invalid interpreter '{interpreter}': expected one of cmd, powershell")
        raise RportError(
            400, "not implemented", f"interpreter '{interpreter}' is not supported by this server"
        )
    timeout = body.timeout_sec if body.timeout_sec else DEFAULT_TIMEOUT
    if timeout < 0:
        raise RportError(400, "timeout_sec must be a positive number")
    origin: dict[str, Any] = {"interpreter": interpreter}
    if multi:
        origin.update(
            client_ids=list(body.client_ids or []),
            group_ids=list(body.group_ids or []),
            concurrent=bool(body.execute_concurrently),
            abort_on_err=body.abort_on_error is not False,
        )
        if body.tags is not None:
            origin["tags"] = {"tags": list(body.tags.tags or []), "operator": body.tags.operator or ""}
    return CommandRequest(
        command=_text(body, script),
        interpreter=known[interpreter],
        cwd=body.cwd or None,
        timeout_sec=timeout,
        origin=origin,
        is_script=script,
        sudo=bool(body.is_sudo),
    )


def clients_by_uid(services: Services, actor: Actor, uids: Iterable[str]) -> dict[str, ComputerRow]:
    wanted = list(dict.fromkeys(uids))
    if not wanted:
        return {}
    page = services.computers.find_detailed(
        actor, q.Query(where=(q.Cond("uid", q.Op.IN, wanted),), limit=len(wanted))
    )
    return {row.uid: row for row in page.items}


def clients_by_id(services: Services, actor: Actor, ids: Iterable[int]) -> dict[int, ComputerRow]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    page = services.computers.find_detailed(
        actor, q.Query(where=(q.Cond("id", q.Op.IN, wanted),), limit=len(wanted))
    )
    return {row.id: row for row in page.items}


@dataclass(frozen=True)
class Started:
    batch_id: int
    job_ids: list[int]
    clients: dict[int, ComputerRow]  # computer id -> client, for the jobs' messages


def start_multi(services: Services, actor: Actor, body: RunBody, script: bool) -> Started:
    """A multi-client run (``POST /commands|/scripts`` and the websockets): one core call.
    Explicit clients and client groups are read first (names for the messages, rportd's 404
    and 400s); clients targeted by tags are read after core picked them."""
    require(actor, script)
    tags = tag_target(body.client_ids, body.group_ids, body.tags)
    targets = _targets(services, actor, body) if tags is None else None
    request = request_of(body, script, multi=True)
    order = RunOrder(
        sequential=not body.execute_concurrently, abort_on_error=body.abort_on_error is not False
    )
    # an offline client's job gives up after the timeout (once per client when they take turns)
    turns = _turns(services, actor, targets, tags) if order.sequential else 1
    # group members and tagged clients are decided again by core, in the jobs' transaction
    created = services.jobs.create_commands(
        actor,
        request,
        computer_ids=targets.computer_ids if targets else (),
        rule_groups=targets.groups if targets else (),
        tags=tags,
        expires_in=timedelta(seconds=request.timeout_sec * turns),
        order=order,
        name=MULTI,
    )
    if targets is not None:
        return Started(created.batch_id, created.job_ids, targets.clients)
    page = services.jobs.find(
        actor,
        q.Query(where=(q.Cond("batch_id", q.Op.EQ, created.batch_id),), limit=max(1, len(created.job_ids))),
    )
    clients = clients_by_id(services, actor, (j.computer_id for j in page.items))
    return Started(created.batch_id, created.job_ids, clients)


@dataclass(frozen=True)
class _Targets:
    computer_ids: list[int]  # the explicit clients, in the order given
    groups: list[str]  # client group keys
    clients: dict[int, ComputerRow]  # every target known now, by computer id
    count: int


def _targets(services: Services, actor: Actor, body: RunBody) -> _Targets:
    """Explicit clients and client groups, checked as rportd does."""
    ids = list(dict.fromkeys(body.client_ids or []))
    groups = list(dict.fromkeys(body.group_ids or []))
    if not ids and not groups:
        raise RportError(400, "At least 1 client should be specified.")
    if len(groups) > MAX_GROUPS:
        raise RportError(400, f"At most {MAX_GROUPS} groups may be given.")
    members = group_members(services, actor, groups)  # their names for the messages, and a count
    found = clients_by_uid(services, actor, [*ids, *members])
    missing = [uid for uid in ids if uid not in found]
    if missing:
        raise RportError(404, f"Client with id={missing[0]} not found.")
    count = len(dict.fromkeys([*ids, *members]))
    if not count:
        raise RportError(400, "The given groups have no clients.")
    return _Targets([found[uid].id for uid in ids], groups, {row.id: row for row in found.values()}, count)


def _turns(services: Services, actor: Actor, targets: _Targets | None, tags: TagTarget | None) -> int:
    if targets is not None or tags is None:
        return targets.count if targets else 1
    some = q.Cond("tags", q.Op.IIN, list(tags.tags))  # any of them: at least as many
    return max(1, services.computers.find_detailed(actor, q.Query(where=(some,), limit=1)).total)


def tag_target(ids: list[str] | None, groups: list[str] | None, tags: TagsBody | None) -> TagTarget | None:
    """rportd's targeting checks, and the tags asked for as core's ``TagTarget`` (None: ids or
    groups target). ``operator`` AND (any case) wants every tag, anything else any of them."""
    if ids is None and groups is None and tags is None:
        raise RportError(400, "Missing targeting parameters.", TARGETS_MISSING)
    if tags is None:
        return None
    if ids is not None or groups is not None:
        raise RportError(400, "Multiple targeting parameters.", TARGETS_MANY)
    wanted = list(dict.fromkeys(tags.tags or []))
    if not wanted:
        raise RportError(400, "No tags specified.", "please specify tags in the tags list")
    if len(wanted) > MAX_TAGS:
        raise RportError(400, f"At most {MAX_TAGS} tags may be given.")
    return TagTarget(tuple(wanted), match_all=(tags.operator or "").upper() == "AND")


def group_members(services: Services, actor: Actor, keys: list[str]) -> list[str]:
    """The client ids of the client groups ``keys`` (rportd: an unknown group is a 400)."""
    members: list[str] = []
    for key in keys:
        try:
            info = services.rule_groups.get(actor, key)
        except NotFound:
            raise RportError(400, f"Unknown group with id={key!r}.") from None
        members.extend(uid for uid, _online in info.members)
    return members


# ---------------------------------------------------------------- rendering


def summary(stdout: str) -> str:
    match = _SUMMARY.search(stdout)
    return match.group(1).strip() if match else ""


def status(info: JobInfo) -> str:
    return STATUS.get(info.status, "failed")


def job(info: JobInfo, client: ComputerRow | None) -> dict[str, Any]:
    """Every field of rportd's Job (``multi_job_id`` for a job of a multi-client run)."""
    spec, final = info.spec, status(info) != "running"
    origin = spec.get("origin") or {}
    # why it did not run (never started, aborted, the agent failed); a non-zero exit is no error
    error = info.message if status(info) == "failed" and (info.exit_code or -1) < 0 else ""
    return {
        "jid": str(info.id),
        "status": status(info),
        "finished_at": render.time(info.finished_at) if final else None,
        "client_id": client.uid if client else "",
        "client_name": client.hostname if client else "",
        "command": spec.get("command", ""),
        "cwd": spec.get("cwd", ""),
        "interpreter": origin.get("interpreter", spec.get("interpreter", "")),
        "pid": 0,
        "started_at": render.time(info.started_at or info.created_at),
        "created_by": info.created_by,
        "timeout_sec": spec.get("timeout_sec", DEFAULT_TIMEOUT),
        "multi_job_id": str(info.batch_id) if "client_ids" in origin or "schedule" in origin else None,
        "schedule_id": origin.get("schedule"),
        "error": error,
        "result": {"stdout": info.stdout, "stderr": info.stderr, "summary": summary(info.stdout)},
        "is_sudo": bool(spec.get("sudo")),
        "is_script": bool(spec.get("is_script")),
    }


def aborted(info: JobInfo) -> bool:
    return info.exit_code == ABORTED_CODE


def _pick(data: dict[str, Any], fields: Sequence[str], result: Sequence[str]) -> dict[str, Any]:
    """The fields asked for; ``result`` always, with the ``fields[result]`` asked for (rportd's
    default is the summary only)."""
    out = {name: data[name] for name in fields if name != "result"}
    out["result"] = {k: data["result"][k] for k in result}
    return out


def multi_job(batch: BatchInfo, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    spec = batch.spec
    origin = spec.get("origin") or {}
    return {
        "jid": str(batch.id),
        "started_at": render.time(batch.created_at),
        "created_by": batch.created_by,
        "schedule_id": origin.get("schedule"),
        "client_ids": origin.get("client_ids", []),
        "group_ids": origin.get("group_ids", []),
        "tags": origin.get("tags"),
        "command": spec.get("command", ""),
        "cwd": spec.get("cwd", ""),
        "interpreter": origin.get("interpreter", ""),
        "timeout_sec": spec.get("timeout_sec", DEFAULT_TIMEOUT),
        "concurrent": bool(origin.get("concurrent")),
        "abort_on_err": bool(origin.get("abort_on_err")),
        "is_sudo": bool(spec.get("sudo")),
        "is_script": bool(spec.get("is_script")),
        "jobs": jobs,
    }


# ---------------------------------------------------------------- lists


def _job_ids(value: Any) -> Any:
    def one(v: Any) -> int:
        return int(v) if str(v).isdigit() and len(str(v)) < 19 else -1

    return [one(v) for v in value] if isinstance(value, list) else one(value)


def _translate(expr: q.Expr) -> q.Expr:
    """A condition on rportd's job fields as one on core's."""
    return listing.map_conds(expr, _translate_cond)


def _translate_cond(expr: q.Cond) -> q.Expr:
    target = JOB_FIELDS[expr.field]
    if expr.field == "status":
        wanted = expr.value if isinstance(expr.value, list) else [expr.value]
        names = [n for n in CORE_STATUSES for w in wanted if fnmatch.fnmatch(n, str(w).lower())]
        return q.Cond("status", q.Op.IN, [s for n in dict.fromkeys(names) for s in CORE_STATUSES[n]])
    if target in ("id", "batch_id"):
        if expr.op is q.Op.LIKE:
            raise RportError(400, f"wildcards are not supported for filter[{expr.field}]")
        return q.Cond(target, expr.op, _job_ids(expr.value))
    return q.Cond(target, expr.op, expr.value)


def job_page(ctx: Context, where: tuple[q.Expr, ...]) -> Response:
    """A page of jobs in rportd's shape, sparse fields honoured; four queries whatever the size."""
    request = listing.parse(ctx.params, JOBS, SYNTAX)
    query = request.query
    sort = tuple(q.SortKey(JOB_FIELDS[k.field], k.descending) for k in query.sort)
    page = ctx.services.jobs.find(
        ctx.me,
        q.Query(
            where=(*where, *(_translate(e) for e in query.where)),
            sort=(*sort, q.SortKey("id")),
            limit=query.limit,
            offset=query.offset,
        ),
    )
    clients = clients_by_id(ctx.services, ctx.me, (j.computer_id for j in page.items))
    asked = {name for name, _ in ctx.params}
    chosen = next((res for res in ("commands", "scripts") if f"fields[{res}]" in asked), "jobs")
    fields, result = request.fields[chosen], request.fields["result"]
    rows = [_pick(job(j, clients.get(j.computer_id)), fields, result) for j in page.items]
    return render.ok(rows, meta={"count": page.total})


def _client(ctx: Context, connected: bool = False) -> ComputerRow:
    uid = str(ctx.path_params["client_id"])
    row = clients_by_uid(ctx.services, ctx.me, [uid]).get(uid)
    if row is None or (connected and not row.online):
        raise RportError(
            404,
            f"Active client with id={uid} not found." if connected else f"Client with id={uid} not found.",
        )
    return row


def _run_one(ctx: Context, script: bool) -> Response:
    require(ctx.me, script)
    body = decode_run(ctx.body, script, multi=False)
    request = request_of(body, script, multi=False)
    client = _client(ctx, connected=True)
    created = ctx.services.jobs.create_commands(ctx.me, request, computer_ids=[client.id], name=SINGLE)
    return render.ok({"jid": str(created.job_ids[0])})


def _run_many(ctx: Context, script: bool) -> Response:
    require(ctx.me, script)
    started = start_multi(ctx.services, ctx.me, decode_run(ctx.body, script, multi=True), script)
    return render.ok({"jid": str(started.batch_id)})


@route("POST", "/clients/{client_id}/commands")
def client_command(ctx: Context) -> Response:
    return _run_one(ctx, script=False)


@route("POST", "/clients/{client_id}/scripts")
def client_script(ctx: Context) -> Response:
    return _run_one(ctx, script=True)


@route("GET", "/clients/{client_id}/commands")
def client_jobs(ctx: Context) -> Response:
    """The command and script jobs of one client (its single and multi-client runs)."""
    require(ctx.me, script=False)
    client = _client(ctx)
    where: tuple[q.Expr, ...] = (
        q.Cond("computer_id", q.Op.EQ, client.id),
        q.Cond("kind", q.Op.EQ, "command"),
    )
    return job_page(ctx, where)


@route("GET", "/clients/{client_id}/commands/{job_id}")
def client_job(ctx: Context) -> Response:
    require(ctx.me, script=False)
    client = _client(ctx)
    raw = str(ctx.path_params["job_id"])
    jid = _job_ids(raw)
    page = ctx.services.jobs.find(
        ctx.me,
        q.Query(
            where=(
                q.Cond("id", q.Op.EQ, jid),
                q.Cond("computer_id", q.Op.EQ, client.id),
                q.Cond("kind", q.Op.EQ, "command"),
            ),
            limit=1,
        ),
    )
    if not page.items:
        raise RportError(404, f"Job[id={raw}] not found.")
    info = page.items[0]
    return render.ok(job(info, client))


@route("POST", "/commands")
def multi_command(ctx: Context) -> Response:
    return _run_many(ctx, script=False)


@route("POST", "/scripts")
def multi_script(ctx: Context) -> Response:
    return _run_many(ctx, script=True)


def _batch(ctx: Context) -> BatchInfo:
    raw = str(ctx.path_params["job_id"])
    found = ctx.services.jobs.find_batches(
        ctx.me,
        q.Query(where=(q.Cond("id", q.Op.EQ, _job_ids(raw)), q.Cond("name", q.Op.IN, MULTI_NAMES)), limit=1),
    )
    if not found.items:
        raise RportError(404, f"Multi-client Job[id={raw}] not found.")
    batch = found.items[0]
    if not is_admin(ctx.me) and batch.created_by != ctx.me.username:
        raise RportError(403, "forbidden", "only admins and the job's creator may see it")
    return batch


@route("GET", "/commands")
def multi_jobs(ctx: Context) -> Response:
    require(ctx.me, script=False)
    request = listing.parse(ctx.params, MULTI_JOBS, SYNTAX)
    query = request.query
    names = {
        "jid": "id",
        "started_at": "created_at",
        "created_by": "created_by",
        "schedule_id": "schedule_id",
    }

    def translate(expr: q.Cond) -> q.Expr:
        if expr.field == "jid":
            return q.Cond("id", q.Op.IN if isinstance(expr.value, list) else q.Op.EQ, _job_ids(expr.value))
        if expr.field == "schedule_id":
            return q.Cond("schedule_id", q.Op.IN, _schedule_keys(ctx, expr))
        return q.Cond(names[expr.field], expr.op, expr.value)

    page = ctx.services.jobs.find_batches(
        ctx.me,
        q.Query(
            where=(
                q.Cond("name", q.Op.IN, MULTI_NAMES),
                *(listing.map_conds(e, translate) for e in query.where),
            ),
            sort=(*(q.SortKey(names[k.field], k.descending) for k in query.sort), q.SortKey("id")),
            limit=query.limit,
            offset=query.offset,
        ),
    )
    rows = [
        {
            "jid": str(b.id),
            "started_at": render.time(b.created_at),
            "created_by": b.created_by,
            "schedule_id": (b.spec.get("origin") or {}).get("schedule"),
        }
        for b in page.items
    ]
    return render.ok(rows, meta={"count": page.total})


def _schedule_keys(ctx: Context, expr: q.Cond) -> list[int]:
    """The row ids of the schedules ``filter[schedule_id]`` names by rportd's id (one read;
    none the caller may not see: then nothing matches)."""
    if not ctx.me.can(Perm.MANAGE_SCHEDULES):
        return []
    wanted = expr.value if isinstance(expr.value, list) else [expr.value]
    op = q.Op.LIKE if expr.op is q.Op.LIKE else q.Op.IN
    found = ctx.services.schedules.find(
        ctx.me, q.Query(where=(q.Cond("uid", op, wanted if op is q.Op.IN else wanted[0]),), limit=q.MAX_LIMIT)
    )
    return [item.key for item in found.items]


@route("GET", "/commands/{job_id}")
def multi_job_get(ctx: Context) -> Response:
    require(ctx.me, script=False)
    batch = _batch(ctx)
    page = ctx.services.jobs.find(
        ctx.me,
        q.Query(
            where=(q.Cond("batch_id", q.Op.EQ, batch.id),), sort=(q.SortKey("id"),), limit=MAX_CHILD_JOBS
        ),
    )
    clients = clients_by_id(ctx.services, ctx.me, (j.computer_id for j in page.items))
    return render.ok(multi_job(batch, [job(j, clients.get(j.computer_id)) for j in page.items]))


@route("GET", "/commands/{job_id}/jobs")
def multi_job_jobs(ctx: Context) -> Response:
    require(ctx.me, script=False)
    batch = _batch(ctx)
    return job_page(ctx, (q.Cond("batch_id", q.Op.EQ, batch.id),))
