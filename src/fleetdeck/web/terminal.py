"""A terminal on a computer in the browser: the page (xterm.js) and its WebSocket.

``GET /computers/{id}/terminal`` shows the page to users who may open one (core
``terminals.check``). The page's script opens ``/computers/{id}/terminal/ws`` on the same
origin; the socket is accepted only with the web session's cookie, the session's CSRF token in
the query string and an ``Origin`` naming this server (a page of another site cannot open it
with the user's cookie). Core then allows the session (``terminals.open``: permission, reach,
caps, audit) and the relay (``core.ports.TerminalRelay``, the agent hub of this process) opens
it on the agent.

On the socket, binary messages are terminal bytes both ways; text messages are JSON: from the
browser ``{"resize": [cols, rows]}``; to it ``{"opened": hostname}``, ``{"exit": code}`` and
``{"error": message}`` (then the socket closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import FleetdeckError, NotFound
from fleetdeck.core.ports import TerminalChannel, TerminalRelay
from fleetdeck.core.terminals import TerminalGrant
from fleetdeck.web.app import Call, LoginRequired, WebUI
from fleetdeck.web.sessions import same_token

log = logging.getLogger("fleetdeck.web")

CLOSE_REFUSED = 4403  # no session, bad CSRF token or Origin, or core said no
CLOSE_FAILED = 4500  # the agent could not open it
MAX_CONTROL = 256  # bytes of a text (control) message from the browser


def _size(text: str, default: int) -> int:
    return int(text) if text.isdigit() and 0 < len(text) < 5 and 0 < int(text) <= 1000 else default


def same_origin(conn: HTTPConnection, public_url: str | None) -> bool:
    """The request's Origin names this server: the host it was sent to, or the public URL's."""
    origin = conn.headers.get("origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    allowed = {conn.headers.get("host", "")}
    if public_url:
        allowed.add(urlsplit(public_url).netloc)
    return parts.netloc in allowed


def routes(ui: WebUI, relay: TerminalRelay) -> list[Route | WebSocketRoute]:
    services = ui.services

    def page(call: Call) -> Response:
        computer_id = call.path_id("computer_id")
        hostname = services.terminals.check(call.user.actor, computer_id)
        return ui.render(call, "terminal.html", computer_id=computer_id, hostname=hostname)

    async def socket(ws: WebSocket) -> None:
        computer_id = ws.path_params["computer_id"]
        cols, rows = _size(ws.query_params.get("cols", ""), 80), _size(ws.query_params.get("rows", ""), 24)
        if not same_origin(ws, ui.public_url):
            await ws.close(CLOSE_REFUSED, "cross-origin")
            return
        try:
            caller = await run_in_threadpool(ui.caller, ws)
        except LoginRequired:
            await ws.close(CLOSE_REFUSED, "log in first")
            return
        if not same_token(caller.session.csrf, ws.query_params.get("csrf")):
            await ws.close(CLOSE_REFUSED, "no valid CSRF token")
            return
        await ws.accept()
        actor = caller.actor
        try:
            if not isinstance(computer_id, int) or not 0 < computer_id < 2**63:
                raise NotFound("computer", computer_id)
            grant = await run_in_threadpool(services.terminals.open, actor, computer_id, cols=cols, rows=rows)
        except FleetdeckError as exc:
            await _refuse(ws, CLOSE_REFUSED, exc.message)
            return
        started = time.monotonic()
        counts = [0, 0]  # bytes in, bytes out
        channel: TerminalChannel | None = None
        reason, exit_code = "closed by the browser", None
        try:
            try:
                channel = await relay.open_terminal(computer_id, grant.session_id, cols, rows)
            except FleetdeckError as exc:
                reason = exc.message
                await _refuse(ws, CLOSE_FAILED, exc.message)
                return
            await ws.send_text(json.dumps({"opened": grant.hostname}))
            reason, exit_code = await _relay(ws, channel, counts)
        finally:
            if channel is not None:
                await channel.close()
            await run_in_threadpool(
                _closed, ui, actor, grant, exit_code, reason, time.monotonic() - started, counts
            )

    return [
        Route("/computers/{computer_id:int}/terminal", ui.endpoint(page)),
        WebSocketRoute("/computers/{computer_id:int}/terminal/ws", socket),
    ]


def _closed(
    ui: WebUI,
    actor: Actor,
    grant: TerminalGrant,
    exit_code: int | None,
    reason: str,
    seconds: float,
    counts: list[int],
) -> None:
    ui.services.terminals.close(
        actor,
        grant,
        exit_code=exit_code,
        reason=reason,
        seconds=seconds,
        bytes_in=counts[0],
        bytes_out=counts[1],
    )


async def _refuse(ws: WebSocket, code: int, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"error": message}))
        await ws.close(code, message[:120])


async def _relay(ws: WebSocket, channel: TerminalChannel, counts: list[int]) -> tuple[str, int | None]:
    """Pump both ways until either side ends; returns why, and the shell's exit code."""

    async def out() -> None:
        while (data := await channel.read()) is not None:
            counts[1] += len(data)
            await ws.send_bytes(data)  # waits for a slow browser: the channel's window fills up

    async def into() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                counts[0] += len(data)
                await channel.write(data)
                continue
            text = message.get("text") or ""
            if len(text) > MAX_CONTROL:
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
                control = json.loads(text)
                if isinstance(control, dict) and "resize" in control:
                    cols, rows = control["resize"]
                    if isinstance(cols, int) and isinstance(rows, int):
                        await channel.resize(cols, rows)
                elif isinstance(control, dict) and "data" in control and isinstance(control["data"], str):
                    encoded = control["data"].encode()
                    counts[0] += len(encoded)
                    await channel.write(encoded)

    output, reader = asyncio.create_task(out()), asyncio.create_task(into())
    done, _ = await asyncio.wait({output, reader}, return_when=asyncio.FIRST_COMPLETED)
    for task in (output, reader):
        if task not in done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
            await task
    if output in done or channel.reason:  # the session ended on the agent (first)
        with contextlib.suppress(Exception):
            if channel.reason == "exited":
                await ws.send_text(json.dumps({"exit": channel.exit_code}))
            else:
                await ws.send_text(json.dumps({"error": channel.reason}))
            await ws.close(1000)
        return channel.reason, channel.exit_code
    return "closed by the browser", None
