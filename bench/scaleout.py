#!/usr/bin/env python
"""Scale-out bench: 1 vs P ``fleetdeck server`` processes on one PostgreSQL database and one
Redis or NATS bus, with the simulated agents of ``bench/agents.py`` (the real protocol over
WebSockets, answering every JobRun at once).

For each process count (``--processes 1,3``) a fresh database, data directory and bus namespace;
agent i enrolls and connects to process i mod P (as a balancer with ``least_conn`` spreads
them). Figures (see docs/performance.md):

1. connect: N agents connect (Hello, inventory) at once; time until every Welcome, server RSS.
2. capacity: every agent sends ``--hb-burst`` heartbeats back to back, then a result for job 0
   (a barrier: the server acknowledges it after everything sent before on that connection);
   heartbeats handled per second by all processes together, and the ratio to 1 process.
3. fan-out: ``POST /api/v1/commands`` to all N computers through process 1's API (so every
   other process gets its share of the jobs over the bus); time until the last JobRun, the
   last ResultAck, and until the API counts N succeeded (every result stored).
4. reconnect storm: every server process is restarted (SIGTERM, start again); every agent
   comes back at once; time until the API counts N online.

The bench runs in one Python process: on a small machine it, the servers, PostgreSQL and the
bus share the cores, and the figures say as much about the machine as about fleetdeck (the
summary prints the core count). Not part of CI. Typical use (from the repository root)::

    .venv/bin/python bench/scaleout.py -n 2000 --processes 1,3 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres --bus-url redis://127.0.0.1:6379
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg

from agents import (
    ADMIN,
    WS_PATH,
    Agent,
    Stats,
    cli,
    connect_agent,
    enroll,
    free_port,
    log,
    raise_nofile,
    wait_healthy,
)
from fleetdeck.protocol import messages as m

BARRIER_JOB = 0


class Cluster:
    """P server processes of one installation."""

    def __init__(self, n: int, env: dict[str, str], data_dir: Path) -> None:
        self.env = env
        self.data_dir = data_dir
        self.ports = [free_port() for _ in range(n)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def start(self) -> None:
        self.procs = []
        for i, port in enumerate(self.ports):
            env = {**self.env, "FLEETDECK_NODE_ID": f"n{i + 1}"}
            logf = (self.data_dir / f"server-{i + 1}.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fleetdeck", "server", "--port", str(port)],
                    env=env,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                )
            )
            logf.close()
        deadline = time.monotonic() + 90
        for url, proc in zip(self.urls, self.procs, strict=True):
            wait_healthy(proc, url, deadline, f"see {self.data_dir}/server-*.log (--keep keeps them)")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def rss_mib(self) -> float:
        return sum(psutil.Process(p.pid).memory_info().rss for p in self.procs if p.poll() is None) / 2**20

    def cpu(self) -> float:
        total = 0.0
        for p in self.procs:
            if p.poll() is None:
                t = psutil.Process(p.pid).cpu_times()
                total += t.user + t.system
        return total


async def barrier(agents: list[Agent], stats: Stats) -> float:
    frame = m.encode(m.JobResult(job_id=BARRIER_JOB, status="succeeded", exit_code=0))
    stats.acks.expect(len(agents))
    for a in agents:
        assert a.ws is not None
        await a.ws.send(frame)
    await asyncio.wait_for(stats.acks.done.wait(), 600)
    return stats.acks.last


async def connect_all(agents: list[Agent], urls: list[str], stats: Stats, opts: argparse.Namespace) -> float:
    sem = asyncio.Semaphore(opts.concurrency)
    ws = [u.replace("http", "ws", 1) + WS_PATH for u in urls]
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(connect_agent(a, ws[a.idx % len(ws)], sem, stats, 20, False) for a in agents),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise SystemExit(f"{len(failed)} connections failed; first: {failed[0]!r}")
    return time.perf_counter() - t0


async def count_online(client: httpx.AsyncClient) -> int:
    r = await client.get("/api/v1/computers", params={"filter[online]": "true", "page[limit]": 1})
    return int(r.json()["meta"]["count"])


async def until_online(client: httpx.AsyncClient, n: int, t0: float, limit: float = 300) -> None:
    """Poll the API (another process's state: no event to wait for) until it counts ``n`` online."""
    for _ in range(int(limit / 0.1)):
        if await count_online(client) >= n or time.perf_counter() - t0 > limit:
            return
        await asyncio.sleep(0.1)


async def close_all(agents: list[Agent]) -> None:
    async def close(a: Agent) -> None:
        if a.task is not None:
            a.task.cancel()
        if a.ws is not None:
            ws, a.ws = a.ws, None
            with contextlib.suppress(Exception):  # already gone with its server
                await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(close(a) for a in agents))


