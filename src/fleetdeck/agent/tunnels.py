"""The agent's end of tunnels: dial the target the server names, and pump the stream.

The server accepts a connection on a tunnel's port and sends ``TunnelOpen(stream, host, port)``;
the agent connects (``asyncio.open_connection``, within ``CONNECT_TIMEOUT_SEC``), answers
``TunnelOpened`` and carries the bytes both ways with ``protocol.streams.StreamPump`` (bounded
frames, credit per stream). Streams live as long as the WebSocket they came on: a new session
starts with none. Nothing here is imported beyond asyncio and the protocol package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fleetdeck.protocol import messages as m
from fleetdeck.protocol.binary import StreamFault
from fleetdeck.protocol.streams import Send, StreamPump

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SEC = 10.0
MAX_STREAMS = 64  # open at once; more are refused (at most 64 x 2 windows of memory)


class Tunnels:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._streams: dict[int, StreamPump] = {}
        self._opening: dict[int, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.frame = m.TUNNEL_FRAME  # the largest data frame to send (binary frames: larger)

    def fault(self, fault: StreamFault) -> None:
        """A binary frame from the server that could not be taken: its stream ends (the server
        is told why); one too short to name a stream is dropped. The connection goes on."""
        log.warning("tunnel stream %s: bad frame from the server: %s", fault.stream, fault.error)
        pump = self._streams.get(fault.stream) if fault.stream is not None else None
        if pump is not None:
            pump.fail(fault.error)
        elif fault.stream is not None and fault.stream in self._opening:
            self._opening[fault.stream].cancel()

    def handle(self, msg: m.TunnelOpen | m.TunnelData | m.TunnelAck | m.TunnelClose) -> None:
        """Called from the receive loop; never waits."""
        if isinstance(msg, m.TunnelOpen):
            if msg.stream in self._streams or msg.stream in self._opening:
                return
            if len(self._streams) + len(self._opening) >= MAX_STREAMS:
                self._soon(m.TunnelOpened(stream=msg.stream, ok=False, error="too many open streams"))
                return
            self._opening[msg.stream] = asyncio.create_task(self._open(msg))
            return
        pump = self._streams.get(msg.stream)
        if pump is None:
            if isinstance(msg, m.TunnelClose) and msg.stream in self._opening:
                self._opening[msg.stream].cancel()
            return  # a stream that ended already: late frames are dropped
        if isinstance(msg, m.TunnelData):
            pump.feed(msg.data)
        elif isinstance(msg, m.TunnelAck):
            pump.ack(msg.size)
        else:
            pump.peer_closed()

    async def _open(self, msg: m.TunnelOpen) -> None:
        try:
            await self._dial(msg)
        finally:
            self._opening.pop(msg.stream, None)

    async def _dial(self, msg: m.TunnelOpen) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(msg.host, msg.port), CONNECT_TIMEOUT_SEC
            )
        except (OSError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
            log.info("tunnel stream %s: cannot connect to %s:%s: %s", msg.stream, msg.host, msg.port, error)
            await self._send(m.TunnelOpened(stream=msg.stream, ok=False, error=error))
            return
        pump = StreamPump(msg.stream, reader, writer, self._send, peer_window=msg.window, frame=self.frame)
        self._streams[msg.stream] = pump
        self._opening.pop(msg.stream, None)
        await self._send(m.TunnelOpened(stream=msg.stream))
        pump.start()
        try:
            await pump.done.wait()
        finally:
            self._streams.pop(msg.stream, None)

    def _soon(self, msg: m.Message) -> None:
        async def send() -> None:
            with contextlib.suppress(Exception):
                await self._send(msg)

        self._background.add(task := asyncio.create_task(send()))
        task.add_done_callback(self._background.discard)

    def close_all(self) -> None:
        """The session ended: every stream with it (the server's ends are gone too)."""
        for task in list(self._opening.values()):
            task.cancel()
        for pump in list(self._streams.values()):
            pump.close()
        self._streams.clear()


async def check(body: dict[str, Any]) -> dict[str, Any]:
    """``TUNNEL_CHECK``: can this machine connect to ``host:port`` now?"""
    host, port = str(body.get("host", "")), int(body.get("port", 0))
    timeout = min(float(body.get("timeout", 2.0)), 10.0)
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        return {"open": False, "error": str(exc) or type(exc).__name__}
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return {"open": True}
