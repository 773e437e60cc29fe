#!/usr/bin/env python
"""N real agent processes against a real server on this machine: time for one command to reach
all of them with every result stored, and the agents' memory.

    sudo .venv/bin/python bench/real_agents.py -n 100 [--runs 3] [--json]

Each agent is ``python -m fleetdeck.agent`` (``--agent-python``: e.g. the agent-only install's)
with its own state directory, started in its own UTS
namespace (``unshare --uts``, hence root) so that it reports its own host name and enrolls as its
own computer; everything else (inventory, dpkg software list, WebSocket, jobs) is the real agent.
The command is ``true``: the figure is delivery and bookkeeping, not the command.

Reported per run: POST /api/v1/commands returned; the API first reports ``succeeded == N``
(a long poll, ``GET /commands/{id}?wait=``, answered when the last result is stored: no
polling load on the server while the agents answer). The runs start ``--settle`` seconds after
the last agent came online, so that the agents' start-up work (first inventory) is over.
Agent RSS (mean and max) is read with psutil after the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from agents import cli, free_port, log

ADMIN, PASSWORD = "admin", "bench-password-1"


def start_server(data_dir: Path, agents: int) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "FLEETDECK_DATA_DIR": str(data_dir), "FLEETDECK_HEARTBEAT_SEC": "30"}
    cli(["user", "create", ADMIN, "--role", "admin", "--password", PASSWORD], env)
    # no use limit: on an overloaded machine an agent may time out waiting for its answer and
    # enroll again, using the token twice
    token = cli(["enroll-token", "create", "--expires", "1h"], env).splitlines()[-1]
    port = free_port()
    logf = open(data_dir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetdeck", "server", "--port", str(port)], env=env, stdout=logf, stderr=logf
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, token
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not become healthy within 60 s")


def start_agent(
    i: int, base: Path, url: str, token: str, python: str = sys.executable
) -> subprocess.Popen[bytes]:
    state = base / f"agent-{i:03d}"
    state.mkdir()
    agent = [python, "-m", "fleetdeck.agent", "--server", url, "--enroll-token", token]
    agent += ["--state-dir", str(state), "--log-level", "WARNING"]
    script = f"hostname bench-real-{i:03d} && exec " + " ".join(agent)
    logf = open(state / "agent.log", "wb")  # noqa: SIM115 - lives as long as the agent
    return subprocess.Popen(["unshare", "--uts", "sh", "-c", script], stdout=logf, stderr=logf)


def phases(api: httpx.Client, batch_id: int, t0: float, done: float) -> dict[str, float]:
    """Where a run's time went, from the jobs' own timestamps (server and agents share this
    machine's clock): ``sent_at`` is when the server handed the JobRun to the WebSocket,
    ``started_at``/``finished_at`` the agent's, around the command's process.

    * ``last_sent``: POST until the last JobRun went out (server: create, claim, frames);
    * ``to_start_max``: JobRun out until the agent started the process, the slowest agent
      (transit, the agent's decode and journal write, and waiting for a CPU);
    * ``run_max``: the process, the slowest (spawn, ``true``, exit, pipes closed);
    * ``last_finished``: POST until the last agent had its result;
    * ``to_stored``: from then until the API reported all stored (result transit, the
      server's batch write and ack, the announcement that ends the long poll).
    """
    params = {"filter[batch_id]": batch_id, "page[limit]": 1000}
    jobs = api.get("/jobs", params=params).json()["data"]

    def ts(value: str | None) -> float:
        return datetime.fromisoformat(value).timestamp() if value else float("nan")

    sent = [ts(j["sent_at"]) for j in jobs]
    started = [ts(j["started_at"]) for j in jobs]
    finished = [ts(j["finished_at"]) for j in jobs]
    last_finished = max(finished) - t0
    return {
        "last_sent": round(max(sent) - t0, 3),
        "to_start_max": round(max(b - a for a, b in zip(sent, started, strict=True)), 3),
        "run_max": round(max(b - a for a, b in zip(started, finished, strict=True)), 3),
        "run_median": round(statistics.median(b - a for a, b in zip(started, finished, strict=True)), 3),
        "last_finished": round(last_finished, 3),
        "to_stored": round(done - last_finished, 3),
    }


def agent_processes(pid: int) -> list[psutil.Process]:
    """The agent's Python process under ``unshare``/``sh`` (``exec``'d, so usually ``pid``'s child)."""
    tree = [*psutil.Process(pid).children(recursive=True), psutil.Process(pid)]
    return [p for p in tree if "fleetdeck.agent" in " ".join(p.cmdline())]


def cpu_seconds(procs: list[psutil.Process]) -> tuple[float, float]:
    """CPU time (user + system) of ``procs``, and of the children they have reaped (the jobs'
    ``sh``): what a run took from the two cores, to set beside its wall time."""
    own = children = 0.0
    for p in procs:
        t = p.cpu_times()
        own += t.user + t.system
        children += t.children_user + t.children_system
    return own, children


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--agents", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=30.0, help="seconds to wait after all are online")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="the server's nice value (e.g. -10: the server ahead of the agents on the shared"
        " cores, as if it had a machine of its own; reported with the figures)",
    )
    ap.add_argument(
        "--agent-python",
        default=sys.executable,
        help="the Python that runs the agents: e.g. the agent-only venv's (make agent-venv)",
    )
    opts = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise SystemExit("needs root and unshare(1): each agent gets its own host name")
    base = Path(tempfile.mkdtemp(prefix="fdreal-"))
    server, url, token = start_server(base, opts.agents)
    if opts.server_nice:
        os.setpriority(os.PRIO_PROCESS, server.pid, opts.server_nice)
    agents: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {
        "agents": opts.agents,
        "nproc": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "agent_python": opts.agent_python,
        "server_nice": opts.server_nice,
    }
    try:
        t0 = time.perf_counter()
        agents = [start_agent(i, base, url, token, opts.agent_python) for i in range(opts.agents)]
        api = httpx.Client(base_url=f"{url}/api/v1", auth=(ADMIN, PASSWORD), timeout=120)
        token_r = api.post("/auth/login", json={"username": ADMIN, "password": PASSWORD}).json()
        api.auth = None
        api.headers["Authorization"] = f"Bearer {token_r['data']['token']}"
        while True:
            computers = api.get("/computers", params={"page[limit]": 1000}).json()["data"]
            online = [c["id"] for c in computers if c["online"]]
            if len(online) >= opts.agents:
                break
            if time.perf_counter() - t0 > 600:
                raise SystemExit(f"only {len(online)} of {opts.agents} agents came online in 10 min")
            time.sleep(1)
        result["all_online_sec"] = round(time.perf_counter() - t0, 2)
        log(f"{opts.agents} agents online after {result['all_online_sec']} s")
        # 100 agents starting on 2 cores: their first inventories (dpkg) keep the CPUs busy for a while
        time.sleep(opts.settle)
        runs = []
        agent_procs = [p for a in agents for p in agent_processes(a.pid)]
        server_proc = psutil.Process(server.pid)
        for run in range(opts.runs):
            cpu0 = cpu_seconds(agent_procs), cpu_seconds([server_proc])
            t = time.perf_counter()
            wall = time.time()
            batch = api.post("/commands", json={"computer_ids": online, "command": "true"}).json()["data"]
            posted = time.perf_counter() - t
            while True:  # a long poll: answered when the last result is stored
                counts = api.get(f"/commands/{batch['id']}", params={"wait": 30}).json()["data"]["counts"]
                if counts.get("succeeded", 0) >= opts.agents:
                    break
                if time.perf_counter() - t > 60:
                    raise SystemExit(f"run {run}: not all succeeded within 60 s: {counts}")
            done = time.perf_counter() - t
            runs.append({"post_sec": round(posted, 3), "all_succeeded_sec": round(done, 3)})
            cpu1 = cpu_seconds(agent_procs), cpu_seconds([server_proc])
            runs[-1]["cpu_agents_sec"] = round(cpu1[0][0] - cpu0[0][0], 3)
            runs[-1]["cpu_jobs_sec"] = round(cpu1[0][1] - cpu0[0][1], 3)
            runs[-1]["cpu_server_sec"] = round(cpu1[1][0] - cpu0[1][0], 3)
            runs[-1].update(phases(api, batch["id"], wall, done))
            log(f"run {run + 1}: POST {posted:.3f} s, all {opts.agents} results stored after {done:.3f} s")
            log(f"  phases: {runs[-1]}")
            time.sleep(2)
        result["runs"] = runs
        rss, pss = [], []
        for p in agent_procs:
            info = p.memory_full_info()
            rss.append(info.rss)
            pss.append(getattr(info, "pss", 0))
        result["agent_pss_mib_mean"] = round(statistics.mean(pss) / 2**20, 1)
        result["agent_rss_mib_mean"] = round(statistics.mean(rss) / 2**20, 1)
        result["agent_rss_mib_max"] = round(max(rss) / 2**20, 1)
        result["loadavg_end"] = os.getloadavg()
        log(
            f"agent RSS: mean {result['agent_rss_mib_mean']} MiB, max {result['agent_rss_mib_max']} MiB;"
            f" PSS mean {result['agent_pss_mib_mean']} MiB"
        )
    finally:
        for a in agents:
            a.terminate()
        for a in agents:
            try:
                a.wait(10)
            except subprocess.TimeoutExpired:
                a.kill()
        server.terminate()
        server.wait(15)
        shutil.rmtree(base, ignore_errors=True)
    if opts.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
