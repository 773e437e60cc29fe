"""A UDP tunnel's port, in the server process that holds the computer's agent (beside the TCP
listeners of ``api/agent/tunnels.py``, which opens and closes it).

Every datagram that arrives is checked against the tunnel's ACL by its source address (refused:
dropped, counted in ``refused`` and logged, at most once per ``LOG_EVERY_SEC``); nothing reaches
the agent. A source the port has no flow for gets one (``UdpOpen`` to the agent, at most
``MAX_FLOWS`` per tunnel: beyond, its datagrams are dropped and counted); its datagrams go as
``UdpData`` of that flow, and the agent's ``UdpData`` of the flow are sent back to that source,
so two sources get their own replies. A flow without a datagram either way for
``flow_idle_sec`` ends (``UdpClose`` to the agent); every datagram in or out is activity of the
tunnel (its idle timeout). What waits for the WebSocket is bounded by
``protocol.datagrams.Outbox`` (dropped and counted beyond).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from fleetdeck.core.ports import TunnelPlan
from fleetdeck.core.tunnels.service import acl_allows
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.datagrams import Outbox

if TYPE_CHECKING:
    from fleetdeck.api.agent.hub import AgentConn

log = logging.getLogger("fleetdeck.tunnels")

MAX_FLOWS = 64  # sources served at once by one tunnel
LOG_EVERY_SEC = 10.0  # refusals and drops are logged at most this often per tunnel

Address = tuple[Any, ...]  # (host, port) or (host, port, flowinfo, scope_id)


@dataclass(eq=False)
class _Flow:
    id: int
    source: Address
    conn: AgentConn
    last: float = field(default_factory=time.monotonic)


class UdpPort(asyncio.DatagramProtocol):
    """One tunnel's UDP socket and its flows. ``registry`` maps (computer id, flow id) to the
    port serving it, for the agent's frames; ``acl`` is read per datagram (changed live)."""

    def __init__(
        self,
        plan: TunnelPlan,
        acl: Callable[[], tuple[str, ...]],
        conn_of: Callable[[int], AgentConn | None],
        registry: dict[tuple[int, int], UdpPort],
        ids: itertools.count[int],
        on_activity: Callable[[], None],
        flow_idle_sec: float,
        max_flows: int = MAX_FLOWS,
    ) -> None:
        self.plan = plan
        self._acl = acl
        self._conn_of = conn_of
        self._registry = registry
        self._ids = ids
        self._touch = on_activity
        self.flow_idle_sec = flow_idle_sec
        self._max_flows = max_flows
        self._by_source: dict[Address, _Flow] = {}
        self._flows: dict[int, _Flow] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._paused = False
        self._outbox = Outbox(self._send)
        self._logged: float | None = None
        self.refused = 0  # datagrams from sources outside the ACL
        self.dropped = 0  # datagrams not carried: no agent, too many flows, too big, queue full
        self.received = 0  # datagrams from sources, carried to the agent
        self.replied = 0  # datagrams from the agent, sent to their source

    @property
    def flows(self) -> int:
        return len(self._flows)

    @property
    def dropped_total(self) -> int:
        return self.dropped + self._outbox.dropped

    async def _send(self, msg: m.Message) -> None:
        conn = self._conn_of(self.plan.computer_id)
        if conn is not None:
            await conn.send_message(msg)

    # ------------------------------------------------------------ the socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (asyncio's selector transport is no DatagramTransport subclass, but is one)
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        source = str(addr[0])
        if not acl_allows(self._acl(), source):
            self.refused += 1
            self._log("datagram from %s refused: address not in the tunnel's ACL", source)
            return
        flow = self._by_source.get(addr)
        if flow is None:
            flow = self._open(addr)
            if flow is None:
                return
        if len(data) > m.UDP_MAX_DATAGRAM:
            self.dropped += 1
            self._log("datagram from %s dropped: %d bytes is over the limit", source, len(data))
            return
        flow.last = time.monotonic()
        self._touch()
        if self._outbox.data(flow.id, data):
            self.received += 1
        else:
            self._log("datagram from %s dropped: the agent's connection is behind", source)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for a reply (its source went away): nothing to do, its flow idles out.
        log.debug("tunnel %s of computer %s: %s", self.plan.key, self.plan.computer_id, exc)

    def _open(self, addr: Address) -> _Flow | None:
        conn = self._conn_of(self.plan.computer_id)
        why = ""
        if conn is None or m.FEATURE_UDP not in conn.features:
            why = "agent not connected (or too old for UDP tunnels)"
        elif len(self._flows) >= self._max_flows:
            why = f"the tunnel has {self._max_flows} flows already"
        if why or conn is None:
            self.dropped += 1
            self._log("datagram from %s dropped: %s", str(addr[0]), why)
            return None
        flow = _Flow(next(self._ids), addr, conn)
        self._by_source[addr] = flow
        self._flows[flow.id] = flow
        self._registry[(self.plan.computer_id, flow.id)] = self
        plan = self.plan
        self._outbox.control(
            m.UdpOpen(flow=flow.id, host=plan.remote_host, port=plan.remote_port, idle_sec=self.flow_idle_sec)
        )
        log.debug("tunnel %s of computer %s: UDP flow %s from %s", plan.key, plan.computer_id, flow.id, addr)
        return flow

    # ------------------------------------------------------------ from the agent

    def from_agent(self, conn: AgentConn, msg: m.UdpData | m.UdpClose) -> None:
        flow = self._flows.get(msg.flow)
        if flow is None or flow.conn is not conn:
            return
        if isinstance(msg, m.UdpClose):
            if msg.error:
                log.info(
                    "tunnel %s of computer %s: UDP flow from %s ended by the agent: %s",
                    self.plan.key,
                    self.plan.computer_id,
                    flow.source,
                    msg.error,
                )
            self._end(flow, tell=False)
            return
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._paused:  # the kernel has not taken what was written (asyncio's high-water mark)
            self.dropped += 1
            return
        flow.last = time.monotonic()
        self._touch()
        transport.sendto(msg.data, flow.source)
        self.replied += 1

    # ------------------------------------------------------------ ending flows

    def _end(self, flow: _Flow, *, tell: bool) -> None:
        if self._flows.pop(flow.id, None) is None:
            return
        self._by_source.pop(flow.source, None)
        self._registry.pop((self.plan.computer_id, flow.id), None)
        if tell:
            self._outbox.control(m.UdpClose(flow=flow.id))

    def expire(self, now: float) -> int:
        """End the flows idle for ``flow_idle_sec``; how many."""
        idle = [f for f in self._flows.values() if now - f.last >= self.flow_idle_sec]
        for flow in idle:
            self._end(flow, tell=True)
        return len(idle)

    def agent_gone(self, conn: AgentConn) -> None:
        """That connection ended: its flows are gone at the agent's end too."""
        for flow in [f for f in self._flows.values() if f.conn is conn]:
            self._end(flow, tell=False)

    async def close(self) -> int:
        """Close the port: every flow ends (the agent is told); how many flows there were."""
        flows = list(self._flows.values())
        for flow in flows:
            self._end(flow, tell=True)
        await self._outbox.flush(1.0)
        self._outbox.close()
        if self._transport is not None:
            self._transport.close()
        return len(flows)

    # ------------------------------------------------------------ logs

    def _log(self, what: str, *args: object) -> None:
        now = time.monotonic()
        if self._logged is not None and now - self._logged < LOG_EVERY_SEC:
            return
        self._logged = now
        log.warning(
            "tunnel %s of computer %s: " + what + " (refused %d, dropped %d so far)",
            self.plan.key,
            self.plan.computer_id,
            *args,
            self.refused,
            self.dropped_total,
        )
