"""UDP tunnels in the hub (``api.agent.udp`` through ``api.agent.tunnels``) with the agent's
real datagram code (``agent.udp``) at the other end of an in-process "socket" (frames encoded
and decoded as on the WebSocket) and a real UDP echo server on 127.0.0.1: two sources get their
own replies; the ACL drops (and counts, and logs) a stranger's datagrams, and a live change
lets them in; flows end after their idle time at both ends and come back with the next
datagram; a target that refuses ends its flow; a tunnel without datagrams for its idle timeout
is closed and forgotten (audited); tcp+udp serves both on one port (the agent's TCP streams run
in process too); an agent without the
``udp`` feature is refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest

from fleetdeck.agent.tunnels import Tunnels
from fleetdeck.agent.udp import Datagrams
from fleetdeck.api.agent.hub import AgentConn, AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.bus.tunnels import LISTEN, SET_ACL, UNLISTEN, plan_body
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AgentFailed
from fleetdeck.core.ports import AgentAddress, TunnelPlan
from fleetdeck.protocol import messages as m
from tests.ports import free_tcp_and_udp_port, free_udp_port

NODE = "n1"
HERE = AgentAddress(1, NODE)


class _Echo(asyncio.DatagramProtocol):
    """Answers each datagram with ``echo:`` + the datagram, to its sender."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)


