"""rportd's websockets ``/ws/commands`` and ``/ws/scripts``: a multi-client run, streamed; and
``/ws/uploads``, every upload result as agents report them (``methods/uploads.py``).

Authentication before the upgrade, as rportd: ``?access_token=<jwt>`` (browsers cannot set
headers on a websocket) or HTTP Basic (password or API token; a ``read`` token is refused);
neither is an HTTP 401 ``token required``; the route's permission is a 403. Then the client sends
exactly one JSON text message, the body of ``POST /commands`` (or ``/scripts``), decoded as
strictly. The server answers with partial output ``{jid, client_id, client_name,
result:{stdout|stderr}}`` (chunks of at most 4096 bytes) as agents send it, one full Job per
client when it is final, then closes. An error is ``{"errors":[...]}`` then close. A message
from the client (rportd's UI "stop following") or its leaving ends the stream; the jobs go on.
Output is followed through core's JobWatch port (``bus/watch.py``), which also replays what a job
printed before its feed was subscribed; a sequential run that aborts closes after the failed
job (the clients never reached get no message, as in rportd).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fleetdeck.api.dialects.rport.envelope import VIA, _basic, session_of, stage_of
from fleetdeck.api.dialects.rport.errors import SCOPE_REFUSED, RportError, error_response, render
from fleetdeck.api.dialects.rport.methods.commands import (
    MAX_CHUNK,
    Started,
    aborted,
    decode_run,
    job,
    require,
    start_multi,
)
from fleetdeck.api.dialects.rport.methods.uploads import upload_progress
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FleetdeckError
from fleetdeck.core.jobs.entities import FINAL, JobInfo
from fleetdeck.core.ports import JobWatch
from fleetdeck.core.services import Services

log = logging.getLogger("fleetdeck.api")
PATHS = ("/ws/commands", "/ws/scripts", "/ws/uploads")  # below the prefix; GET (the upgrade)
MAX_MESSAGE = 64 * 1024 + 1024  # the run body: a command or script of core's maximum size


def _actor(deps: DialectDeps, websocket: WebSocket) -> Actor:
    """Who calls: Basic first, then ``?access_token=``; raises rportd's 401/403."""
    source = websocket.client.host if websocket.client else ""
    basic = _basic(websocket.headers.get("authorization", ""))
    if basic is not None:
        actor = deps.credentials.authenticate_basic(deps.services.users, basic[0], basic[1], source, VIA)
        if actor.token_scope in ("read", "credentials"):
            raise RportError(401, SCOPE_REFUSED)
        return actor
    token = websocket.query_params.get("access_token") or ""
    if not token:
        raise RportError(401, "token required")
    if stage_of(deps, token) != "":
        raise RportError(401, "unauthorized")
    return session_of(deps, token, source, "")[0]


def routes(deps: DialectDeps, prefix: str) -> list[WebSocketRoute]:
    def endpoint(script: bool) -> Any:
        async def handle(websocket: WebSocket) -> None:
            try:
                actor = await run_in_threadpool(_checked, deps, websocket, script)
            except (RportError, FleetdeckError) as exc:
                await _refuse(websocket, exc)
                return
            await websocket.accept()
            with contextlib.suppress(WebSocketDisconnect):
                await _serve(websocket, deps, actor, script)

        return handle

    async def uploads(websocket: WebSocket) -> None:
        try:
            actor = await run_in_threadpool(_uploader, deps, websocket)
        except (RportError, FleetdeckError) as exc:
            await _refuse(websocket, exc)
            return
        assert deps.watch is not None
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            await upload_progress(websocket, deps.services, deps.watch, actor)

    return [
        WebSocketRoute(prefix + PATHS[0], endpoint(False)),
        WebSocketRoute(prefix + PATHS[1], endpoint(True)),
        WebSocketRoute(prefix + PATHS[2], uploads),
    ]


async def _refuse(websocket: WebSocket, exc: RportError | FleetdeckError) -> None:
    """rportd's HTTP error instead of the upgrade."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(render(exc))
    else:  # a server without denial responses: refuse the upgrade
        await websocket.close(1008)


def _uploader(deps: DialectDeps, websocket: WebSocket) -> Actor:
    actor = _actor(deps, websocket)
    if not actor.can(Perm.UPLOAD_FILES):
        raise RportError(403, 'user does not have "uploads" permission')
    if deps.watch is None:
        raise RportError(501, "not implemented", "this server cannot follow jobs (no message bus)")
    return actor


def _checked(deps: DialectDeps, websocket: WebSocket, script: bool) -> Actor:
    actor = _actor(deps, websocket)
    require(actor, script)
    return actor


async def _send_error(websocket: WebSocket, exc: BaseException) -> None:
    response = (
        render(exc) if isinstance(exc, RportError | FleetdeckError) else error_response(500, "internal error")
    )
    await websocket.send_text(bytes(response.body).decode())
    await websocket.close()


async def _serve(websocket: WebSocket, deps: DialectDeps, actor: Actor, script: bool) -> None:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return
    raw = message.get("text") or message.get("bytes") or ""
    body = raw.encode() if isinstance(raw, str) else bytes(raw)
    services, watch = deps.services, deps.watch
    try:
        if len(body) > MAX_MESSAGE:
            raise RportError(400, "message too large")
        if watch is None:
            raise RportError(501, "not implemented", "this server cannot follow jobs (no message bus)")
        started = await run_in_threadpool(_start, services, actor, body, script)
    except (RportError, FleetdeckError) as exc:
        await _send_error(websocket, exc)
        return
    following = asyncio.ensure_future(_stream(websocket, services, watch, actor, started))
    leaving = asyncio.ensure_future(websocket.receive())
    try:
        await asyncio.wait({following, leaving}, return_when=asyncio.FIRST_COMPLETED)
        if following.done():
            following.result()
        await websocket.close()
    except FleetdeckError as exc:
        log.info("rport job stream %s ended: %s", started.batch_id, exc.message)
        with contextlib.suppress(Exception):
            await _send_error(websocket, exc)
    except RuntimeError:
        pass  # the client went while we were sending
    finally:
        following.cancel()
        leaving.cancel()


def _start(services: Services, actor: Actor, body: bytes, script: bool) -> Started:
    return start_multi(services, actor, decode_run(body, script, multi=True), script)


async def _stream(
    websocket: WebSocket, services: Services, watch: JobWatch, actor: Actor, started: Started
) -> None:
    """Every job followed at once; the socket closes when each has sent its final message (or
    the run aborted: its remaining jobs are failed as aborted and say nothing)."""
    send = asyncio.Lock()

    async def emit(data: dict[str, Any]) -> None:
        async with send:
            await websocket.send_json(data)

    async def follow(job_id: int) -> None:
        async def get() -> JobInfo:
            return await run_in_threadpool(services.jobs.get, actor, job_id)

        async def final() -> bool:
            return (await get()).status in FINAL

        async with watch.follow(job_id) as feed:
            first = await get()
            client = started.clients.get(first.computer_id)
            head = {
                "jid": str(job_id),
                "client_id": client.uid if client else "",
                "client_name": client.hostname if client else "",
            }
            if first.status not in FINAL:
                async for out in feed.outputs(final):
                    data = out.data.encode()
                    for i in range(0, len(data), MAX_CHUNK):
                        chunk = data[i : i + MAX_CHUNK].decode(errors="replace")
                        await emit({**head, "result": {out.stream: chunk}})
            info = await get()
            if not aborted(info):
                await emit(job(info, client))

    await asyncio.gather(*(follow(jid) for jid in started.job_ids))
