#!/usr/bin/env python
"""One agent's path from a JobRun to its process and back: CPU and latency per job.

    build/agent-venv/bin/python bench/agent_job_path.py [-n 200] [--state-dir DIR]

Runs the agent's real JobRunner (real journal in ``--state-dir``, default a new directory under
/var/tmp so that fsync reaches a disk, real ``sh -c true`` processes) with the result sent
nowhere, one job after the other, each acknowledged as the server would. Per job it prints the
agent process's CPU time (``process_time``: the main thread and the journal's worker thread,
not the job's own process), the time from ``submit`` to the process having started
(``started_at``), and to the result being sent. In a fan-out to 100 agents on 2 cores the CPU
figure is what every agent takes from the others; the latency is what one agent adds alone.

For an A/B run it with the Python of another install (``--agent-python`` of
bench/real_agents.py, e.g. a copy of build/agent-venv made before a change): it imports
``fleetdeck.agent`` from whichever Python runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from fleetdeck.agent.jobs import JobRunner
from fleetdeck.agent.journal import Journal
from fleetdeck.protocol import messages as m


def job(job_id: int) -> m.JobSpec:
    return m.JobSpec(id=job_id, kind="command", command=m.CommandSpec(command="true"))


async def measure(n: int, state_dir: str) -> dict[str, float]:
    sent: dict[int, tuple[float, m.JobResult]] = {}
    arrived = asyncio.Event()

    async def send(msg: m.Message) -> None:
        if isinstance(msg, m.JobResult):
            sent[msg.job_id] = (time.time(), msg)
            arrived.set()

    runner = JobRunner(Journal(state_dir), send)
    for i in range(5):  # warm-up: imports, the executor's thread, the first spawn's checks
        runner.submit(job(1_000_000 + i))
        await runner.drain()
        runner.ack([1_000_000 + i])
    to_start: list[float] = []
    to_result: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(1, n + 1):
        at = time.time()
        runner.submit(job(i))
        while i not in sent:
            await arrived.wait()
            arrived.clear()
        done, result = sent[i]
        to_start.append((result.started_at or at) - at)
        to_result.append(done - at)
        runner.ack([i])  # as the server's ResultAck would
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await runner.drain()
    return {
        "agent_cpu_ms_per_job": round(cpu / n * 1e3, 2),
        "wall_ms_per_job": round(wall / n * 1e3, 2),
        "to_start_ms_median": round(statistics.median(to_start) * 1e3, 2),
        "to_result_ms_median": round(statistics.median(to_result) * 1e3, 2),
        "to_result_ms_p90": round(sorted(to_result)[int(n * 0.9)] * 1e3, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--state-dir", default=None)
    opts = ap.parse_args()
    state_dir = opts.state_dir or tempfile.mkdtemp(prefix="fd-jobpath-", dir="/var/tmp")
    figures = asyncio.run(measure(opts.n, state_dir))
    print({"jobs": opts.n, **figures, "loadavg": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
