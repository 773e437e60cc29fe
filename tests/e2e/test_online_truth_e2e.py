"""Online truth with real processes: a second server process never changes what the first one's
agents look like, deleting a computer ends its agent's connection, and a server restart brings
its agents back within the reconnect window it announced (issue #11)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    AgentProc,
    ServerProc,
    enrolled_agent,
    enrolled_as,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e


def online_ids(srv: ServerProc) -> set[int]:
    with srv.client() as c:
        return {r["id"] for r in c.get("/computers").json()["data"] if r["online"]}


def health(srv: ServerProc) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{srv.url}/healthz", timeout=5).json()
    return body


def sibling(srv: ServerProc, tmp_path: Path, name: str, port: int | None = None) -> ServerProc:
    """A second server process on the first one's data directory and database."""
    return ServerProc(
        srv.data_dir,
        srv.env["FLEETDECK_DATABASE_URL"],
        port or free_port(),
        tmp_path / f"{name}.log",
        {k: v for k, v in srv.env.items() if k.startswith("FLEETDECK_") and k not in ("FLEETDECK_DATA_DIR",)},
    )


def test_a_second_server_on_a_taken_port_changes_nothing(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    second = sibling(server, tmp_path, "second", port=server.port)
    log = second.log_path.open("ab")
    out = subprocess.run(
        [sys.executable, "-m", "fleetdeck", "server", "--port", str(second.port)],
        env=second.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    log.close()
    text = second.log_path.read_text()
    # The live fleet is unchanged: the computer is online, held by the first process.
    assert cid in online_ids(server), text
    with server.client() as c:
        assert c.get(f"/computers/{cid}").json()["data"]["online"] is True
    assert health(server)["node"] == "local"
    assert out.returncode != 0, text
    assert "cannot listen on" in text
    assert "offline" not in text  # it touched nobody's presence


def test_two_server_processes_on_one_database_each_see_the_others_agents(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    """Both processes are started with the same (default) node id: the second one must take a
    name of its own instead of "cleaning up" the first one's computers."""
    _a, first_cid = enrolled_agent(server, agent_factory)
    second = sibling(server, tmp_path, "second")
    second.start()
    try:
        assert first_cid in online_ids(second)  # the second start left the first's agent online
        assert health(server)["node"] == "local"
        node_b = health(second)["node"]
        assert isinstance(node_b, str) and node_b.startswith("local-")
        assert "is in use by another running server process" in second.log_path.read_text()

        second_cid = enrolled_as(second, agent_factory(second, "agent-b"), "second-pc")
        both = wait_for(
            lambda: ids if len(ids := online_ids(second)) == 2 else None,
            30,
            what="the second process's agent online",
        )
        assert both == {first_cid, second_cid}
        assert online_ids(server) == both  # each process sees the other's agents online
        # and neither one's housekeeping sweeps the other's node while both live
        server_renews_and_sweeps = wait_for(
            lambda: (
                "nodes.sweep" in str(health(server)["duties"])
                or "nodes.sweep" in str(health(second)["duties"])
            ),
            30,
            what="one process running the node sweep",
        )
        assert server_renews_and_sweeps
        assert online_ids(server) == online_ids(second) == both
    finally:
        second.stop()
    # The second process stopped cleanly: its agent's computer is offline, the first one's not.
    left = online_ids(server)
    assert first_cid in left and len(left) == 1


def last_seen(srv: ServerProc, cid: int) -> str:
    with srv.client() as c:
        seen: str = c.get(f"/computers/{cid}").json()["data"]["last_seen"]
    return seen


def test_deleting_a_connected_computer_stops_its_agent_and_nobody_elses_presence(
    server: ServerProc, agent_factory: Callable[..., AgentProc]
) -> None:
    """(opsi's host_delete takes the same way: tests/integration/agent/test_deleted.py.)"""
    deleted, cid = enrolled_agent(server, agent_factory)
    bystander_cid = enrolled_as(server, agent_factory(server, "agent-bystander"), "bystander-pc")
    wait_for(lambda: online_ids(server) == {cid, bystander_cid}, 30, what="both agents online")

    with server.client() as c:
        assert c.delete(f"/computers/{cid}").status_code == 204

    # The deleted computer's agent is told why and stops, with an exit code of its own
    proc = deleted.proc
    assert proc is not None
    wait_for(lambda: proc.poll() is not None, 30, what="the deleted computer's agent to exit")
    assert proc.returncode == 3, deleted.log()[-2000:]
    assert "the server deleted this computer" in deleted.log()

    # The others' presence keeps being stored (heartbeats every 1 s, stored every few s)
    before = last_seen(server, bystander_cid)
    wait_for(
        lambda: last_seen(server, bystander_cid) > before, 30, what="the bystander's last_seen to move on"
    )
    assert online_ids(server) == {bystander_cid}
    text = server.log_path.read_text()
    assert "StaleDataError" not in text and "updating last_seen failed" not in text


WINDOW = 5  # the server's reconnect window in the restart test, seconds


def test_a_restarted_server_gets_its_agents_back_within_the_window_it_announced(
    server_factory: Callable[..., ServerProc], agent_factory: Callable[..., AgentProc]
) -> None:
    """The agent's own backoff is long here (up to 10 min), as in production, so only the Bye
    and the window can bring it back soon."""
    srv = server_factory(FLEETDECK_RECONNECT_WINDOW_SEC=str(WINDOW))
    srv.start()
    token = srv.enroll_token()
    agent = agent_factory(srv)
    agent.start("--reconnect-min", "1", "--reconnect-max", "600", token=token)
    wait_for(lambda: "connected to" in agent.log(), 60, what="the agent connected")

    srv.stop()  # SIGTERM
    wait_for(lambda: "server said bye" in agent.log(), 10, what="the agent to get the Bye")
    assert f"reconnecting within {WINDOW} s" in agent.log()
    # While the server is away the agent keeps trying, each delay within the window (without
    # it they doubled: 1, 2, 4, 8, 16 ... s)
    wait_for(lambda: agent.log().count("Connect call failed") >= 5, 90, what="five failed reconnects")
    after_bye = agent.log().split("server said bye", 1)[1]
    delays = [float(d) for d in re.findall(r"reconnecting in ([0-9.]+) s", after_bye)]
    assert len(delays) >= 5 and all(d <= WINDOW for d in delays), delays

    srv.start()
    wait_for(lambda: agent.log().count("connected to") >= 2, 60, what="the agent back after the restart")
    with srv.client() as c:
        wait_for(lambda: [r["online"] for r in c.get("/computers").json()["data"]] == [True], 30)
