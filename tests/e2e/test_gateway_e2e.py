"""Asking agents through a real server process: a real agent answers pings; one frozen with
SIGSTOP makes the call time out after its timeout; a stopped one is unreachable at once; opsi's
``hostControl_reachable`` says the same. Scripted agents on a raw WebSocket stand for an agent
from before requests (it must get no Request frame) and one that never answers (the call times
out and the connection lives on)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import psutil
import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from fleetdeck.protocol import messages as m
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, wait_for

pytestmark = pytest.mark.e2e


def ping(server: ServerProc, cid: int, timeout: float) -> tuple[httpx.Response, float]:
    with server.client() as c:
        started = time.monotonic()
        response = c.post(f"/computers/{cid}/ping", params={"timeout": timeout}, timeout=timeout + 30)
        return response, time.monotonic() - started


def reachable(server: ServerProc, timeout: int | None = None) -> dict[str, bool]:
    params: list[Any] = [[]] if timeout is None else [[], timeout]
    body = {"jsonrpc": "2.0", "id": 1, "method": "hostControl_reachable", "params": params}
    r = httpx.post(f"{server.url}/rpc", json=body, auth=("admin", ADMIN_PASSWORD), timeout=60)
    assert r.status_code == 200 and r.json().get("error") is None, r.text
    result: dict[str, bool] = r.json()["result"]
    return result


def test_ping_a_real_agent_frozen_and_gone(
    server_factory: Callable[..., ServerProc], agent_factory: Callable[[ServerProc], AgentProc]
) -> None:
    # Heartbeats every 1 s, but the server waits 30 s before it drops a silent agent: the agent
    # is frozen for a few seconds here and must still count as connected.
    server = server_factory(FLEETDECK_OFFLINE_AFTER_SEC="30")
    server.start()
    agent, cid = enrolled_agent(server, agent_factory)

    r, _ = ping(server, cid, 5)
    assert r.status_code == 200, r.text
    pong = r.json()["data"]
    assert pong["computer_id"] == cid
    agent_time = datetime.fromisoformat(pong["agent_time"].replace("Z", "+00:00"))
    assert abs(agent_time.timestamp() - time.time()) < 30
    assert abs(pong["uptime_sec"] - (time.time() - psutil.boot_time())) < 30
    assert pong["round_trip_ms"] >= 0
    assert list(reachable(server).values()) == [True]

    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        r, waited = ping(server, cid, 1)
        assert r.status_code == 504 and r.json()["error"]["code"] == "agent_timeout", r.text
        assert waited >= 1.0  # it waited out its timeout
        assert list(reachable(server, 1).values()) == [False]
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    r, _ = ping(server, cid, 5)  # thawed: same connection, answering again
    assert r.status_code == 200, r.text

    agent.stop()
    with server.client() as c:
        wait_for(lambda: not c.get(f"/computers/{cid}").json()["data"]["online"], 20, what="offline")
    r, waited = ping(server, cid, 60)
    assert r.status_code == 503 and r.json()["error"]["code"] == "agent_unreachable", r.text
    assert waited < 30  # at once, not after the 60 s timeout
    assert list(reachable(server, 60).values()) == [False]


class ScriptedAgent:
    """Speaks the protocol by hand on a raw WebSocket, as an older or misbehaving agent would."""

    def __init__(self, server: ServerProc, name: str) -> None:
        token = server.enroll_token()
        self.url = server.url.replace("http", "ws", 1) + "/agent/v1/ws"
        self.hostname = f"scripted-{name}"
        with ws_connect(self.url, open_timeout=10) as ws:
            ws.send(m.encode(m.Enroll(token=token, hostname=self.hostname, agent_version="0.0.1")))
            enrolled = m.decode_from_server(ws.recv(timeout=10))
        assert isinstance(enrolled, m.Enrolled), enrolled
        self.computer_id, self.uid, self.key = enrolled.computer_id, enrolled.uid, enrolled.key
        self.ws: ClientConnection | None = None

    @contextlib.contextmanager
    def connect(self, features: list[str]) -> Iterator[ClientConnection]:
        with ws_connect(self.url, open_timeout=10) as ws:
            ws.send(m.encode(m.Hello(uid=self.uid, key=self.key, agent_version="0.0.1", features=features)))
            assert isinstance(m.decode_from_server(ws.recv(timeout=10)), m.Welcome)
            self.ws = ws
            yield ws

    def next_frame(self, timeout: float = 10) -> m.ServerMessage:
        assert self.ws is not None
        return m.decode_from_server(self.ws.recv(timeout=timeout))


def test_old_and_silent_agents(server_factory: Callable[..., ServerProc]) -> None:
    server = server_factory(FLEETDECK_OFFLINE_AFTER_SEC="60")  # scripted agents send no heartbeats
    server.start()
    old, silent = ScriptedAgent(server, "old"), ScriptedAgent(server, "silent")
    with (
        old.connect(features=[]) as old_ws,  # an agent from before requests
        silent.connect(features=[m.FEATURE_REQUESTS]) as silent_ws,
    ):
        _old_and_silent(server, old, old_ws, silent, silent_ws)


def _old_and_silent(
    server: ServerProc,
    old: ScriptedAgent,
    old_ws: ClientConnection,
    silent: ScriptedAgent,
    silent_ws: ClientConnection,
) -> None:
    with server.client() as c:

        def both_online() -> bool:
            rows = {r["id"]: r["online"] for r in c.get("/computers").json()["data"]}
            return rows.get(old.computer_id) is True and rows.get(silent.computer_id) is True

        wait_for(both_online, 20, what="both scripted agents online")

    r, _ = ping(server, old.computer_id, 60)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "agent_failed"
    assert r.json()["error"]["detail"]["reason"] == "unsupported"
    with pytest.raises(TimeoutError):
        old_ws.recv(timeout=0.5)  # it got nothing it could choke on

    r, waited = ping(server, silent.computer_id, 1)
    assert r.status_code == 504 and waited >= 1.0, r.text
    request = silent.next_frame()
    assert isinstance(request, m.Request) and request.kind == m.PING
    silent_ws.send(m.encode(m.Reply(ref_id=request.id, body={"time": 0, "uptime": 0})))  # too late: dropped

    # The same connection is fine: this time the scripted agent answers while the call waits.
    answered: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answered.append(ping(server, silent.computer_id, 10)[0]))
    caller.start()
    request = silent.next_frame()
    assert isinstance(request, m.Request)
    silent_ws.send(m.encode(m.Reply(ref_id=request.id, body={"time": 1_700_000_000, "uptime": 42.5})))
    caller.join(30)
    assert answered and answered[0].status_code == 200, answered
    assert answered[0].json()["data"]["uptime_sec"] == 42.5
    reach = {host.split(".")[0]: up for host, up in reachable(server, 1).items()}
    # The old one is connected and alive, if no talker; the silent one did not answer in time.
    assert reach == {old.hostname: True, silent.hostname: False}