async def one(opts: argparse.Namespace, procs: int, base_env: dict[str, str]) -> dict[str, Any]:
    r: dict[str, Any] = {"processes": procs, "agents": opts.agents}
    data_dir = Path(tempfile.mkdtemp(prefix=f"fdscale{procs}-"))
    parts = urlsplit(opts.database_url)
    pg_db = f"fdbench_{secrets.token_hex(4)}"
    admin_url = urlunsplit(parts._replace(path="/postgres")).replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{pg_db}"')
    password = secrets.token_urlsafe(12)
    env = {
        **base_env,
        "FLEETDECK_DATA_DIR": str(data_dir),
        "FLEETDECK_DATABASE_URL": urlunsplit(parts._replace(path=f"/{pg_db}")),
        "FLEETDECK_BUS_URL": opts.bus_url if procs > 1 or opts.bus_always else "",
        "FLEETDECK_BUS_NAMESPACE": f"bench{secrets.token_hex(4)}",
    }
    cluster = Cluster(procs, env, data_dir)
    agents = [Agent(i, "127.0.0.1") for i in range(opts.agents)]
    stats = Stats()
    try:
        cli(["user", "create", ADMIN, "--role", "admin", "--password", password], env)
        token = cli(
            ["enroll-token", "create", "--uses", str(opts.agents), "--expires", "1h"], env
        ).splitlines()[-1]
        cluster.start()
        urls = cluster.urls
        sem = asyncio.Semaphore(opts.concurrency)
        ws = [u.replace("http", "ws", 1) + WS_PATH for u in urls]
        await asyncio.gather(*(enroll(a, ws[a.idx % procs], token, sem) for a in agents))
        rss0 = cluster.rss_mib()
        r["connect_sec"] = round(await connect_all(agents, urls, stats, opts), 2)
        async with httpx.AsyncClient(base_url=urls[0], timeout=120, auth=(ADMIN, password)) as client:
            login = await client.post("/api/v1/auth/login", json={"username": ADMIN, "password": password})
            client.auth = None
            client.headers["Authorization"] = f"Bearer {login.json()['data']['token']}"
            t0 = time.perf_counter()
            await until_online(client, opts.agents, t0)
            r["connect_all_online_sec"] = round(r["connect_sec"] + time.perf_counter() - t0, 2)
            await asyncio.sleep(2)
            r["server_rss_per_agent_kib"] = round((cluster.rss_mib() - rss0) * 1024 / opts.agents, 1)
            log(f"{procs} process(es): {opts.agents} agents connected in {r['connect_sec']} s")

            # capacity: heartbeats handled per second by all processes together
            hb = m.encode(m.Heartbeat())
            await barrier(agents, stats)
            cpu0, t0 = cluster.cpu(), time.perf_counter()
            for _ in range(opts.hb_burst):
                for a in agents:
                    assert a.ws is not None
                    await a.ws.send(hb)
            t_end = await barrier(agents, stats)
            total = opts.agents * opts.hb_burst
            r["hb_burst_handled_per_sec"] = round(total / (t_end - t0))
            r["hb_burst_server_cpu_sec"] = round(cluster.cpu() - cpu0, 2)
            log(f"  capacity: {r['hb_burst_handled_per_sec']} heartbeats/s handled")

            # fan-out through process 1's API
            fan = []
            for run in range(opts.fanout_runs):
                for a in agents:
                    a.jobrun_at = a.ack_at = None
                stats.jobruns.expect(opts.agents)
                stats.acks.expect(opts.agents)
                t0 = time.perf_counter()
                resp = await client.post(
                    "/api/v1/commands",
                    json={"computer_ids": [a.computer_id for a in agents], "command": "true"},
                )
                if resp.status_code != 201:
                    raise SystemExit(f"POST /api/v1/commands: {resp.status_code} {resp.text[:300]}")
                batch = resp.json()["data"]["id"]
                stored = None
                while time.perf_counter() - t0 < 300:
                    counts = (await client.get(f"/api/v1/commands/{batch}")).json()["data"]["counts"]
                    if counts.get("succeeded", 0) >= opts.agents:
                        stored = time.perf_counter() - t0
                        break
                    await asyncio.sleep(0.05)
                if stored is None:
                    raise SystemExit(f"fan-out {run + 1} did not complete in 300 s")
                jr = [a.jobrun_at - t0 for a in agents if a.jobrun_at is not None]
                fan.append(
                    {
                        "last_jobrun_sec": round(max(jr), 3),
                        "last_ack_sec": round(stats.acks.last - t0, 3),
                        "all_stored_sec": round(stored, 3),
                    }
                )
                log(f"  fan-out #{run + 1}: {fan[-1]}")
                await asyncio.sleep(1)
            r["fanout"] = fan
            r["fanout_best_all_stored_sec"] = min(f["all_stored_sec"] for f in fan)

        # reconnect storm: every process restarted, every agent back at once
        await close_all(agents)
        await asyncio.to_thread(cluster.stop)
        await asyncio.to_thread(cluster.start)
        t0 = time.perf_counter()
        r["storm_welcomed_sec"] = round(await connect_all(agents, cluster.urls, stats, opts), 2)
        async with httpx.AsyncClient(base_url=cluster.urls[0], timeout=120, auth=(ADMIN, password)) as client:
            await until_online(client, opts.agents, t0)
        r["storm_all_online_sec"] = round(time.perf_counter() - t0, 2)
        log(
            f"  reconnect storm: all welcomed {r['storm_welcomed_sec']} s,"
            f" all online {r['storm_all_online_sec']} s"
        )
        return r
    finally:
        await close_all(agents)
        cluster.stop()
        with psycopg.connect(admin_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        if not opts.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--agents", type=int, default=2000)
    p.add_argument("--processes", default="1,3", help="process counts to compare, e.g. 1,3")
    p.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server; a throwaway database is created per process count",
    )
    p.add_argument("--bus-url", default="redis://127.0.0.1:6379", help="FLEETDECK_BUS_URL for P > 1")
    p.add_argument("--bus-always", action="store_true", help="use the bus with 1 process too")
    p.add_argument("--hb-burst", type=int, default=10, help="heartbeats per agent in the capacity phase")
    p.add_argument("--fanout-runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=200, help="concurrent enrollments/connects")
    p.add_argument("--keep", action="store_true", help="keep the data directories (and server logs)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    opts = p.parse_args()
    raise_nofile(4 * opts.agents + 1024)
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")},
        "FLEETDECK_SECRET_KEY": secrets.token_urlsafe(32),
        "FLEETDECK_HEARTBEAT_SEC": "600",  # idle agents are not dropped during a long phase
        "FLEETDECK_LOG_LEVEL": "warning",
        "FLEETDECK_ARGON2_TIME_COST": "1",
        "FLEETDECK_ARGON2_MEMORY_KIB": "8",
        "FLEETDECK_ARGON2_PARALLELISM": "1",
    }
    results = [asyncio.run(one(opts, int(n), base_env)) for n in opts.processes.split(",")]
    base = results[0]
    for r in results:
        r["capacity_ratio"] = round(r["hb_burst_handled_per_sec"] / base["hb_burst_handled_per_sec"], 2)
        r["fanout_ratio"] = round(base["fanout_best_all_stored_sec"] / r["fanout_best_all_stored_sec"], 2)
    meta = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "bus": opts.bus_url}
    if opts.json:
        print(json.dumps({"machine": meta, "runs": results}, indent=2))
        return
    print(f"machine: {meta}")
    keys = [
        "processes", "connect_sec", "connect_all_online_sec", "server_rss_per_agent_kib",
        "hb_burst_handled_per_sec", "capacity_ratio", "fanout_best_all_stored_sec", "fanout_ratio",
        "storm_welcomed_sec", "storm_all_online_sec",
    ]  # fmt: skip
    for k in keys:
        print(f"{k:28} " + "  ".join(f"{r[k]!s:>10}" for r in results))


if __name__ == "__main__":
    main()
