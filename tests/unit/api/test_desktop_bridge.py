"""The desktop view's bridge (``web.desktop._bridge``) between a browser's WebSocket and the
bridge's end of a stream (``api.agent.tunnels.SocketChannel`` over a real socket pair, standing
for the agent's stream): bytes both ways, the idle timeout, an oversized browser message, and
the VNC server closing. The browser's socket is a small stand-in with Starlette's methods; the
whole path through a real agent is tests/e2e/test_desktop_e2e.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from fleetdeck.api.agent.tunnels import SocketChannel
from fleetdeck.web.desktop import CLOSE_IDLE, MAX_MESSAGE, _bridge


class Browser:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")


async def _pair() -> tuple[SocketChannel, asyncio.StreamReader, asyncio.StreamWriter]:
    near, far = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=near)
    channel = SocketChannel(*await asyncio.open_connection(sock=far))
    return channel, reader, writer


async def _done(channel: SocketChannel, writer: asyncio.StreamWriter) -> None:
    """What the socket handler does after the bridge: close the channel (and here the far end)."""
    await channel.close()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def test_bytes_both_ways_then_idle() -> None:
    async def run() -> None:
        channel, vnc_reader, vnc_writer = await _pair()
        browser = Browser()
        counts = [0, 0]
        task = asyncio.create_task(_bridge(browser, channel, counts, 0.5))  # type: ignore[arg-type]
        vnc_writer.write(b"RFB 003.008\n")
        await vnc_writer.drain()
        await browser.inbox.put({"type": "websocket.receive", "bytes": b"RFB 003.008\n"})
        assert await vnc_reader.readexactly(12) == b"RFB 003.008\n"
        reason = await asyncio.wait_for(task, 10)
        assert reason == "idle for 0.5 seconds"
        assert browser.closed == (CLOSE_IDLE, reason)
        assert b"".join(browser.sent) == b"RFB 003.008\n" and counts == [12, 12]
        await _done(channel, vnc_writer)

    asyncio.run(run())


def test_oversized_message_and_server_close() -> None:
    async def run() -> None:
        channel, _reader, vnc_writer = await _pair()
        browser = Browser()
        task = asyncio.create_task(_bridge(browser, channel, [0, 0], 30))  # type: ignore[arg-type]
        await browser.inbox.put({"type": "websocket.receive", "bytes": b"x" * (MAX_MESSAGE + 1)})
        reason = await asyncio.wait_for(task, 10)
        assert reason == f"a message of more than {MAX_MESSAGE} bytes from the browser"
        assert browser.closed is not None and browser.closed[0] == 1009
        await _done(channel, vnc_writer)

        channel, _reader, vnc_writer = await _pair()
        browser = Browser()
        task = asyncio.create_task(_bridge(browser, channel, [0, 0], 30))  # type: ignore[arg-type]
        vnc_writer.close()  # the VNC server hangs up
        reason = await asyncio.wait_for(task, 10)
        assert reason.startswith("the VNC server closed") and browser.closed is not None
        assert browser.closed[0] == 1000
        await _done(channel, vnc_writer)

    asyncio.run(run())
