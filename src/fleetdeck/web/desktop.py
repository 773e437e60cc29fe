"""A computer's desktop in the browser: the page (noVNC) and its WebSocket, a bridge between the
browser's RFB and a stream the agent dials to the computer's VNC server (websockify's job, done
by the server itself over the agent's connection: no port is opened anywhere).

``GET /computers/{id}/desktop[?port=5900]`` shows the page to users who may view the desktop
(core ``desktops.check``). Its script opens ``/computers/{id}/desktop/ws`` on the same origin,
accepted with the web session's cookie, its CSRF token in the query string and an ``Origin``
naming this server (as the terminal's socket), or, instead of the session, a one-time link's
token (``?link=``, from RemotePC's "Get Web Viewer Connection URL"), used up by that socket.
Core then allows the view (``desktops.open``: permission, reach, caps, audit) and the agent's
process opens the stream (``core.ports.StreamOpener``).

On the socket, binary messages are RFB bytes both ways, nothing else (noVNC speaks RFB over it
as over websockify). Why it ended is the close frame's code and reason: 4403 refused, 4500 the
agent could not connect, 4408 idle for ``desktops.idle_timeout_sec``, 1000 the VNC server closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fleetdeck.core.authz import Actor
from fleetdeck.core.desktops import DEFAULT_PORT, VNC_HOST, DesktopGrant
from fleetdeck.core.errors import FleetdeckError, NotFound, ValidationFailed
from fleetdeck.core.ports import StreamChannel, StreamOpener
from fleetdeck.web.app import Call, LoginRequired, WebUI
from fleetdeck.web.sessions import same_token
from fleetdeck.web.terminal import CLOSE_FAILED, CLOSE_REFUSED, same_origin

log = logging.getLogger("fleetdeck.web")

CLOSE_IDLE = 4408
MAX_MESSAGE = 256 * 1024  # bytes of one message from the browser (RFB client messages are small)


def _port(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_PORT
    if not text.isdigit() or len(text) > 5 or not 0 < int(text) < 65536:
        raise ValidationFailed(f"port {text[:20]!r} is not a TCP port (1-65535)", "port")
    return int(text)


def routes(ui: WebUI, opener: StreamOpener) -> list[Route | WebSocketRoute]:
    services = ui.services

    def page(call: Call) -> Response:
        request = call.request
        computer_id = request.path_params["computer_id"]
        link = request.query_params.get("link")
        if link:
            found = services.desktops.peek_link(link, computer_id)
            if found is None:
                raise NotFound("desktop link", "(used, expired or unknown)")
            viewer, port = found
            hostname = services.desktops.check(viewer, computer_id)
            return ui.render(
                call, "desktop.html", computer_id=computer_id, hostname=hostname, port=port, link=link
            )
        caller = ui.caller(request)
        call = Call(request, None, caller)
        port = _port(request.query_params.get("port"))
        hostname = services.desktops.check(caller.actor, computer_id)
        return ui.render(call, "desktop.html", computer_id=computer_id, hostname=hostname, port=port, link="")

    async def who(ws: WebSocket, computer_id: int) -> tuple[Actor, int] | str:
        """The socket's user and port, or why it is refused."""
        if not same_origin(ws, ui.public_url):
            return "cross-origin"
        link = ws.query_params.get("link")
        if link:
            found = await run_in_threadpool(services.desktops.redeem, link, computer_id)
            return found if found is not None else "the link was used already, expired or is unknown"
        try:
            caller = await run_in_threadpool(ui.caller, ws)
        except LoginRequired:
            return "log in first"
        if not same_token(caller.session.csrf, ws.query_params.get("csrf")):
            return "no valid CSRF token"
        try:
            return caller.actor, _port(ws.query_params.get("port"))
        except ValidationFailed as exc:
            return exc.message

    async def socket(ws: WebSocket) -> None:
        computer_id = ws.path_params["computer_id"]
        found = await who(ws, computer_id)
        if isinstance(found, str):
            await ws.close(CLOSE_REFUSED, found)
            return
        actor, port = found
        await ws.accept()
        try:
            if not isinstance(computer_id, int) or not 0 < computer_id < 2**63:
                raise NotFound("computer", computer_id)
            grant = await run_in_threadpool(services.desktops.open, actor, computer_id, port)
        except FleetdeckError as exc:
            await _close(ws, CLOSE_REFUSED, exc.message)
            return
        started = time.monotonic()
        counts = [0, 0]  # bytes from the browser, bytes to it
        reason = "closed by the browser"
        channel: StreamChannel | None = None
        try:
            try:
                channel = await opener.open_stream(computer_id, VNC_HOST, grant.port)
            except FleetdeckError as exc:
                reason = exc.message
                await _close(ws, CLOSE_FAILED, exc.message)
                return
            reason = await _bridge(ws, channel, counts, services.desktops.idle_timeout_sec)
        finally:
            if channel is not None:
                await channel.close()
            await run_in_threadpool(_closed, ui, actor, grant, reason, time.monotonic() - started, counts)

    return [
        Route("/computers/{computer_id:int}/desktop", ui.endpoint(page, login=False)),
        WebSocketRoute("/computers/{computer_id:int}/desktop/ws", socket),
    ]


def _closed(
    ui: WebUI, actor: Actor, grant: DesktopGrant, reason: str, seconds: float, counts: list[int]
) -> None:
    ui.services.desktops.close(
        actor, grant, reason=reason, seconds=seconds, bytes_in=counts[0], bytes_out=counts[1]
    )


async def _close(ws: WebSocket, code: int, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code, message.encode()[:120].decode(errors="ignore"))


async def _bridge(ws: WebSocket, channel: StreamChannel, counts: list[int], idle_sec: float) -> str:
    """Pump both ways until either side ends or nothing moved for ``idle_sec``; returns why."""
    last = [time.monotonic()]
    why: list[str] = []

    async def out() -> None:
        while (data := await channel.read()) is not None:
            counts[1] += len(data)
            last[0] = time.monotonic()
            await ws.send_bytes(data)  # waits for a slow browser; the stream's window holds the agent
        why.append(f"the VNC server closed ({channel.reason})" if channel.reason else "the VNC server closed")

    async def into() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                why.append("closed by the browser")
                return
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            if len(data) > MAX_MESSAGE:
                why.append(f"a message of more than {MAX_MESSAGE} bytes from the browser")
                return
            counts[0] += len(data)
            last[0] = time.monotonic()
            await channel.write(data)

    async def idle() -> None:
        while True:  # a deadline that moves with every byte: a sleep per check, no event per byte
            left = last[0] + idle_sec - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 5.0))
        why.append(f"idle for {idle_sec:g} seconds")

    tasks = [asyncio.create_task(t) for t in (out(), into(), idle())]
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task not in done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
            await task
    reason = why[0] if why else "ended"
    if tasks[2] in done:
        await _close(ws, CLOSE_IDLE, reason)
    elif tasks[0] in done:
        await _close(ws, 1000, reason)
    elif not reason.startswith("closed by"):
        await _close(ws, 1009, reason)
    return reason
