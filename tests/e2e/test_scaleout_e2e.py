"""Scale-out with real processes (issue #19): several ``fleetdeck server`` processes on one
database and one Redis or NATS bus are one installation.

- Two processes: a command issued through B's API runs on an agent connected to A, and its
  result, the agent's inventory and its online state read the same through either API; a
  request to the agent (ping) through B reaches it on A; a third process started with A's node
  id changes nobody's presence; every housekeeping duty runs in exactly one process, and when
  that one is killed the other takes them all over and sweeps the dead one's agents offline.
- Three processes behind Debian's nginx on loopback: agents spread over them; one process is
  killed while every agent runs a job; its agents reconnect through nginx to the others within
  30 s and every job ends once, having run once.

The database is the suite's (``FLEETDECK_TEST_DB``: SQLite or PostgreSQL); the bus is the Redis
or NATS of the machine (tests/buses.py: skipped where absent, failed under CI=true).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.buses import REMOTE, bus_url, namespace
from tests.e2e.conftest import AgentProc, ServerProc, enrolled_agent, enrolled_as, free_port, wait_for
from tests.e2e.test_agent_e2e import run_command, wait_job
from tests.nginx import Nginx

# Real processes, a minute of lease failover: more than the suite's 300 s on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

# Every duty a process runs (core.housekeeping.standard_duties).
DUTIES = {
    "jobs.expiry",
    "jobs.lost",
    "deployments.tick",
    "nodes.sweep",
    "sessions.purge",
    "polling.offline",
    "polling.purge_events",
    "uploads.purge",
    "files.purge",
    "notifications.send",
    "monitoring.purge",
    "schedules.run",
}


def health(srv: ServerProc) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"http://127.0.0.1:{srv.port}/healthz", timeout=5).json()
    return body


def member(first: ServerProc, tmp_path: Path, node: str, port: int | None = None) -> ServerProc:
    """Another server process of ``first``'s installation: same data directory, database, key
    and bus; its own node id, port and log."""
    env = {k: v for k, v in first.env.items() if k.startswith("FLEETDECK_") and k != "FLEETDECK_DATA_DIR"}
    env["FLEETDECK_NODE_ID"] = node
    return ServerProc(
        first.data_dir, env["FLEETDECK_DATABASE_URL"], port or free_port(), tmp_path / f"{node}.log", env
    )


def bus_env(backend: str) -> dict[str, str]:
    return {
        "FLEETDECK_BUS_URL": bus_url(backend),
        "FLEETDECK_BUS_NAMESPACE": namespace(),
        # A killed process's agents are swept offline 15 s after its last renewal, not 30
        # (renewed every 5 s: three renewals, so that a loaded machine's stall loses nothing).
        "FLEETDECK_NODE_LEASE_SEC": "15",
    }


def computer(srv: ServerProc, cid: int) -> dict[str, Any]:
    with srv.client() as c:
        row: dict[str, Any] = c.get(f"/computers/{cid}").json()["data"]
        return row


def duties(servers: list[ServerProc]) -> list[set[str]]:
    return [set(health(s)["duties"]) for s in servers]


@pytest.mark.parametrize("backend", REMOTE)
def test_two_processes_on_one_bus_are_one_installation(
    backend: str,
    server_factory: Callable[..., ServerProc],
    agent_factory: Callable[..., AgentProc],
    tmp_path: Path,
) -> None:
    a = server_factory(**bus_env(backend), FLEETDECK_NODE_ID="a")
    a.start()
    b = member(a, tmp_path, "b")
    try:
        b.start()
        assert health(a)["bus"] == health(b)["bus"] == ("RedisBus" if backend == "redis" else "NatsBus")
        _agent, cid = enrolled_agent(a, agent_factory)
        assert health(a)["agents_connected"] == 1 and health(b)["agents_connected"] == 0

        # A command through B runs on A's agent; both APIs read the same result.
        job = run_command(b, cid, "echo through-b")
        done = wait_job(b, job)
        assert done["status"] == "succeeded" and done["stdout"] == "through-b\n", done
        assert wait_job(a, job) == done
        # A request through B reaches the agent held by A (bus.gateway across processes).
        with b.client() as c:
            r = c.post(f"/computers/{cid}/ping", params={"timeout": 10}, timeout=40)
        assert r.status_code == 200 and r.json()["data"]["computer_id"] == cid, r.text
        # Inventory and online state are the same through either process.
        seen_a, seen_b = computer(a, cid), computer(b, cid)
        assert seen_a["online"] is seen_b["online"] is True
        assert seen_a["os"] and {k: seen_a[k] for k in ("os", "hostname")} == {
            k: seen_b[k] for k in ("os", "hostname")
        }

        # A third process started with A's node id takes a name of its own and changes nobody.
        c3 = member(a, tmp_path, "a")
        c3.start()
        try:
            assert health(c3)["node"].startswith("a-")
            assert computer(c3, cid)["online"] is True
        finally:
            c3.stop()
        assert computer(b, cid)["online"] is True  # its clean stop marked only its own (none)

        # Every duty in exactly one process.
        split = wait_for(
            lambda: d if (d := duties([a, b]))[0] | d[1] == DUTIES else None, 30, what="every duty taken"
        )
        assert not split[0] & split[1], split

        # A is killed: B takes every duty over once A's leases run out, and sweeps A's node,
        # whose agent (it cannot reach B: it knows only A's address) goes offline.
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        wait_for(lambda: duties([b])[0] == DUTIES, 60, what="B to run every duty")
        wait_for(lambda: not computer(b, cid)["online"], 30, what="A's agent swept offline")
    finally:
        b.stop()


def spread(servers: list[ServerProc]) -> list[int]:
    out = []
    for s in servers:
        try:
            out.append(int(health(s)["agents_connected"]))
        except httpx.HTTPError:
            out.append(0)  # killed
    return out


@pytest.mark.parametrize("backend", REMOTE)
def test_behind_nginx_a_killed_process_loses_no_job_and_runs_none_twice(
    backend: str,
    server_factory: Callable[..., ServerProc],
    agent_factory: Callable[..., AgentProc],
    tmp_path: Path,
) -> None:
    agents_n = 6
    first = server_factory(
        **bus_env(backend), FLEETDECK_NODE_ID="n1", FLEETDECK_TRUSTED_PROXIES='["127.0.0.1"]'
    )
    servers = [first, member(first, tmp_path, "n2"), member(first, tmp_path, "n3")]
    proxy = Nginx(tmp_path / "nginx", [s.port for s in servers])
    try:
        for s in servers:
            s.start()
        proxy.start()
        # The installation's address is nginx's: agents enroll and connect through it.
        front = member(first, tmp_path, "front", port=proxy.port)
        with front.client() as c:  # one token for all (the API: a CLI call per agent is slow)
            r = c.post("/enroll-tokens", json={"max_uses": agents_n})
            assert r.status_code == 201, r.text
            token = r.json()["data"]["token"]
        cids = [
            enrolled_as(front, agent_factory(front, f"agent-{i}"), f"pc-{i}", token) for i in range(agents_n)
        ]
        wait_for(lambda: sum(spread(servers)) == agents_n, 30, what="every agent connected")
        counts = spread(servers)
        assert all(n >= 1 for n in counts), f"agents not spread over the processes: {counts}"

        # Every agent runs a job that notes each run in a file and takes 10 s.
        runs = tmp_path / "runs"
        runs.mkdir()
        with front.client() as c:
            r = c.post(
                "/commands",
                json={"computer_ids": cids, "command": f"echo ran > {runs}/run-$$; sleep 10; echo done"},
            )
            assert r.status_code == 201, r.text
            job_ids = r.json()["data"]["job_ids"]
        delivered: set[int] = set()

        def all_started() -> bool:  # each seen delivered once (on a slow machine not all at once)
            with front.client() as c:
                for j in set(job_ids) - delivered:
                    if c.get(f"/jobs/{j}").json()["data"]["status"] != "queued":
                        delivered.add(j)
            return delivered == set(job_ids)

        wait_for(all_started, 60, what="every job delivered")

        victim = max(range(3), key=lambda i: counts[i])
        held = counts[victim]
        killed = servers[victim]
        assert killed.proc is not None
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait()
        gone_at = time.monotonic()
        survivors = [s for i, s in enumerate(servers) if i != victim]
        wait_for(
            lambda: sum(spread(survivors)) == agents_n, 30, what=f"the killed process's {held} agents back"
        )
        back_after = time.monotonic() - gone_at
        assert back_after < 30

        finished = [wait_job(survivors[0], j, timeout=60) for j in job_ids]
        assert [f["status"] for f in finished] == ["succeeded"] * agents_n, finished
        assert all(f["stdout"] == "done\n" for f in finished), finished
        # Each job ran once: one file per run, one line in each.
        files = sorted(runs.iterdir())
        assert len(files) == agents_n, [p.name for p in files]
        assert all(p.read_text() == "ran\n" for p in files)
        with front.client() as c:
            for cid in cids:
                wait_for(
                    lambda cid=cid: c.get(f"/computers/{cid}").json()["data"]["online"], 30, what="online"
                )
    finally:
        proxy.stop()
        for s in servers:
            s.stop()
