"""The agent answers the server's requests on a live connection (a fake protocol server on
127.0.0.1): pings with its clock and uptime, unknown kinds with an error reply, and frames of
types it does not know are ignored without dropping the connection."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import psutil
import pytest
from websockets.asyncio.server import serve

from fleetdeck.agent import requests
from fleetdeck.agent.config import AgentState, StateStore
from fleetdeck.agent.connection import Agent
from fleetdeck.protocol import messages as m

from .fakeserver import FakeServer

INVENTORY = m.Inventory(hostname="test-host", os_family="linux")


async def _answers(tmp_path: Path) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
        stop = asyncio.Event()
        state = AgentState(server=url, uid="u", key="k", computer_id=7)
        agent = Agent(StateStore(tmp_path), state, collect=lambda: INVENTORY, stop=stop)
        running = asyncio.create_task(agent.run())
        c = await server.next()
        hello = await c.expect(m.Hello)
        base = [
            m.FEATURE_REQUESTS,
            m.FEATURE_TUNNELS,
            m.FEATURE_UPDATE,
            m.FEATURE_BINARY_STREAMS,
            m.FEATURE_UDP,
            m.FEATURE_TERMINAL,
            m.FEATURE_TERM_INPUT_ACK,
        ]
        zsh = [m.FEATURE_ZSH] if shutil.which("zsh") else []  # announced where zsh is installed
        assert hello.features == base + zsh
        await c.send(m.Welcome(computer_id=7, heartbeat_sec=60, server_version="t", want_inventory=False))

        before = time.time()
        await c.send(m.Request(id=1, kind=m.PING))
        _, pong = await c.recv_until(m.Reply)
        assert (pong.ref_id, pong.ok, pong.error) == (1, True, "")
        assert before <= pong.body["time"] <= time.time()
        assert abs(pong.body["uptime"] - (time.time() - psutil.boot_time())) < 5

        # A newer server's frames: an unknown message type, and an unknown request kind.
        await c.ws.send('{"type":"screen_share","size":2}')
        await c.send(m.Request(id=2, kind="tunnel_open", body={"port": 22}))
        _, refusal = await c.recv_until(m.Reply)
        assert (refusal.ref_id, refusal.ok) == (2, False)
        assert refusal.error == "unknown request kind 'tunnel_open'"

        await c.send(m.Request(id=3, kind=m.PING))  # still the same connection
        _, again = await c.recv_until(m.Reply)
        assert again.ref_id == 3 and again.ok
        assert agent.connections == 1
        stop.set()
        await asyncio.wait_for(running, 5)


def test_agent_answers_requests_and_ignores_what_it_does_not_know(tmp_path: Path) -> None:
    asyncio.run(_answers(tmp_path))


def test_a_failing_handler_is_an_error_reply(monkeypatch: pytest.MonkeyPatch) -> None:

    def broken(_body: dict[str, object]) -> dict[str, object]:
        raise OSError("no /proc here")

    monkeypatch.setitem(requests.HANDLERS, "broken", broken)
    reply = requests.answer(m.Request(id=5, kind="broken"))
    assert (reply.ref_id, reply.ok, reply.error) == (5, False, "OSError: no /proc here")
