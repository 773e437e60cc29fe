"""UDP tunnels' datagrams over the agent's connection, the same at both ends.

A UDP tunnel has no streams: the server's UDP port receives datagrams from any number of
sources, and each source address is a **flow** (``UdpOpen(flow, host, port)`` to the agent,
which opens a UDP socket connected to the target for it, so the target's replies come back on
that socket and go to the flow's source). Datagrams travel as ``UdpData(flow, data)``, one
datagram a frame, both ways.

UDP may lose datagrams, and so may a tunnel: nothing is acknowledged or resent. What keeps memory
bounded is :class:`Outbox`, the queue of frames one end has for its peer: at most ``limit`` bytes
of datagrams wait for the WebSocket; a datagram beyond that is dropped (counted in ``dropped``),
as a full router queue would. Frames that open or close flows are never dropped (there are at
most as many as flows, which both ends bound). Uses only asyncio (the agent stays light).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

Send = Callable[[m.Message], Awaitable[object]]

OUTBOX_BYTES = 1024 * 1024  # datagram bytes one outbox holds for a slow WebSocket


class Outbox:
    """Frames for the peer, sent in order by one task; datagrams beyond ``limit`` queued bytes
    are dropped and counted."""

    def __init__(self, send: Send, limit: int = OUTBOX_BYTES) -> None:
        self._send = send
        self._limit = limit
        self._queue: deque[tuple[m.Message, int]] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set while nothing waits to be sent
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0  # datagrams not sent: the queue was full
        self.sent = 0  # datagrams handed to the WebSocket

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def data(self, flow: int, data: bytes) -> bool:
        """Queue a datagram of ``flow``; False (and counted) when the queue is full."""
        if self._closed:
            return False
        if self._bytes + len(data) > self._limit:
            self.dropped += 1
            return False
        self._put(m.UdpData(flow=flow, data=data), len(data))
        return True

    def control(self, msg: m.UdpOpen | m.UdpClose) -> None:
        """Queue a frame that opens or closes a flow (never dropped)."""
        if not self._closed:
            self._put(msg, 0)

    def _put(self, msg: m.Message, size: int) -> None:
        self._queue.append((msg, size))
        self._bytes += size
        self._drained.clear()
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while True:  # until close() cancels it
            if not self._queue:
                self._drained.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            msg, size = self._queue.popleft()
            try:
                await self._send(msg)
            except Exception as exc:  # the connection is gone: its owner cleans up
                log.debug("sending a %s frame failed: %s", type(msg).__name__, exc)
            finally:
                if not self._closed:
                    self._bytes -= size
            if size:
                self.sent += 1

    async def flush(self, timeout: float = 1.0) -> None:
        """Wait (a little) for what is queued to be sent (before a close, in tests)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._drained.wait()

    def close(self) -> None:
        """Stop sending; what is queued is dropped."""
        self._closed = True
        self._queue.clear()
        self._bytes = 0
        self._wake.set()
        self._drained.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
