"""Browser terminals relayed between server processes: the browser's socket on one process
(the viewer), the agent's connection on another (the host).

The viewer asks the host to open the session the way tunnels are opened on the process
holding the agent (``bus.tunnels``): an ``AgentGateway`` call of kind ``OPEN`` to the host's
node, which its hub answers itself once the agent has opened the PTY (or refused). From then
on the session's bytes travel on two topics, one each way (``terminal.<session>.out`` to the
viewer, ``terminal.<session>.in`` to the host), each subscribed before the other side can
publish on it:

- ordered: every frame is numbered per direction; a duplicate (a bus reconnect resends a few)
  is dropped, a gap (a message the bus lost: it is at-most-once) ends the session with a clear
  reason instead of showing a garbled screen;
- bounded and acked: at most ``TERM_WINDOW_BYTES`` of output (and of input) are on their way
  without the other side's acknowledgement, the same window as between the host and the agent
  (``TermAck``), so a browser that reads slowly holds the shell up, not either process's memory;
- alive: each side sends a ping after ``PING_SEC`` without sending anything, and ends the
  session after ``DEAD_SEC`` without hearing anything (the other process was killed), so no
  shell is left behind on the agent and no browser waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Literal

import msgspec

from fleetdeck.bus.base import Bus, Subscription
from fleetdeck.core.ports import AgentAddress, AgentGateway
from fleetdeck.protocol.messages import TERM_FRAME_BYTES, TERM_WINDOW_BYTES

OPEN = "server.terminal.open"
KINDS = frozenset({OPEN})
OPEN_TIMEOUT_SEC = 20.0  # the host waits up to 15 s for the agent's answer; the bus on top
PING_SEC = 5.0
DEAD_SEC = 20.0
ACK_EVERY = TERM_WINDOW_BYTES // 4
MAX_PENDING = 4 * (TERM_WINDOW_BYTES // 1024)  # frames a side may have unread: the window and control

Kind = Literal["data", "ack", "resize", "close", "end", "ping"]


def to_viewer(session_id: str) -> str:
    return f"terminal.{session_id}.out"


def to_host(session_id: str) -> str:
    return f"terminal.{session_id}.in"


class Frame(msgspec.Struct, array_like=True, omit_defaults=True, frozen=True):
    """``data``: terminal bytes; ``ack``: ``a`` bytes taken; ``resize``: ``a`` columns, ``b``
    rows; ``end`` (host to viewer): the session ended, ``reason`` and the shell's ``code``;
    ``close`` (viewer to host, or either on a broken relay): end it; ``ping``: still here."""

    seq: int
    kind: Kind
    data: bytes = b""
    a: int = 0
    b: int = 0
    code: int | None = None
    reason: str = ""


_decode = msgspec.msgpack.Decoder(Frame).decode
_encode = msgspec.msgpack.encode


class RelayBroken(Exception):
    """The relay cannot go on: the message says why (shown to the browser, audited)."""


class RelayLink:
    """One side of a session's relay: frames out on ``topic``, frames in from ``inbox``."""

    def __init__(self, bus: Bus, topic: str, inbox: Subscription) -> None:
        self._bus = bus
        self._topic = topic
        self._inbox = inbox
        self._next = 1
        self._seen = 0
        self._heard = self._sent = time.monotonic()

    def started(self) -> None:
        """The session is open: silence counts from now (not from before a slow opening)."""
        self._heard = time.monotonic()

    async def send(self, kind: Kind, **fields: object) -> None:
        frame = Frame(self._next, kind, **fields)  # type: ignore[arg-type]
        self._next += 1
        self._sent = time.monotonic()
        await self._bus.publish(self._topic, _encode(frame))

    async def receive(self) -> Frame:
        """The next frame, in order (pings are taken here); RelayBroken when the relay cannot
        go on."""
        while True:
            left = DEAD_SEC - (time.monotonic() - self._heard)
            item = await self._inbox.get(timeout=max(left, 0.0))
            if item is None:
                if time.monotonic() - self._heard >= DEAD_SEC:
                    raise RelayBroken("the server process at the other end of the relay stopped answering")
                raise RelayBroken("the relay was closed")
            try:
                frame = _decode(item[1])
            except msgspec.DecodeError:
                raise RelayBroken("an unreadable message on the relay") from None
            self._heard = time.monotonic()
            if frame.seq <= self._seen:
                continue  # sent twice (the bus reconnected): had it already
            if frame.seq != self._seen + 1:
                raise RelayBroken("the relay between server processes lost messages")
            self._seen = frame.seq
            if frame.kind != "ping":
                return frame

    async def keepalive(self) -> None:
        while True:
            await asyncio.sleep(PING_SEC - (time.monotonic() - self._sent))
            if time.monotonic() - self._sent >= PING_SEC:
                await self.send("ping")

    async def close(self) -> None:
        await self._inbox.close()


