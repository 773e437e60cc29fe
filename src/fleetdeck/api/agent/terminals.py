"""Terminal sessions relayed over agent connections held by this process (``core.ports
.TerminalRelay``): the browser side reads and writes a :class:`TermChannel`; the agent side is
``TermOpen``/``TermInput``/... frames on the agent's WebSocket.

Output is held per session in a queue bounded by the protocol's window: the agent sends at most
``TERM_WINDOW_BYTES`` before this side acknowledges what the reader has taken (``TermAck``), so a
browser that reads slowly holds the shell up, not this process's memory. An agent that sends
beyond its window has its session closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetdeck.bus import terminals as relay
from fleetdeck.bus.gateway import AgentAnswer, AgentCall, encode
from fleetdeck.core.errors import AgentFailed, AgentTimeout, AgentUnreachable, FleetdeckError
from fleetdeck.core.ports import AgentGateway, TerminalChannel
from fleetdeck.protocol import messages as m

if TYPE_CHECKING:
    from fleetdeck.api.agent.hub import AgentConn, AgentHub

log = logging.getLogger("fleetdeck.agents")

OPEN_TIMEOUT_SEC = 15.0
_SESSION_ID = re.compile(r"[0-9a-f]{16}")  # core.terminals' secrets.token_hex(8)
ACK_EVERY = m.TERM_WINDOW_BYTES // 4


@dataclass(eq=False)
class TermChannel:
    sid: str
    conn: AgentConn
    opened: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    output: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    queued: int = 0  # output bytes in the queue
    unacked: int = 0  # output bytes taken by the reader and not acknowledged to the agent yet
    exit_code: int | None = None
    reason: str = ""
    ended: bool = False
    # input sent and not taken by the PTY yet (TermTaken; agents with FEATURE_TERM_INPUT_ACK)
    input_in_flight: int = 0
    input_credit: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------ the browser's side
    async def read(self) -> bytes | None:
        if self.ended and self.output.empty():
            return None
        data = await self.output.get()
        if data is None:
            return None
        self.queued -= len(data)
        self.unacked += len(data)
        if self.unacked >= ACK_EVERY or self.output.empty():
            acked, self.unacked = self.unacked, 0
            await self.conn.send_message(m.TermAck(sid=self.sid, bytes=acked))
        return data

    async def write(self, data: bytes) -> None:
        """Pass input on; with an agent that acknowledges input (FEATURE_TERM_INPUT_ACK) wait
        while a window of it is not taken by the PTY yet, so the caller is held up, not the
        agent's buffer overrun (which ends the session)."""
        windowed = m.FEATURE_TERM_INPUT_ACK in self.conn.features
        for start in range(0, len(data), m.TERM_FRAME_BYTES):
            chunk = data[start : start + m.TERM_FRAME_BYTES]
            while windowed and not self.ended and self.input_in_flight + len(chunk) > m.TERM_WINDOW_BYTES:
                self.input_credit.clear()
                await self.input_credit.wait()
            if self.ended:
                return
            self.input_in_flight += len(chunk)
            await self.conn.send_message(m.TermInput(sid=self.sid, data=chunk))

    def taken(self, count: int) -> None:
        """The PTY took ``count`` input bytes (TermTaken)."""
        self.input_in_flight = max(0, self.input_in_flight - max(0, count))
        self.input_credit.set()

    async def resize(self, cols: int, rows: int) -> None:
        if not self.ended:
            cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
            await self.conn.send_message(m.TermResize(sid=self.sid, cols=cols, rows=rows))

    async def close(self) -> None:
        if not self.ended:
            await self.conn.send_message(m.TermClose(sid=self.sid))
            self.end("closed")
        self.conn.terminals.pop(self.sid, None)

    # ------------------------------------------------ the agent's side
    def end(self, reason: str, exit_code: int | None = None) -> None:
        if self.ended:
            return
        self.ended, self.reason, self.exit_code = True, reason, exit_code
        if not self.opened.done():
            self.opened.set_result(reason)
        self.output.put_nowait(None)
        self.input_credit.set()  # a writer waiting for the window returns


