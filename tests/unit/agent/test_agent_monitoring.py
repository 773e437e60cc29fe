"""The agent measures when its Welcome says so: a fake protocol server on 127.0.0.1 tells it
``monitoring_interval_sec=1`` and receives Measurement frames measured with psutil on this
machine; a Welcome without the field (an older server) gets none."""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.asyncio.server import serve

from fleetdeck.agent.config import AgentState, StateStore
from fleetdeck.agent.connection import Agent
from fleetdeck.protocol import messages as m

from .fakeserver import FakeServer

INVENTORY = m.Inventory(hostname="test-host", os_family="linux")


async def _measured(tmp_path: Path, interval: float) -> list[m.Measurement]:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/agent/v1/ws"
        state = AgentState(server=url, uid="uid-7", key="key-7", computer_id=7)
        store = StateStore(tmp_path)
        store.save(state)
        stop = asyncio.Event()
        agent = Agent(
            store, state, reconnect_min=0.05, reconnect_max=0.2, collect=lambda: INVENTORY, stop=stop
        )
        running = asyncio.create_task(agent.run())
        c = await server.next()
        await c.expect(m.Hello)
        welcome = m.Welcome(computer_id=7, heartbeat_sec=60, server_version="test")
        if interval:
            welcome = m.Welcome(
                computer_id=7, heartbeat_sec=60, server_version="test", monitoring_interval_sec=interval
            )
        await c.send(welcome)
        got: list[m.Measurement] = []
        try:
            async with asyncio.timeout(15 if interval else 2.5):  # none: 2.5 intervals of 1 s
                while len(got) < 2:
                    frame = await c.recv()
                    if isinstance(frame, m.Measurement):
                        got.append(frame)
        except TimeoutError:
            pass
        stop.set()
        await running
        return got


def test_the_agent_sends_measurements_at_the_told_interval(tmp_path: Path) -> None:
    got = asyncio.run(_measured(tmp_path, 1.0))
    assert len(got) == 2
    for sample in got:
        assert 0 <= sample.cpu_usage_percent <= 100 and 0 < sample.memory_usage_percent <= 100
        assert any(mp.path == "/" and mp.total_bytes > 0 for mp in sample.mountpoints)
        assert 0 < len(sample.processes) <= 30
    assert got[1].net_lan_in is None or got[1].net_lan_in >= 0


def test_an_older_server_gets_no_measurements(tmp_path: Path) -> None:
    assert asyncio.run(_measured(tmp_path, 0.0)) == []
