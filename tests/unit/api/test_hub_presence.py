"""The hub stores connects and disconnects in batches, the latest per computer winning, so that a
reconnect racing its own disconnect never leaves a connected computer marked offline (or the
other way round), and a server stop leaves none of its computers online."""

from __future__ import annotations

import asyncio

from fleetdeck.api.agent.hub import AgentConn, AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.waiting import async_wait_for


async def _nothing(*_: object) -> None:
    return None


def _conn(cid: int) -> AgentConn:
    return AgentConn(computer_id=cid, hostname=f"pc{cid}", remote="127.0.0.7", send=_nothing, close=_nothing)


def _online(runtime: Runtime, admin: Actor, cid: int) -> tuple[bool, str]:
    c = runtime.services.computers.get(admin, cid).summary
    assert not c.online or c.remote_address == "127.0.0.7"
    return c.online, c.agent_version


def test_connects_and_disconnects_are_stored_in_order(runtime: Runtime, admin: Actor) -> None:
    a, b = (runtime.services.computers.create(admin, f"pc{i}").id for i in range(2))

    async def scenario() -> None:
        hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id="n1", flush_interval=0.01))
        await hub.start()
        try:
            first = _conn(a)
            await hub.attach(first)
            hub.came_online(first, "1.0")
            await hub.attach(other := _conn(b))
            hub.came_online(other, "1.0")
            await async_wait_for(
                lambda: _online(runtime, admin, a) == _online(runtime, admin, b) == (True, "1.0"),
                what="both computers stored online",
            )

            # a's connection drops and the agent is back before the next store: online, new version
            await hub.detach(first)
            again = _conn(a)
            await hub.attach(again)
            hub.came_online(again, "1.1")
            await hub.detach(other)  # b is gone
            # (no await above suspends: all four notices go into one store)
            await async_wait_for(
                lambda: not _online(runtime, admin, b)[0], what="b stored offline, in the same store as a"
            )
            assert _online(runtime, admin, a) == (True, "1.1")

            # a replaced connection's late notice changes nothing: once b's later reconnect is
            # stored, anything the notices had queued for a would have been stored with it or before
            hub.came_online(first, "1.0")
            await hub.detach(first)
            await hub.attach(back := _conn(b))
            hub.came_online(back, "2.0")
            await async_wait_for(lambda: _online(runtime, admin, b) == (True, "2.0"), what="b back online")
            assert _online(runtime, admin, a) == (True, "1.1")
        finally:
            await hub.stop()
        assert _online(runtime, admin, a)[0] is False  # stop: nothing of this node stays online

    asyncio.run(scenario())


def test_stop_marks_offline_what_detached_while_closing(runtime: Runtime, admin: Actor) -> None:
    cid = runtime.services.computers.create(admin, "pc").id

    async def scenario() -> None:
        hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id="n1", flush_interval=0.01))
        await hub.start()
        conn = _conn(cid)

        async def close_and_detach(_code: int, _reason: str) -> None:
            await hub.detach(conn)  # as the endpoint does when its socket closes

        conn.close = close_and_detach
        await hub.attach(conn)
        hub.came_online(conn, "1.0")
        await hub.stop()

    asyncio.run(scenario())
    assert _online(runtime, admin, cid)[0] is False
