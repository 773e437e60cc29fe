"""How the agent comes back, or does not, against a fake protocol server on 127.0.0.1: a
healthy connection that drops without a Bye keeps its retries within the window the server's
Welcome announced; a deleted computer's agent stops with exit code 3."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from fleetdeck.agent import connection
from fleetdeck.agent.config import AgentState, StateStore
from fleetdeck.agent.connection import EXIT_DELETED, Agent
from fleetdeck.protocol import messages as m

from .fakeserver import FakeServer

INVENTORY = m.Inventory(hostname="test-host", os_family="linux")


def _agent(tmp_path: Path, url: str, stop: asyncio.Event) -> Agent:
    state = AgentState(server=url, uid="uid-7", key="key-7", computer_id=7)
    store = StateStore(tmp_path)
    store.save(state)
    return Agent(store, state, reconnect_min=0.05, reconnect_max=600, collect=lambda: INVENTORY, stop=stop)


def test_a_healthy_connection_dropped_without_bye_comes_back_within_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "HEALTHY_AFTER_SEC", 0.0)  # every session counts as healthy

    async def scenario() -> None:
        server = FakeServer()
        async with serve(server.handler, "127.0.0.1", 0) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
            stop = asyncio.Event()
            agent = _agent(tmp_path, url, stop)
            agent.backoff.attempt = 12  # it had been failing for a while before this session
            running = asyncio.create_task(agent.run())
            c = await server.next()
            await c.expect(m.Hello)
            await c.send(
                m.Welcome(computer_id=7, heartbeat_sec=1, server_version="t", reconnect_window_sec=3)
            )
            await c.ws.close()  # dropped without a Bye (a killed server)
            # It comes back at once (delays start over: the first is 0.05 s, not up to 600 s)
            c = await asyncio.wait_for(server.next(), 30)
            assert agent.backoff.window == 3 and agent.backoff.attempt <= 1
            stop.set()
            await asyncio.wait_for(running, 5)

    asyncio.run(scenario())


def test_a_deleted_computers_agent_stops_with_its_exit_code(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = FakeServer()
        async with serve(server.handler, "127.0.0.1", 0) as srv:
            url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
            agent = _agent(tmp_path, url, asyncio.Event())
            running = asyncio.create_task(agent.run())
            c = await server.next()
            await c.expect(m.Hello)
            await c.send(m.Welcome(computer_id=7, heartbeat_sec=1, server_version="t"))
            await c.send(m.Error(code=m.ERROR_COMPUTER_DELETED, message="deleted"))
            await asyncio.wait_for(running, 10)  # stops by itself, without reconnecting
            assert agent.exit_code == EXIT_DELETED == 3
            assert agent.connections == 1

    asyncio.run(scenario())