class TerminalRelayHub:
    """The relay over one hub's connections."""

    def __init__(self, hub: AgentHub) -> None:
        self.hub = hub

    async def open_terminal(self, computer_id: int, session_id: str, cols: int, rows: int) -> TermChannel:
        conn = self.hub.conns.get(computer_id)
        if conn is None:
            raise AgentUnreachable(
                f"computer {computer_id}: its agent is not connected to this server process "
                "(offline, or connected to another one)"
            )
        if m.FEATURE_TERMINAL not in conn.features:
            raise AgentFailed(
                f"computer {computer_id}: its agent offers no terminal (an older agent, terminals "
                "switched off there, or a platform without PTYs)"
            )
        channel = TermChannel(session_id, conn)
        conn.terminals[session_id] = channel
        cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
        if not await conn.send_message(m.TermOpen(sid=session_id, cols=cols, rows=rows)):
            conn.terminals.pop(session_id, None)
            raise AgentUnreachable(f"computer {computer_id}: its connection was lost")
        try:
            error = await asyncio.wait_for(asyncio.shield(channel.opened), OPEN_TIMEOUT_SEC)
        except TimeoutError:
            await channel.close()
            raise AgentTimeout(
                f"computer {computer_id}: its agent did not open the terminal in time"
            ) from None
        if error:
            conn.terminals.pop(session_id, None)
            raise AgentFailed(f"computer {computer_id}: {error}")
        return channel


class ClusterTerminalRelay:
    """The web UI's ``core.ports.TerminalRelay`` with several server processes: a session on an
    agent held here goes straight to it (:class:`TerminalRelayHub`); one on an agent held by
    another process is relayed over the bus (``bus.terminals``), served there by
    :class:`RelayedSessions`."""

    def __init__(self, hub: AgentHub, gateway: AgentGateway) -> None:
        self.hub = hub
        self.gateway = gateway
        self.local = TerminalRelayHub(hub)

    async def open_terminal(self, computer_id: int, session_id: str, cols: int, rows: int) -> TerminalChannel:
        if computer_id in self.hub.conns:
            return await self.local.open_terminal(computer_id, session_id, cols, rows)
        found = await asyncio.to_thread(self.hub.services.computers.agent_addresses, [computer_id])
        address = found.get(computer_id)
        if address is None or address.node_id == self.hub.node_id:
            raise AgentUnreachable(f"computer {computer_id}: its agent is not connected")
        cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
        return await relay.open_relayed(self.hub.bus, self.gateway, address, session_id, cols, rows)


