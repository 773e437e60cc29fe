"""One tunnel stream's pump, the same at both ends (the server's listener and the agent).

A stream joins a local TCP socket (``reader``/``writer``) to the peer over the agent's
WebSocket. Two rules keep memory bounded whatever the speeds on either side:

- **Frames are small.** A read from the socket is at most ``frame`` bytes (``TUNNEL_FRAME``,
  32 KiB, in JSON; ``binary.MAX_DATA``, 128 KiB, as binary frames), one ``TunnelData`` frame.
- **Credit.** A sender never has more than the receiver's window unacknowledged. The receiver
  queues what arrives, writes it to its socket, waits for the socket to drain and only then
  acknowledges (``TunnelAck``), which gives the sender that much credit back. A receiver whose
  socket is slow therefore stops its sender within one window, and a peer that sends beyond its
  credit (a bug, or a forged frame) ends the stream. So one stream holds at most a window in
  each direction, and one fast sender cannot fill either side's memory.
- **Few acks.** Everything queued is written at once and drained once; the acknowledgement
  covers all of it, and is held back while more is queued until a quarter of the window is
  owed. It is never held when the queue is empty, so a sender waiting for credit always gets it
  (and a lone small frame, an interactive keystroke, is acknowledged at once).

Closing: a socket at EOF (or failing) sends ``TunnelClose``; the receiver of a close writes
what it has queued and then closes its socket. Uses only asyncio (the agent stays light).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable

from fleetdeck.protocol import messages as m

Send = Callable[[m.Message], Awaitable[None]]


class StreamPump:
    def __init__(
        self,
        stream: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        send: Send,
        *,
        window: int = m.TUNNEL_WINDOW,
        peer_window: int = m.TUNNEL_WINDOW,
        on_activity: Callable[[], None] | None = None,
        frame: int = m.TUNNEL_FRAME,
    ) -> None:
        self.stream = stream
        self._reader = reader
        self._writer = writer
        self._send = send
        self._window = window  # what this end takes unacknowledged
        self._frame = frame  # the largest data frame this end sends
        self._ack_every = max(1, window // 4)  # owed acks held back while more is queued
        self._credit = peer_window  # what this end may still send
        self._credit_event = asyncio.Event()
        self._inbox: deque[bytes] = deque()
        self._inbox_bytes = 0
        self._inbox_event = asyncio.Event()
        self._peer_closed = False
        self._closed = False
        self._on_activity = on_activity
        self.last_activity = time.monotonic()
        self.bytes_in = 0  # from the peer, written to the socket
        self.bytes_out = 0  # read from the socket, sent to the peer
        self.done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ from the peer

    def feed(self, data: bytes) -> bool:
        """A ``TunnelData`` frame arrived. False (and the stream ends) when the peer sent more
        than its credit: the caller need not do more."""
        if self._closed:
            return False
        if self._inbox_bytes + len(data) > self._window:
            self._fail("the peer sent beyond its window")
            return False
        self._inbox.append(data)
        self._inbox_bytes += len(data)
        self._inbox_event.set()
        return True

    def ack(self, size: int) -> None:
        if size > 0:
            self._credit += size
            self._credit_event.set()

    def peer_closed(self) -> None:
        """The peer closed: write what is queued, then close the socket."""
        self._peer_closed = True
        self._inbox_event.set()

    # ------------------------------------------------------------ running

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._upstream()), asyncio.create_task(self._downstream())]

    def close(self) -> None:
        """End the stream now (tunnel deleted, connection to the agent lost); the peer is not told."""
        self._finish()

    def _touch(self) -> None:
        self.last_activity = time.monotonic()
        if self._on_activity is not None:
            self._on_activity()

    async def _upstream(self) -> None:
        """Socket -> peer, within the credit."""
        error = ""
        try:
            while not self._closed:
                while self._credit <= 0:
                    self._credit_event.clear()
                    await self._credit_event.wait()
                data = await self._reader.read(min(self._frame, self._credit))
                if not data:
                    break
                self._credit -= len(data)
                self.bytes_out += len(data)
                self._touch()
                await self._send(m.TunnelData(stream=self.stream, data=data))
        except (OSError, asyncio.IncompleteReadError) as exc:
            error = str(exc) or type(exc).__name__
        if not self._closed:
            with contextlib.suppress(Exception):
                await self._send(m.TunnelClose(stream=self.stream, error=error))
            # The peer's data still queued is written before the socket closes (its close
            # frame, or ours being answered, ends the other direction).
            self._peer_closed = True
            self._inbox_event.set()

    async def _downstream(self) -> None:
        """Peer -> socket, acknowledging what the socket took."""
        owed = 0  # written and drained, not acknowledged yet
        try:
            while True:
                while not self._inbox:
                    if self._peer_closed:
                        return
                    self._inbox_event.clear()
                    await self._inbox_event.wait()
                batch = list(self._inbox)
                self._inbox.clear()
                size = sum(map(len, batch))
                self._writer.writelines(batch)
                await self._writer.drain()
                self._inbox_bytes -= size
                self.bytes_in += size
                owed += size
                self._touch()
                if not self._peer_closed and (owed >= self._ack_every or not self._inbox):
                    await self._send(m.TunnelAck(stream=self.stream, size=owed))
                    owed = 0
        except OSError:
            return
        finally:
            self._finish()

    def fail(self, why: str) -> None:
        """End the stream because of the peer (a frame it should not have sent): the peer is
        told why (``TunnelClose``)."""
        if not self._closed:
            self._fail(why)

    def _fail(self, why: str) -> None:
        task = asyncio.ensure_future(self._send(m.TunnelClose(stream=self.stream, error=why)))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        self._finish()

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            self._writer.close()
        self.done.set()
