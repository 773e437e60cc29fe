"""The hub's tunnel listeners (``api.agent.tunnels``) with the agent's real tunnel code at the
other end of an in-process "socket" (frames encoded and decoded as on the WebSocket): a listener
opened through the bus carries an echo; the ACL closes a stranger's connection at once; a
listener without connections or traffic for its idle timeout is closed and its tunnel forgotten
(audited as the system's ``tunnel.delete``), its idle time counted as rportd counts it (an open
connection keeps it, the time runs from the last close); a second listen on a busy port is
refused. (rport's ``idle-timeout-minutes`` becoming the plan's seconds is
``tests/unit/core/test_tunnels_core.py``'s.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from fleetdeck.agent.tunnels import Tunnels
from fleetdeck.api.agent.hub import AgentConn, AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.bus.tunnels import LISTEN, UNLISTEN, plan_body
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AgentFailed
from fleetdeck.core.ports import AgentAddress, TunnelPlan
from fleetdeck.protocol import messages as m

NODE = "n1"
IDLE = 3  # seconds: the listener's idle timeout (the hub looks every TICK_SEC, 1 s)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _closed_at_once(port: int) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(10), 5)
    except ConnectionError:
        data = b""
    writer.close()
    return data == b""


def test_listeners_echo_acl_idle(runtime: Runtime, admin: Actor) -> None:
    async def scenario() -> None:
        await runtime.bus.start()
        hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id=NODE))
        await hub.start()
        target = await asyncio.start_server(_echo, "127.0.0.1", 0)
        tport = target.sockets[0].getsockname()[1]
        conn: AgentConn | None = None

        async def to_agent(frame: bytes) -> None:
            msg = m.decode_from_server(frame)
            if isinstance(msg, m.TunnelOpen | m.TunnelData | m.TunnelAck | m.TunnelClose):
                agent.handle(msg)

        async def to_server(msg: m.Message) -> None:
            frame = m.decode_from_agent(m.encode(msg))
            assert conn is not None
            assert isinstance(frame, m.TunnelOpened | m.TunnelData | m.TunnelAck | m.TunnelClose)
            hub.tunnels.frame(conn, frame)

        async def close(code: int, reason: str) -> None:
            return None

        agent = Tunnels(to_server)
        conn = AgentConn(
            1,
            "pc1",
            "127.0.0.1",
            to_agent,
            close,
            features=frozenset({m.FEATURE_REQUESTS, m.FEATURE_TUNNELS}),
        )
        await hub.attach(conn)
        here = AgentAddress(1, NODE)
        try:
            lport, strict_port = _free_port(), _free_port()
            plan = TunnelPlan(1, "1", "127.0.0.1", lport, "127.0.0.1", tport, idle_timeout_sec=IDLE)
            assert await runtime.gateway.arequest(here, LISTEN, plan_body(plan), 5) == {}
            with pytest.raises(AgentFailed) as busy:  # the same port again
                await runtime.gateway.arequest(here, LISTEN, plan_body(plan), 5)
            assert busy.value.detail["reason"] == "port_in_use"

            # an echo through the tunnel
            reader, writer = await asyncio.open_connection("127.0.0.1", lport)
            payload = bytes(range(256)) * 4096  # 1 MiB: two windows
            writer.write(payload)
            got = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
            assert got == payload
            # a connected, silent socket: no idle close past the timeout, and an unforced
            # unlisten is refused
            await asyncio.sleep(IDLE + 0.5)
            with pytest.raises(AgentFailed) as active:
                await runtime.gateway.arequest(here, UNLISTEN, {"key": "1", "force": False}, 5)
            assert active.value.detail["reason"] == "active_connections"
            writer.close()
            closed_at = asyncio.get_running_loop().time()

            # the ACL: a stranger is closed at once
            strict = TunnelPlan(1, "2", "127.0.0.1", strict_port, "127.0.0.1", tport, acl=("10.9.8.7",))
            assert await runtime.gateway.arequest(here, LISTEN, plan_body(strict), 5) == {}
            assert await _closed_at_once(strict_port)

            # idle time runs from the last connection's close, not from the tunnel's creation
            # (rportd: LastActive is now while a connection is open, else the last close):
            # half the timeout after the close it still listens (counted from the creation it
            # would have gone at the first tick); the probe is activity too, so the close comes
            # IDLE after it: look only once that must be over
            await asyncio.sleep(max(0.0, closed_at + IDLE / 2 - asyncio.get_running_loop().time()))
            assert not await _refused(lport)
            await asyncio.sleep(IDLE + 1.5)
            assert await _refused(lport)
            assert not await _refused(strict_port)  # no idle timeout
            closed = await runtime.gateway.arequest(here, UNLISTEN, {"key": "2", "force": False}, 5)
            assert closed == {"closed": 0}
        finally:
            target.close()
            await hub.stop()
            await runtime.bus.close()

    asyncio.run(scenario())
    audit = runtime.services.audit.find(admin, q.Query(where=(q.Cond("action", q.Op.EQ, "tunnel.delete"),)))
    assert [(r.object_id, r.detail.get("why")) for r in audit.items] == [("1/1", "idle")]


async def _refused(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False
