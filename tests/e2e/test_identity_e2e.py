"""Clones and re-installs, end to end: real agent processes on one machine enroll against a real
server. Two agents here share the machine id, the host name and the network cards, which is
what a re-install looks like, and a clone that kept them (docs/operations.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CHEAP_ARGON2_ENV, SECRET
from tests.e2e.conftest import AgentProc, ServerProc, enrolled_agent, free_port, wait_for
from tests.e2e.test_agent_e2e import run_command, wait_job

pytestmark = pytest.mark.e2e


def audit(server: ServerProc, action: str) -> list[dict[str, Any]]:
    with server.client() as c:
        r = c.get("/audit", params={"filter[action]": action})
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()["data"]
        return rows


def online_computers(server: ServerProc) -> list[dict[str, Any]]:
    with server.client() as c:
        return [row for row in c.get("/computers").json()["data"] if row["online"]]


def second_agent(server: ServerProc, agent_factory: Callable[..., AgentProc]) -> AgentProc:
    token = server.enroll_token()
    agent: AgentProc = agent_factory(server, "second")
    agent.start(token=token)
    return agent


def test_a_second_agent_on_the_same_machine_becomes_its_own_computer(
    server: ServerProc, agent_factory: Callable[..., AgentProc]
) -> None:
    first, cid = enrolled_agent(server, agent_factory)
    second = second_agent(server, agent_factory)
    both = wait_for(lambda: len(rows := online_computers(server)) == 2 and rows, 30, what="two computers")
    other = next(row["id"] for row in both if row["id"] != cid)
    # The first agent was not locked out: it still runs commands, and so does the new computer.
    assert wait_job(server, run_command(server, cid, "echo first"))["stdout"] == "first\n"
    assert wait_job(server, run_command(server, other, "echo second"))["stdout"] == "second\n"
    assert first.proc is not None and first.proc.poll() is None
    assert second.proc is not None and second.proc.poll() is None
    # The audit says what happened: a new computer that resembles the first one.
    newest = audit(server, "agent.enroll")[0]
    assert newest["object_id"] == str(other)
    assert newest["detail"]["clone_of"] == cid and newest["detail"]["reenroll_allowed"] is False
    assert audit(server, "agent.reenroll") == []


def test_an_allowed_reenroll_replaces_the_agent_and_the_old_one_stops(
    server: ServerProc, agent_factory: Callable[..., AgentProc]
) -> None:
    first, cid = enrolled_agent(server, agent_factory)
    with server.client() as c:
        r = c.post(f"/computers/{cid}/allow-reenroll", json={"within_sec": 600})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["computer_id"] == cid and r.json()["data"]["reenroll_until"]
    second = second_agent(server, agent_factory)
    # The old agent is told at once (its connection is closed), says why, and exits with 3.
    assert first.proc is not None
    code = wait_for(lambda: first.proc.poll() if first.proc else None, 30, what="the replaced agent to exit")
    assert code == 3
    assert "rejected this agent's credentials" in first.log()
    assert "another agent re-enrolled it" in first.log()
    # Told by the server while still connected, not only when it next came back.
    assert "this computer was re-enrolled by another agent" in first.log()
    # The new agent is that computer now; no second computer appeared.
    wait_for(lambda: [r["id"] for r in online_computers(server)] == [cid], 30, what="the new agent online")
    with server.client() as c:
        assert [row["id"] for row in c.get("/computers").json()["data"]] == [cid]
    assert wait_job(server, run_command(server, cid, "echo replaced"))["stdout"] == "replaced\n"
    assert second.proc is not None and second.proc.poll() is None
    [allowed] = audit(server, "computer.allow_reenroll")
    assert (allowed["username"], allowed["object_id"], allowed["result"]) == ("admin", str(cid), "ok")
    [reenroll] = audit(server, "agent.reenroll")
    assert reenroll["object_id"] == str(cid) and reenroll["detail"]["hardware"] == "same"
    # Started again, the old installation is still refused, and stops again.
    first.start()
    assert first.proc is not None
    assert wait_for(lambda: first.proc.poll() if first.proc else None, 30, what="the old agent to stop") == 3


def test_fleetdeck_up_reports_a_rejected_local_agent(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "up.log"
    port = free_port()
    env = {
        **os.environ,
        "FLEETDECK_DATA_DIR": str(data_dir),
        "FLEETDECK_DATABASE_URL": db_url,
        "FLEETDECK_SECRET_KEY": SECRET,
        "FLEETDECK_HEARTBEAT_SEC": "1",
        **CHEAP_ARGON2_ENV,
    }

    def up() -> subprocess.Popen[bytes]:
        with log_path.open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "fleetdeck", "up", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def output() -> str:
        return log_path.read_text(errors="replace")

    proc = up()
    try:
        wait_for(lambda: "A local agent is running" in output(), 60, what=f"the agent to run:\n{output()}")
        assert "this computer is computer 1" in output()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        stop(proc)
    # The agent's key is no longer the computer's (as after a re-enrollment elsewhere).
    state_path = data_dir / "agent" / "state.json"
    state = json.loads(state_path.read_text())
    state["key"] = "0" * 32
    state_path.write_text(json.dumps(state))
    proc = up()
    try:
        wait_for(lambda: "The local agent is not running" in output(), 60, what=f"the rejection:\n{output()}")
        text = output()
        assert "A local agent is running" not in text
        assert "rejected the credentials" in text and str(data_dir / "agent") in text
        # The server itself keeps running.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert proc.poll() is None
    finally:
        stop(proc)
