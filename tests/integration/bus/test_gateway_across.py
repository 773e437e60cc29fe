"""Requests to agents across processes: the caller's gateway on one bus connection, the agent
hub holding the agents on another (two server processes, as Redis or NATS connects them).
Many calls at once each get their own answer, and no call makes a subscription of its own:
answers come back through the process's one reply subscription."""

from __future__ import annotations

import asyncio

import pytest

from fleetdeck.api.agent.hub import AgentConn, AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.bus.gateway import BusAgentGateway
from fleetdeck.bus.remote import RemoteBus
from fleetdeck.core.errors import AgentUnreachable
from fleetdeck.core.ports import AgentAddress
from fleetdeck.protocol import messages as m
from tests.buses import BACKENDS, make_bus, namespace

NODE = "holder"


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_requests_through_another_process(backend: str, runtime: Runtime) -> None:
    async def scenario() -> None:
        ns = namespace()
        holder_bus = make_bus(backend, ns)
        caller_bus = holder_bus if backend == "local" else make_bus(backend, ns)
        await holder_bus.start()
        if caller_bus is not holder_bus:
            await caller_bus.start()
        hub = AgentHub(runtime.services, holder_bus, HubConfig(node_id=NODE))
        await hub.start()
        gateway = BusAgentGateway(caller_bus)
        await gateway.start()

        def agent(cid: int) -> AgentConn:
            async def send(frame: bytes) -> None:  # the agent answers every request at once
                request = m.decode_from_server(frame)
                if not isinstance(request, m.Request):
                    return  # the Bye of the hub's stop
                reply = m.Reply(ref_id=request.id, body={"computer": cid, "kind": request.kind})
                asyncio.get_running_loop().call_soon(asyncio.ensure_future, hub.agent_reply(conn, reply))

            async def close(code: int, reason: str) -> None:
                return None

            conn = AgentConn(
                cid, f"pc{cid}", "127.0.0.1", send, close, features=frozenset({m.FEATURE_REQUESTS})
            )
            return conn

        try:
            for cid in range(1, 201):
                await hub.attach(agent(cid))
            addresses = [AgentAddress(cid, NODE) for cid in range(1, 201)]
            subscribed = len(caller_bus.keys()) if isinstance(caller_bus, RemoteBus) else None
            answers = await gateway._many(addresses, m.PING, {}, 20)
            assert answers == {cid: {"computer": cid, "kind": m.PING} for cid in range(1, 201)}
            if isinstance(caller_bus, RemoteBus):  # one reply subscription, made by the first call
                assert len(caller_bus.keys()) == (subscribed or 0) + 1
            with pytest.raises(AgentUnreachable):  # not held there: answered at once, across
                await gateway.arequest(AgentAddress(999, NODE), m.PING, {}, 20)
        finally:
            await gateway.close()
            await hub.stop()
            await holder_bus.close()
            if caller_bus is not holder_bus:
                await caller_bus.close()

    asyncio.run(scenario())
