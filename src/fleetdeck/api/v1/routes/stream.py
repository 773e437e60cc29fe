"""``/jobs/{job_id}/stream``: a job's live output over a WebSocket.

Messages (JSON text frames)::

    {"type": "job", "job": {...}}                         first, and again when the job is final
    {"type": "output", "stream": "stdout", "data": "..."} output as the agent sends it

The socket closes with 1000 after the final job message (1001 if the server shuts down first);
4401 if authentication fails, 4403 if the caller may not read jobs and 4404 for an unknown job.
Browsers cannot set headers on a WebSocket, so besides ``Authorization`` the token may come as
``?token=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from fleetdeck.api.v1.deps import authenticate, get_backlog, get_bus, get_services, source_of
from fleetdeck.api.v1.schemas.common import IdPath
from fleetdeck.api.v1.schemas.jobs import JobOut
from fleetdeck.bus.base import Subscription
from fleetdeck.bus.topics import job_output_topic, job_status_topic
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed, FleetdeckError, NotFound, PermissionDenied
from fleetdeck.core.jobs.entities import FINAL, JobInfo
from fleetdeck.core.services import Services
from fleetdeck.protocol.messages import JobOutput, decode_from_agent

log = logging.getLogger("fleetdeck.api")
router = APIRouter(tags=["jobs"])

POLL_SEC = 2.0  # fallback in case a status message was missed
DRAIN_SEC = 0.05
NORMAL, GOING_AWAY, AUTH_FAILED, FORBIDDEN, NOT_FOUND = 1000, 1001, 4401, 4403, 4404


def _job_message(job: JobInfo) -> dict[str, Any]:
    return {"type": "job", "job": JobOut.of(job).model_dump(mode="json")}


def _decode_output(payload: bytes) -> JobOutput | None:
    try:
        frame = decode_from_agent(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.debug("ignoring an undecodable job output frame")
        return None
    return frame if isinstance(frame, JobOutput) else None


class _OutputSender:
    """Sends output frames once each: the backlog replay and the live feed overlap."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.sent: set[int] = set()

    async def send(self, payload: bytes) -> None:
        frame = _decode_output(payload)
        if frame is None or frame.seq in self.sent:
            return
        self.sent.add(frame.seq)
        await self.websocket.send_json({"type": "output", "stream": frame.stream, "data": frame.data})


@router.websocket("/jobs/{job_id}/stream")
async def stream_job(websocket: WebSocket, job_id: IdPath, token: str | None = None) -> None:
    services, bus = get_services(websocket), get_bus(websocket)
    await websocket.accept()
    header = websocket.headers.get("authorization") or (f"Bearer {token}" if token else None)
    try:
        actor = await run_in_threadpool(authenticate, services, header, source_of(websocket))
    except AuthenticationFailed as exc:
        await websocket.close(AUTH_FAILED, exc.message[:100])
        return
    # Subscribe before the first read: a status change between the read and the subscription
    # would otherwise be lost.
    outputs = await bus.subscribe(job_output_topic(job_id))
    statuses = await bus.subscribe(job_status_topic(job_id))
    try:
        await _follow(websocket, services, actor, job_id, subs=(outputs, statuses))
    except WebSocketDisconnect:
        pass
    finally:
        await outputs.close()
        await statuses.close()


async def _get(services: Services, actor: Actor, job_id: int) -> JobInfo:
    return await run_in_threadpool(services.jobs.get, actor, job_id)


async def _follow(
    websocket: WebSocket,
    services: Services,
    actor: Actor,
    job_id: int,
    *,
    subs: tuple[Subscription, Subscription],
) -> None:
    outputs, statuses = subs
    try:
        job = await _get(services, actor, job_id)
    except (NotFound, PermissionDenied) as exc:
        await websocket.close(NOT_FOUND if isinstance(exc, NotFound) else FORBIDDEN, exc.message[:100])
        return
    await websocket.send_json(_job_message(job))
    if job.status in FINAL:
        await websocket.close(NORMAL)
        return
    sender = _OutputSender(websocket)
    backlog = get_backlog(websocket)
    for payload in backlog.snapshot(job_id) if backlog else []:
        await sender.send(payload)  # what ran before this viewer connected
    loop = asyncio.get_running_loop()
    out_task = asyncio.ensure_future(outputs.get())
    status_task = asyncio.ensure_future(statuses.get())
    recv_task = asyncio.ensure_future(websocket.receive())
    next_poll = loop.time() + POLL_SEC
    try:
        while True:
            done, _ = await asyncio.wait(
                {out_task, status_task, recv_task},
                timeout=max(0.0, next_poll - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if recv_task in done:
                if recv_task.result()["type"] == "websocket.disconnect":
                    return
                recv_task = asyncio.ensure_future(websocket.receive())  # client messages are ignored
            if out_task in done:
                await _send_output(sender, out_task.result())
                out_task = asyncio.ensure_future(outputs.get())
            final = status_task in done
            going_away = final and status_task.result() is None  # the bus closed: server shutting down
            if not final and loop.time() >= next_poll:
                job = await _get(services, actor, job_id)
                final = job.status in FINAL
                next_poll = loop.time() + POLL_SEC
            if final:
                # Output published before the status still sits in the queue: send it first.
                while (await asyncio.wait({out_task}, timeout=DRAIN_SEC))[0]:
                    await _send_output(sender, out_task.result())
                    out_task = asyncio.ensure_future(outputs.get())
                await websocket.send_json(_job_message(await _get(services, actor, job_id)))
                await websocket.close(GOING_AWAY if going_away else NORMAL)
                return
    except FleetdeckError as exc:
        log.info("job stream %s ended: %s", job_id, exc.message)
        with contextlib.suppress(Exception):
            await websocket.close(1011, exc.message[:100])
    finally:
        for task in (out_task, status_task, recv_task):
            task.cancel()


async def _send_output(sender: _OutputSender, item: tuple[str, bytes] | None) -> None:
    if item is not None:
        await sender.send(item[1])