class RelayedTerminal:
    """The viewer's side of a relayed session: a ``core.ports.TerminalChannel``."""

    def __init__(self, link: RelayLink) -> None:
        self.link = link
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queued = 0  # output bytes in the queue
        self.unacked = 0  # output bytes taken by the reader, not acknowledged to the host yet
        self.in_flight = 0  # input bytes sent, not acknowledged by the host yet
        self._credit = asyncio.Event()
        self.exit_code: int | None = None
        self.reason = ""
        self.ended = False
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(link.keepalive())]

    def _end(self, reason: str, exit_code: int | None = None) -> None:
        if self.ended:
            return
        self.ended, self.reason, self.exit_code = True, reason, exit_code
        self.output.put_nowait(None)
        self._credit.set()

    async def _receive(self) -> None:
        try:
            while True:
                frame = await self.link.receive()
                if frame.kind == "data":
                    size = len(frame.data)
                    if size > TERM_FRAME_BYTES or self.queued + self.unacked + size > TERM_WINDOW_BYTES:
                        raise RelayBroken("the relay sent more than its window")
                    self.queued += size
                    self.output.put_nowait(frame.data)
                elif frame.kind == "ack":
                    self.in_flight = max(0, self.in_flight - frame.a)
                    self._credit.set()
                elif frame.kind in ("end", "close"):
                    self._end(frame.reason or "closed", frame.code)
                    return
        except RelayBroken as exc:
            self._end(str(exc))
            with contextlib.suppress(Exception):
                await self.link.send("close", reason=str(exc))

    async def read(self) -> bytes | None:
        if self.ended and self.output.empty():
            return None
        data = await self.output.get()
        if data is None:
            return None
        self.queued -= len(data)
        self.unacked += len(data)
        if not self.ended and (self.unacked >= ACK_EVERY or self.output.empty()):
            acked, self.unacked = self.unacked, 0
            await self.link.send("ack", a=acked)
        return data

    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), TERM_FRAME_BYTES):
            chunk = data[start : start + TERM_FRAME_BYTES]
            while not self.ended and self.in_flight + len(chunk) > TERM_WINDOW_BYTES:
                self._credit.clear()
                await self._credit.wait()
            if self.ended:
                return
            self.in_flight += len(chunk)
            await self.link.send("data", data=chunk)

    async def resize(self, cols: int, rows: int) -> None:
        if not self.ended:
            await self.link.send("resize", a=max(1, min(cols, 1000)), b=max(1, min(rows, 1000)))

    async def close(self) -> None:
        if not self.ended:
            with contextlib.suppress(Exception):
                await self.link.send("close")
            self._end("closed")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.link.close()


async def open_relayed(
    bus: Bus, gateway: AgentGateway, to: AgentAddress, session_id: str, cols: int, rows: int
) -> RelayedTerminal:
    """Open a session on the agent held by another process (``to.node_id``). Raises what the
    gateway raises: AgentUnreachable, AgentFailed (the agent refused), AgentTimeout."""
    inbox = await bus.subscribe(to_viewer(session_id), max_pending=MAX_PENDING)
    link = RelayLink(bus, to_host(session_id), inbox)
    try:
        await gateway.arequest(to, OPEN, {"sid": session_id, "cols": cols, "rows": rows}, OPEN_TIMEOUT_SEC)
    except BaseException:
        with contextlib.suppress(Exception):  # opened after all (a late answer): the host ends it
            await link.send("close")
        await link.close()
        raise
    link.started()
    return RelayedTerminal(link)
