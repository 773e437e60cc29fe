#!/usr/bin/env python
"""Memory of one real agent process after its first inventory and a few jobs.

    .venv/bin/python bench/agent_rss.py [--jobs 5] [--runs 3] [--json]

Starts a real ``fleetdeck server`` (SQLite in a temporary directory, loopback) and one real
``fleetdeck agent`` enrolled with a token, waits until the agent has reported its inventory,
runs ``--jobs`` commands through ``POST /api/v1/commands`` one after another (each prints
1,000 x n lines and ``uname -a``, so output is streamed), waits until each has succeeded,
and reads the agent's resident set size with psutil. The target is < 40 MiB (a Salt minion
takes about 116 MB). This used to be a test assertion; a memory figure depends on the
machine and the Python build, so it is measured here and recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from agents import log
from real_agents import ADMIN, PASSWORD, start_server

TARGET_MIB = 40


def wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def one_run(base: Path, jobs: int) -> float:
    """Agent RSS in MiB after enrollment, inventory and ``jobs`` commands."""
    server, url, token = start_server(base, 1)
    state = base / "agent"
    state.mkdir()
    agent_log = (base / "agent.log").open("wb")
    cmd = [sys.executable, "-m", "fleetdeck", "agent", "--server", url, "--enroll-token", token]
    agent = subprocess.Popen(
        [*cmd, "--state-dir", str(state), "--log-level", "WARNING"],
        stdout=agent_log,
        stderr=agent_log,
    )
    try:
        with httpx.Client(base_url=f"{url}/api/v1", auth=(ADMIN, PASSWORD), timeout=30) as api:

            def inventoried() -> int | None:
                rows = api.get("/computers").json()["data"]
                return next((c["id"] for c in rows if c["online"] and c["os"]), None)

            cid = wait("the agent online with its inventory", inventoried)
            for n in range(1, jobs + 1):
                body = {"computer_ids": [cid], "command": f"seq 1 {n * 1000}; uname -a"}
                job_id = api.post("/commands", json=body).json()["data"]["job_ids"][0]

                def finished(job_id: int = job_id) -> str | None:
                    status = str(api.get(f"/jobs/{job_id}").json()["data"]["status"])
                    return status if status not in ("queued", "sent", "running") else None

                status = wait(f"job {job_id}", finished)
                if status != "succeeded":
                    raise SystemExit(f"job {job_id} ended {status}")
        return float(psutil.Process(agent.pid).memory_info().rss / 2**20)
    finally:
        agent.terminate()
        agent.wait(15)
        agent_log.close()
        server.terminate()
        server.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    figures = []
    for run in range(opts.runs):
        base = Path(tempfile.mkdtemp(prefix="fdrss-"))
        try:
            figures.append(one_run(base, opts.jobs))
        finally:
            shutil.rmtree(base, ignore_errors=True)
        log(f"run {run + 1}: agent RSS after inventory + {opts.jobs} jobs: {figures[-1]:.1f} MiB")
    result = {
        "jobs": opts.jobs,
        "agent_rss_mib": [round(f, 1) for f in figures],
        "agent_rss_mib_max": round(max(figures), 1),
        "agent_rss_mib_median": round(statistics.median(figures), 1),
        "target_mib": TARGET_MIB,
    }
    if opts.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"agent RSS after inventory + {opts.jobs} jobs: median {result['agent_rss_mib_median']} MiB,"
            f" max {result['agent_rss_mib_max']} MiB (target < {TARGET_MIB} MiB)"
        )


if __name__ == "__main__":
    main()
