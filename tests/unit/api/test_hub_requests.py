"""Requests to agents through the bus and the hub (``bus.gateway`` + ``api.agent.hub``), with
connections whose socket is a list of sent frames: the reply comes back to the caller; a
computer this node does not hold, an agent too old for requests, one that disconnects and one
that never answers each end the call the way the port promises, and nothing is left behind."""

from __future__ import annotations

import asyncio

import pytest

from fleetdeck.api.agent.hub import AgentConn, AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.core.errors import AgentFailed, AgentTimeout, AgentUnreachable
from fleetdeck.core.ports import AgentAddress
from fleetdeck.protocol import messages as m

NODE = "n1"


class Socket:
    def __init__(self) -> None:
        self.frames: list[m.ServerMessage | m.Unknown] = []

    async def send(self, frame: bytes) -> None:
        self.frames.append(m.decode_from_server(frame))

    async def close(self, code: int, reason: str) -> None:
        return None


def _conn(cid: int, socket: Socket, features: frozenset[str] = frozenset({m.FEATURE_REQUESTS})) -> AgentConn:
    return AgentConn(cid, f"pc{cid}", "127.0.0.1", socket.send, socket.close, features=features)


async def _request_sent(socket: Socket) -> m.Request:
    async with asyncio.timeout(5):
        while not socket.frames:
            await asyncio.sleep(0.001)
    frame = socket.frames.pop()
    assert isinstance(frame, m.Request)
    return frame


def test_requests_through_the_hub(runtime: Runtime) -> None:
    async def scenario() -> None:
        await runtime.bus.start()
        hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id=NODE))
        await hub.start()
        gateway = runtime.gateway
        try:
            new, old = Socket(), Socket()
            conn = _conn(1, new)
            await hub.attach(conn)
            await hub.attach(_conn(2, old, features=frozenset()))
            here = AgentAddress(1, NODE)

            # answered
            call = asyncio.ensure_future(gateway.arequest(here, m.PING, {}, 5))
            request = await _request_sent(new)
            assert request.kind == m.PING and request.body == {}
            await hub.agent_reply(_conn(1, Socket()), m.Reply(ref_id=request.id))  # not this connection's
            await hub.agent_reply(conn, m.Reply(ref_id=request.id, body={"time": 1.0, "uptime": 2.0}))
            assert await call == {"time": 1.0, "uptime": 2.0}
            assert conn.requests == {}

            # refused by the agent
            call = asyncio.ensure_future(gateway.arequest(here, "tunnel_open", {"port": 22}, 5))
            request = await _request_sent(new)
            await hub.agent_reply(conn, m.Reply(ref_id=request.id, ok=False, error="unknown request kind"))
            with pytest.raises(AgentFailed) as failed:
                await call
            assert failed.value.detail["reason"] == "agent"

            # not held by this node (the database said so a moment ago), at once
            with pytest.raises(AgentUnreachable) as unreachable:
                await gateway.arequest(AgentAddress(3, NODE), m.PING, {}, 60)
            assert unreachable.value.detail["reason"] == "not_held"

            # an agent from before requests gets no Request frame: it would drop the connection
            with pytest.raises(AgentFailed) as failed:
                await gateway.arequest(AgentAddress(2, NODE), m.PING, {}, 60)
            assert failed.value.detail["reason"] == "unsupported" and old.frames == []

            # the agent disconnects while the caller waits: told at once
            call = asyncio.ensure_future(gateway.arequest(here, m.PING, {}, 60))
            await _request_sent(new)
            await hub.detach(conn)
            with pytest.raises(AgentUnreachable) as unreachable:
                await call
            assert unreachable.value.detail["reason"] == "disconnected"

            # no answer: the caller times out, the hub forgets the request a little later,
            # and a late reply is dropped
            conn = _conn(1, new)
            await hub.attach(conn)
            with pytest.raises(AgentTimeout):
                await gateway.arequest(here, m.PING, {}, 0.1)
            late = (await _request_sent(new)).id
            assert list(conn.requests) == [late]
            await asyncio.sleep(1.2)
            assert conn.requests == {}
            await hub.agent_reply(conn, m.Reply(ref_id=late))

            # nobody holds that node any more (it died): only the timeout ends the call
            with pytest.raises(AgentTimeout):
                await gateway.arequest(AgentAddress(1, "gone"), m.PING, {}, 0.1)
        finally:
            await hub.stop()
            await runtime.bus.close()

    asyncio.run(scenario())
