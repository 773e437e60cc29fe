"""The agent's end of UDP tunnels: one UDP socket per flow, connected to the target.

The server receives a datagram on a tunnel's UDP port from a source it has no flow for and sends
``UdpOpen(flow, host, port)``, then the datagrams (``UdpData``). The agent opens a UDP socket
connected to ``host:port`` for the flow (so only the target's replies arrive on it), writes the
flow's datagrams to it and sends what comes back as ``UdpData`` of the same flow; the server
hands those to the flow's source. A flow ends on ``UdpClose`` from the server (it idled, or its
tunnel closed), when the target refuses (an ICMP "port unreachable" reported on the socket),
after twice the server's idle time without a datagram (the server missed it), or with the
session. At most ``MAX_FLOWS`` flows at once (more are refused with ``UdpClose``); what waits
for the WebSocket is bounded by ``protocol.datagrams.Outbox``. Only asyncio and the protocol
package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from fleetdeck.protocol import messages as m
from fleetdeck.protocol.datagrams import Outbox, Send

log = logging.getLogger(__name__)

OPEN_TIMEOUT_SEC = 10.0  # resolving the target's name
MAX_FLOWS = 256  # open at once on this agent
MAX_PENDING = 16  # datagrams of a flow that wait for its socket to open ...
MAX_PENDING_BYTES = 64 * 1024  # ... and their bytes
SWEEP_SEC = 1.0


@dataclass(eq=False)
class _Flow:
    id: int
    idle_sec: float
    transport: asyncio.DatagramTransport | None = None
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    paused: bool = False
    last: float = field(default_factory=time.monotonic)
    opening: asyncio.Task[None] | None = None


class _FlowProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Datagrams, flow: _Flow) -> None:
        self._owner = owner
        self._flow = flow

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._owner.from_target(self._flow, data)

    def error_received(self, exc: Exception) -> None:
        self._owner.end(self._flow, str(exc) or type(exc).__name__, tell=True)

    def pause_writing(self) -> None:
        self._flow.paused = True

    def resume_writing(self) -> None:
        self._flow.paused = False


class Datagrams:
    def __init__(self, send: Send, *, max_flows: int = MAX_FLOWS) -> None:
        self._send = send
        self._outbox = Outbox(send)
        self._flows: dict[int, _Flow] = {}
        self._max_flows = max_flows
        self._sweeper: asyncio.Task[None] | None = None
        self.dropped = 0  # datagrams of this end not written to a target (full, not open yet)

    @property
    def flows(self) -> int:
        return len(self._flows)

    def handle(self, msg: m.UdpOpen | m.UdpData | m.UdpClose) -> None:
        """Called from the receive loop; never waits."""
        if isinstance(msg, m.UdpOpen):
            self._start(msg)
            return
        flow = self._flows.get(msg.flow)
        if flow is None:
            return  # ended already: late frames are dropped
        if isinstance(msg, m.UdpClose):
            self.end(flow, "", tell=False)
            return
        flow.last = time.monotonic()
        if flow.transport is None:
            if len(flow.pending) < MAX_PENDING and flow.pending_bytes + len(msg.data) <= MAX_PENDING_BYTES:
                flow.pending.append(msg.data)
                flow.pending_bytes += len(msg.data)
            else:
                self.dropped += 1
        elif flow.paused:  # the kernel has not taken what was written yet (asyncio's high-water mark)
            self.dropped += 1
        else:
            flow.transport.sendto(msg.data)

    def _start(self, msg: m.UdpOpen) -> None:
        if msg.flow in self._flows:
            return
        if len(self._flows) >= self._max_flows:
            self._outbox.control(m.UdpClose(flow=msg.flow, error="too many UDP flows on the agent"))
            return
        flow = _Flow(msg.flow, max(msg.idle_sec, 1.0))
        self._flows[msg.flow] = flow
        flow.opening = asyncio.create_task(self._open(flow, msg.host, msg.port))
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep())

    async def _open(self, flow: _Flow, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _protocol = await asyncio.wait_for(
                loop.create_datagram_endpoint(lambda: _FlowProtocol(self, flow), remote_addr=(host, port)),
                OPEN_TIMEOUT_SEC,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
            log.info("UDP flow %s: cannot open a socket to %s:%s: %s", flow.id, host, port, error)
            self.end(flow, error, tell=True)
            return
        finally:
            flow.opening = None
        if self._flows.get(flow.id) is not flow:  # ended while opening
            transport.close()
            return
        flow.transport = transport
        for data in flow.pending:
            transport.sendto(data)
        flow.pending.clear()
        flow.pending_bytes = 0

    def from_target(self, flow: _Flow, data: bytes) -> None:
        if self._flows.get(flow.id) is not flow:
            return
        flow.last = time.monotonic()
        self._outbox.data(flow.id, data[: m.UDP_MAX_DATAGRAM])

    def end(self, flow: _Flow, error: str, *, tell: bool) -> None:
        """Forget the flow and close its socket; ``tell``: send the server a ``UdpClose``."""
        if self._flows.get(flow.id) is not flow:
            return
        del self._flows[flow.id]
        if flow.opening is not None and flow.opening is not asyncio.current_task():
            flow.opening.cancel()
        if flow.transport is not None:
            flow.transport.close()
        if tell:
            self._outbox.control(m.UdpClose(flow=flow.id, error=error))

    async def _sweep(self) -> None:
        """End flows the server forgot: silent for twice its idle time."""
        try:
            while self._flows:
                await asyncio.sleep(SWEEP_SEC)
                now = time.monotonic()
                for flow in [f for f in self._flows.values() if now - f.last > 2 * f.idle_sec]:
                    self.end(flow, "idle", tell=True)
        finally:
            self._sweeper = None

    def close_all(self) -> None:
        """The session ended: every flow with it (the server's ends are gone too)."""
        for flow in list(self._flows.values()):
            self.end(flow, "", tell=False)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._outbox.close()
        self._outbox = Outbox(self._send)


async def check(body: dict[str, Any]) -> dict[str, Any]:
    """``TUNNEL_CHECK`` with ``protocol`` udp: as far as UDP allows without sending anything to
    the target, is ``host:port`` reachable? The name resolves and a UDP socket connects to it
    (there is a route). Whether something listens on the port cannot be told without a datagram,
    which the target might act on, so none is sent."""
    host, port = str(body.get("host", "")), int(body.get("port", 0))
    timeout = min(float(body.get("timeout", 2.0)), 10.0)
    loop = asyncio.get_running_loop()
    try:
        transport, _ = await asyncio.wait_for(
            loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=(host, port)), timeout
        )
    except (OSError, TimeoutError, ValueError, socket.gaierror) as exc:
        return {"open": False, "error": str(exc) or type(exc).__name__}
    with contextlib.suppress(OSError):
        transport.close()
    return {"open": True}