class _Client(asyncio.DatagramProtocol):
    """A source: sends to the tunnel's port and collects what comes back."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.put_nowait(data)

    async def ask(self, data: bytes, timeout: float = 5.0) -> bytes:
        self.transport.sendto(data)
        return await asyncio.wait_for(self.got.get(), timeout)

    async def silence(self, data: bytes, wait: float = 1.0) -> bool:
        """Nothing comes back for ``data`` within ``wait`` seconds."""
        self.transport.sendto(data)
        try:
            await asyncio.wait_for(self.got.get(), wait)
        except TimeoutError:
            return True
        return False


async def _client(port: int) -> _Client:
    _t, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        _Client, remote_addr=("127.0.0.1", port)
    )
    return proto


@contextlib.asynccontextmanager
async def _hub(
    runtime: Runtime,
    features: frozenset[str] = frozenset({m.FEATURE_REQUESTS, m.FEATURE_TUNNELS, m.FEATURE_UDP}),
) -> AsyncIterator[tuple[AgentHub, Datagrams]]:
    await runtime.bus.start()
    hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id=NODE))
    await hub.start()
    conn: AgentConn | None = None

    async def to_agent(frame: bytes) -> None:
        msg = m.decode_from_server(frame)
        if isinstance(msg, m.UdpOpen | m.UdpData | m.UdpClose):
            agent.handle(msg)
        elif isinstance(msg, m.TunnelOpen | m.TunnelData | m.TunnelAck | m.TunnelClose):
            streams.handle(msg)

    async def to_server(msg: m.Message) -> None:
        frame = m.decode_from_agent(m.encode(msg))
        assert conn is not None
        if isinstance(frame, m.UdpData | m.UdpClose):
            hub.tunnels.datagram(conn, frame)
        else:
            assert isinstance(frame, m.TunnelOpened | m.TunnelData | m.TunnelAck | m.TunnelClose)
            hub.tunnels.frame(conn, frame)

    async def close(code: int, reason: str) -> None:
        return None

    agent, streams = Datagrams(to_server), Tunnels(to_server)
    conn = AgentConn(1, "pc1", "127.0.0.1", to_agent, close, features=features)
    await hub.attach(conn)
    try:
        yield hub, agent
    finally:
        agent.close_all()
        streams.close_all()
        await hub.stop()
        await runtime.bus.close()


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def test_udp_echo_two_sources_acl_and_flow_idle(
    runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fleetdeck.tunnels")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
        tport = echo.get_extra_info("sockname")[1]
        async with _hub(runtime) as (hub, agent):
            hub.tunnels.udp_flow_idle_sec = 3.0  # longer than a round trip under load
            lport, strict_port = free_udp_port(), free_udp_port()
            plan = TunnelPlan(1, "1", "127.0.0.1", lport, "127.0.0.1", tport, protocol="udp")
            assert await runtime.gateway.arequest(HERE, LISTEN, plan_body(plan), 5) == {}
            with pytest.raises(AgentFailed) as busy:  # the same port again
                await runtime.gateway.arequest(HERE, LISTEN, plan_body(plan), 5)
            assert busy.value.detail["reason"] == "port_in_use"

            # two sources, several datagrams each: every reply goes to its own source
            a, b = await _client(lport), await _client(lport)
            for i in range(5):
                assert await a.ask(b"a%d" % i) == b"echo:a%d" % i
                assert await b.ask(b"b%d" % i) == b"echo:b%d" % i
            big = bytes(range(256)) * 200  # 51200 bytes: one datagram, one frame
            assert await a.ask(big) == b"echo:" + big
            assert a.got.empty() and b.got.empty()
            counts = hub.tunnels.udp_counts(1, "1")
            assert counts == {"flows": 2, "received": 11, "replied": 11, "refused": 0, "dropped": 0}
            assert agent.flows == 2

            # flows idle out at both ends, and the next datagram opens a new one
            await _until(lambda: hub.tunnels.udp_counts(1, "1")["flows"] == 0 and agent.flows == 0)
            assert await a.ask(b"again") == b"echo:again"
            assert hub.tunnels.udp_counts(1, "1")["flows"] == 1

            # the ACL: a stranger's datagrams are dropped before the agent, counted and logged
            hub.tunnels.udp_flow_idle_sec = 60.0  # tunnel 2's flows end only with it
            strict = TunnelPlan(
                1, "2", "127.0.0.1", strict_port, "127.0.0.1", tport, acl=("10.9.8.7",), protocol="udp"
            )
            assert await runtime.gateway.arequest(HERE, LISTEN, plan_body(strict), 5) == {}
            c = await _client(strict_port)
            assert await c.silence(b"let me in")
            assert await c.silence(b"please")
            counts = hub.tunnels.udp_counts(1, "2")
            assert (counts["refused"], counts["received"], counts["flows"]) == (2, 0, 0)
            refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
            assert refusals and "datagram from 127.0.0.1 refused" in refusals[0], refusals
            # ... and changed live: the next datagram gets through
            body = {"key": "2", "acl": ["127.0.0.0/8"]}
            assert await runtime.gateway.arequest(HERE, SET_ACL, body, 5) == {}
            assert await c.ask(b"now?") == b"echo:now?"

            # a flow is no connection: an unforced unlisten closes the tunnel with its flows
            # tunnel 1's flow idles out (at the agent too); c's, of tunnel 2, is left
            await _until(lambda: hub.tunnels.udp_counts(1, "1")["flows"] == 0 and agent.flows == 1)
            assert await runtime.gateway.arequest(HERE, UNLISTEN, {"key": "2", "force": False}, 5) == {
                "closed": 0
            }
            assert hub.tunnels.udp_counts(1, "2") == {}
            await _until(lambda: agent.flows == 0)  # the agent was told
            assert await c.silence(b"gone?")
            for s in (a, b, c):
                s.transport.close()
        echo.close()

    asyncio.run(scenario())


def test_refusing_target_and_tunnel_idle_tcp_and_udp(runtime: Runtime, admin: Actor) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        both = free_tcp_and_udp_port()
        echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", both))

        async def tcp_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        tcp = await asyncio.start_server(tcp_echo, "127.0.0.1", both)
        async with _hub(runtime) as (hub, agent):
            # a target port where nothing listens: the agent's socket hears "refused", the flow ends
            closed_port, lport = free_udp_port(), free_udp_port()
            plan = TunnelPlan(1, "1", "127.0.0.1", lport, "127.0.0.1", closed_port, protocol="udp")
            assert await runtime.gateway.arequest(HERE, LISTEN, plan_body(plan), 5) == {}
            a = await _client(lport)
            assert await a.silence(b"anyone?")
            await _until(lambda: hub.tunnels.udp_counts(1, "1")["flows"] == 0 and agent.flows == 0)
            await runtime.gateway.arequest(HERE, UNLISTEN, {"key": "1", "force": True}, 5)

            # tcp+udp: a TCP listener and a UDP socket on the same port; idle after 2 s
            mixed = free_tcp_and_udp_port()
            plan = TunnelPlan(
                1, "2", "127.0.0.1", mixed, "127.0.0.1", both, idle_timeout_sec=2, protocol="tcp+udp"
            )
            assert await runtime.gateway.arequest(HERE, LISTEN, plan_body(plan), 5) == {}
            u = await _client(mixed)
            assert await u.ask(b"over udp") == b"echo:over udp"
            r, w = await asyncio.open_connection("127.0.0.1", mixed)
            w.write(b"over tcp")
            assert await asyncio.wait_for(r.readexactly(8), 10) == b"over tcp"
            w.close()
            # idle: no datagram and no connection for 2 s -> closed and forgotten, both halves
            await _until(lambda: hub.tunnels.udp_counts(1, "2") == {}, 15)
            assert await u.silence(b"still there?")
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", mixed)
            u.transport.close()
            a.transport.close()
        tcp.close()
        echo.close()

    asyncio.run(scenario())
    audit = runtime.services.audit.find(admin, q.Query(where=(q.Cond("action", q.Op.EQ, "tunnel.delete"),)))
    assert [(r.object_id, r.detail.get("why")) for r in audit.items] == [("1/2", "idle")]


def test_agent_without_udp(runtime: Runtime) -> None:
    """An agent whose hello lacks ``udp``: a UDP tunnel (and its check) is refused, saying so."""

    async def scenario() -> None:
        async with _hub(runtime, frozenset({m.FEATURE_REQUESTS, m.FEATURE_TUNNELS})) as _both:
            plan = TunnelPlan(1, "3", "127.0.0.1", free_udp_port(), "127.0.0.1", 53, protocol="udp")
            with pytest.raises(AgentFailed) as old:
                await runtime.gateway.arequest(HERE, LISTEN, plan_body(plan), 5)
            assert old.value.detail["reason"] == "unsupported"
            assert "too old for UDP tunnels" in old.value.message
            body = {"host": "127.0.0.1", "port": 53, "protocol": "udp"}
            with pytest.raises(AgentFailed) as check:
                await runtime.gateway.arequest(HERE, m.TUNNEL_CHECK, body, 5)
            assert check.value.detail["reason"] == "unsupported"

    asyncio.run(scenario())