class RelayedSessions:
    """The host's side of relayed sessions (``bus.terminals``): sessions on agents held here
    for browsers connected to other processes. The hub hands it ``OPEN`` calls."""

    def __init__(self, hub: AgentHub) -> None:
        self.hub = hub
        self.relay = TerminalRelayHub(hub)
        self._tasks: set[asyncio.Task[None]] = set()

    def count(self) -> int:
        return len(self._tasks)

    def call(self, call: AgentCall) -> None:
        """Open in a task of its own: the agent may take seconds, other calls go on meanwhile."""
        task = asyncio.create_task(self._open(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _answer(self, call: AgentCall, answer: AgentAnswer) -> None:
        await self.hub.bus.publish(call.reply_to, encode(answer))

    async def _open(self, call: AgentCall) -> None:
        sid, cols, rows = call.body.get("sid"), call.body.get("cols"), call.body.get("rows")
        if (
            not isinstance(sid, str)
            or not _SESSION_ID.fullmatch(sid)
            or not isinstance(cols, int)
            or not isinstance(rows, int)
        ):
            await self._answer(
                call, AgentAnswer("failed", error="a malformed terminal request", reason="bad")
            )
            return
        inbox = await self.hub.bus.subscribe(relay.to_host(sid), max_pending=relay.MAX_PENDING)
        try:
            channel = await self.relay.open_terminal(call.computer_id, sid, cols, rows)
        except FleetdeckError as exc:
            await inbox.close()
            prefix = f"computer {call.computer_id}: "
            error = exc.message.removeprefix(prefix)
            if isinstance(exc, AgentUnreachable):
                await self._answer(call, AgentAnswer("unreachable", error=error, reason="disconnected"))
            else:
                await self._answer(call, AgentAnswer("failed", error=error, reason="agent"))
            return
        except BaseException:
            await inbox.close()
            raise
        link = relay.RelayLink(self.hub.bus, relay.to_viewer(sid), inbox)
        try:
            await self._answer(call, AgentAnswer("ok"))
            await self._serve(channel, link)
        finally:
            await channel.close()
            await link.close()

    async def _serve(self, channel: TermChannel, link: relay.RelayLink) -> None:
        in_flight = 0  # output bytes sent to the viewer and not acknowledged
        credit = asyncio.Event()

        async def output() -> None:
            nonlocal in_flight
            while True:
                while in_flight + m.TERM_FRAME_BYTES > m.TERM_WINDOW_BYTES:
                    credit.clear()
                    await credit.wait()
                data = await channel.read()
                if data is None:
                    await link.send("end", reason=channel.reason, code=channel.exit_code)
                    return
                in_flight += len(data)
                await link.send("data", data=data)

        typed: asyncio.Queue[bytes] = asyncio.Queue()  # bounded by the viewer's window

        async def write_in() -> None:
            """Input to the agent in its own task: while it waits for the PTY to take input,
            the viewer's acks for output still reach ``output`` (a shell echoing a large paste
            needs both at once)."""
            while True:
                data = await typed.get()
                await channel.write(data)
                await link.send("ack", a=len(data))

        async def into() -> None:
            nonlocal in_flight
            try:
                while True:
                    frame = await link.receive()
                    if frame.kind == "data":
                        typed.put_nowait(frame.data)
                    elif frame.kind == "ack":
                        in_flight = max(0, in_flight - frame.a)
                        credit.set()
                    elif frame.kind == "resize":
                        await channel.resize(frame.a, frame.b)
                    elif frame.kind in ("close", "end"):
                        return
            except relay.RelayBroken as exc:
                log.info("terminal %s: %s; closing it", channel.sid, exc)
                with contextlib.suppress(Exception):
                    await link.send("close", reason=str(exc))

        tasks = [asyncio.create_task(c) for c in (output(), into(), write_in(), link.keepalive())]
        try:
            await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def agent_frame(conn: AgentConn, msg: m.TermOpened | m.TermOutput | m.TermTaken | m.TermExit) -> None:
    """A terminal frame from ``conn``'s agent; frames of sessions not opened on it are dropped."""
    channel = conn.terminals.get(msg.sid)
    if channel is None:
        return
    if isinstance(msg, m.TermOpened):
        if not channel.opened.done():
            channel.opened.set_result("" if msg.ok else (msg.error or "the agent refused"))
        if not msg.ok:
            channel.end(msg.error or "refused")
            conn.terminals.pop(msg.sid, None)
    elif isinstance(msg, m.TermOutput):
        if channel.ended:
            return
        channel.queued += len(msg.data)
        if len(msg.data) > m.TERM_FRAME_BYTES or channel.queued + channel.unacked > m.TERM_WINDOW_BYTES:
            log.warning("computer %s overran terminal %s's window; closing it", conn.computer_id, msg.sid)
            channel.end("the agent sent more than its window")
            conn.terminals.pop(msg.sid, None)
            await conn.send_message(m.TermClose(sid=msg.sid))
            return
        channel.output.put_nowait(msg.data)
    elif isinstance(msg, m.TermTaken):
        channel.taken(msg.bytes)
    else:
        channel.end("exited" if not msg.error else msg.error, msg.exit_code)
        conn.terminals.pop(msg.sid, None)


def connection_lost(conn: AgentConn) -> None:
    for channel in list(conn.terminals.values()):
        channel.end("the agent disconnected")
    conn.terminals.clear()
