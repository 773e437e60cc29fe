"""``/jobs/{job_id}/stream``: a job's live output over a WebSocket.

Messages (JSON text frames)::

    {"type": "job", "job": {...}}                         first, and again when the job is final
    {"type": "output", "stream": "stdout", "data": "..."} output as the agent sends it

The socket closes with 1000 after the final job message (1001 if the server shuts down first);
4401 if authentication fails, 4403 if the caller may not read jobs, 4404 for an unknown job and
4429 if the caller has :data:`MAX_STREAMS_PER_CALLER` streams open already (each holds a socket
and a subscription: a caller may not open thousands; the CLI follows 64 jobs at a time).
Browsers cannot set headers on a WebSocket, so besides ``Authorization`` the token may come as
``?token=``. Following the job is core's ``JobWatch`` port (``bus/watch.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from fleetdeck.api.kit.concurrency import PerCaller, TooMany
from fleetdeck.api.v1.deps import authenticate, get_services, get_watch, source_of
from fleetdeck.api.v1.schemas.common import IdPath
from fleetdeck.api.v1.schemas.jobs import JobOut
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed, FleetdeckError, NotFound, PermissionDenied
from fleetdeck.core.jobs.entities import FINAL, JobInfo
from fleetdeck.core.ports import JobFeed
from fleetdeck.core.services import Services

log = logging.getLogger("fleetdeck.api")
router = APIRouter(tags=["jobs"])

NORMAL, GOING_AWAY, AUTH_FAILED, FORBIDDEN, NOT_FOUND, TOO_MANY = 1000, 1001, 4401, 4403, 4404, 4429
# Streams one caller may have open at once, in one server process (two CLI runs' worth).
MAX_STREAMS_PER_CALLER = 128


def _job_message(job: JobInfo) -> dict[str, Any]:
    return {"type": "job", "job": JobOut.of(job).model_dump(mode="json")}


@router.websocket("/jobs/{job_id}/stream")
async def stream_job(websocket: WebSocket, job_id: IdPath, token: str | None = None) -> None:
    services, watch = get_services(websocket), get_watch(websocket)
    await websocket.accept()
    header = websocket.headers.get("authorization") or (f"Bearer {token}" if token else None)
    try:
        actor = await run_in_threadpool(authenticate, services, header, source_of(websocket))
    except AuthenticationFailed as exc:
        await websocket.close(AUTH_FAILED, exc.message[:100])
        return
    streams: PerCaller = websocket.app.state.job_streams
    try:
        with streams.slot(actor.username):
            # Subscribed before the first read: a status change in between would otherwise be lost.
            async with watch.follow(job_id) as feed:
                await _follow(websocket, services, actor, job_id, feed)
    except TooMany as exc:
        await websocket.close(TOO_MANY, f"at most {exc.limit} job streams at once per caller")
    except WebSocketDisconnect:
        pass


async def _get(services: Services, actor: Actor, job_id: int) -> JobInfo:
    return await run_in_threadpool(services.jobs.get, actor, job_id)


async def _follow(websocket: WebSocket, services: Services, actor: Actor, job_id: int, feed: JobFeed) -> None:
    try:
        job = await _get(services, actor, job_id)
    except (NotFound, PermissionDenied) as exc:
        await websocket.close(NOT_FOUND if isinstance(exc, NotFound) else FORBIDDEN, exc.message[:100])
        return
    await websocket.send_json(_job_message(job))
    if job.status in FINAL:
        await websocket.close(NORMAL)
        return

    async def still_final() -> bool:
        return (await _get(services, actor, job_id)).status in FINAL

    async def relay() -> None:
        async for out in feed.outputs(still_final):
            await websocket.send_json({"type": "output", "stream": out.stream, "data": out.data})

    relaying = asyncio.ensure_future(relay())
    leaving = asyncio.ensure_future(_until_disconnect(websocket))
    try:
        await asyncio.wait({relaying, leaving}, return_when=asyncio.FIRST_COMPLETED)
        if not relaying.done():
            return  # the viewer left
        relaying.result()
        await websocket.send_json(_job_message(await _get(services, actor, job_id)))
        await websocket.close(GOING_AWAY if feed.going_away else NORMAL)
    except FleetdeckError as exc:
        log.info("job stream %s ended: %s", job_id, exc.message)
        with contextlib.suppress(Exception):
            await websocket.close(1011, exc.message[:100])
    finally:
        relaying.cancel()
        leaving.cancel()


async def _until_disconnect(websocket: WebSocket) -> None:
    """Client messages are ignored; returns when the client goes."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
