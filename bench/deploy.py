"""Deploy one package to N simulated agents and time it until every job has succeeded.

    .venv/bin/python bench/deploy.py -n 1000 [--payload-kib 64] [--json]
    .venv/bin/python bench/deploy.py -n 1000 --payload-kib 1024 --bandwidth-mib 50 --max-downloads 100

The simulated agents (shared with ``bench/agents.py``) speak the real agent protocol. For a
package job they do what the real agent does on the wire: report ``download`` (0 and 100 %),
fetch the payload from ``/agent/v1/payload/{id}`` with their own credential and check its
sha256, report ``unpack`` and ``execute``, then send the result. They run nothing. So the figure
is the server's cost: job creation, delivery, N payload downloads, state updates and results.

Phases printed: POST /api/v1/deployments returns; last agent got its JobRun; last payload
downloaded; last ResultAck (every result committed); GET /api/v1/deployments/{id} first
reports ``succeeded == N``.

With ``--bandwidth-mib`` (the server's ``payload_bandwidth_bytes_per_sec``) and
``--max-downloads`` (``payload_max_downloads``) the simulated agents meet the server's cap as
real ones do (503 + Retry-After, wait, try again), and the run reports the payload bandwidth
bound (N x payload size / bandwidth) and the ratio of the measured times to it: 1.0 would be a
link kept exactly full from the POST on.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import io
import json
import math
import os
import sys
import time
import zipfile
from typing import Any

import httpx
import psutil
from websockets.exceptions import ConnectionClosed

from agents import (
    ADMIN,
    WS_PATH,
    Agent,
    Counter,
    connect_agent,
    enroll,
    log,
    raise_nofile,
    start_server,
)
from fleetdeck.protocol import messages as m


class DeployStats:
    def __init__(self) -> None:
        self.jobruns = Counter()
        self.downloads = Counter()
        self.acks = Counter()
        self.bad_payloads = 0
        self.disconnects = 0
        self.refused = 0  # downloads told to come back later (the server's cap)


async def fetch(host: str, port: int, path: str, authorization: str, local_ip: str) -> tuple[int, bytes]:
    """One HTTP/1.1 GET on its own connection, as each real agent makes it. (httpx's shared pool
    costs the bench more CPU than the server spends with a thousand downloads in flight.)"""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local_ip, 0))
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {authorization}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        body = await reader.read()
        if status == 503:
            retry = next(
                (
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"retry-after:")
                ),
                b"1",
            )
            return -int(retry), body
        return status, body
    finally:
        writer.close()


async def fetch_waiting(
    host: str, port: int, path: str, authorization: str, local_ip: str, stats: DeployStats
) -> tuple[int, bytes]:
    """``fetch``, waiting out the server's download cap (503 + Retry-After) as the agent does."""
    while True:
        status, body = await fetch(host, port, path, authorization, local_ip)
        if status >= 0:
            return status, body
        stats.refused += 1
        await asyncio.sleep(-status)


async def package_loop(agent: Agent, stats: DeployStats, server: tuple[str, int]) -> None:
    ws = agent.ws
    assert ws is not None

    async def update(jid: int, phase: str, progress: int | None = None) -> None:
        await ws.send(
            m.encode(
                m.JobUpdate(job_id=jid, status="running", at=time.time(), phase=phase, progress=progress)
            )
        )

    try:
        async for frame in ws:
            msg = m.decode_from_server(frame)
            if isinstance(msg, m.JobRun):
                stats.jobruns.hit()
                job, started = msg.job, time.time()
                p = job.params
                ok = True
                if p.get("download"):
                    await update(job.id, "download", 0)
                    status, body = await fetch_waiting(
                        *server,
                        str(p["payload_path"]),
                        f"Bearer {agent.uid}:{agent.key}",
                        agent.local_ip,
                        stats,
                    )
                    ok = status == 200 and hashlib.sha256(body).hexdigest() == p["payload_sha256"]
                    stats.bad_payloads += 0 if ok else 1
                    stats.downloads.hit()
                    await update(job.id, "download", 100)
                    await update(job.id, "unpack")
                await update(job.id, "execute")
                await ws.send(
                    m.encode(
                        m.JobResult(
                            job_id=job.id,
                            status="succeeded" if ok else "failed",
                            exit_code=0 if ok else -9999,
                            started_at=started,
                            finished_at=time.time(),
                            message="" if ok else "payload checksum mismatch",
                        )
                    )
                )
            elif isinstance(msg, m.ResultAck):
                stats.acks.hit(len(msg.job_ids))
            elif isinstance(msg, (m.Bye, m.Error)):
                break
    except ConnectionClosed:
        stats.disconnects += 1


def make_payload(kib: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("install.sh", "#!/bin/sh\nexit 0\n")
        zf.writestr("data.bin", os.urandom(kib * 1024))
    return buf.getvalue()


async def heartbeats(agents: list[Agent]) -> None:
    """Heartbeats, as real agents send them, from before the first agent connects: on a loaded
    machine connecting 1,000 agents takes minutes, and an agent silent for 75 s is dropped."""
    frame = m.encode(m.Heartbeat())
    while True:
        await asyncio.sleep(20)
        for a in agents:
            if a.ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    await a.ws.send(frame)


async def run(opts: argparse.Namespace) -> dict[str, Any]:
    raise_nofile(opts.agents * 2 + 1000)
    password = "bench-" + base64.b32encode(os.urandom(10)).decode().lower()
    env = dict(os.environ)
    if opts.database_url:
        env["FLEETDECK_DATABASE_URL"] = opts.database_url
    if opts.bandwidth_mib:
        env["FLEETDECK_PAYLOAD_BANDWIDTH_BYTES_PER_SEC"] = str(int(opts.bandwidth_mib * 1024 * 1024))
    if opts.max_downloads:
        env["FLEETDECK_PAYLOAD_MAX_DOWNLOADS"] = str(opts.max_downloads)
    server_opts = argparse.Namespace(
        agents=opts.agents, port=0, ws_impl=None, server_deflate=None, server_cpus=None
    )
    server, token = start_server(server_opts, password, env)
    results: dict[str, Any] = {
        "agents": opts.agents,
        "payload_kib": opts.payload_kib,
        "bandwidth_mib_per_sec": opts.bandwidth_mib,
        "max_downloads": opts.max_downloads,
    }
    ws_url = server.base_url.replace("http", "ws", 1) + WS_PATH
    n_addr = max(2, math.ceil(opts.agents / 8000))
    agents = [Agent(i, f"127.0.0.{i % n_addr + 1}") for i in range(opts.agents)]
    stats = DeployStats()
    where = ("127.0.0.1", server.port)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, auth=(ADMIN, password), timeout=120) as api:
            sem = asyncio.Semaphore(200)
            t0 = time.perf_counter()
            await asyncio.gather(*(enroll(a, ws_url, token, sem) for a in agents))
            log(f"enrolled {len(agents)} in {time.perf_counter() - t0:.1f} s")
            beating = asyncio.create_task(heartbeats(agents))
            t0 = time.perf_counter()
            await asyncio.gather(*(connect_agent(a, ws_url, sem, stats, 20, False) for a in agents))  # type: ignore[arg-type]
            for a in agents:
                if a.task:
                    a.task.cancel()
                a.task = asyncio.create_task(package_loop(a, stats, where))
            log(f"connected {len(agents)} in {time.perf_counter() - t0:.1f} s")
            await asyncio.sleep(3)  # inventories stored, server idle

            body = {"family_name": "bench-package", "version": "1.0", "install_procedure": "sh install.sh"}
            r = await api.post("/api/v1/packages", json=body)
            r.raise_for_status()
            package_id = r.json()["data"]["id"]
            payload = make_payload(opts.payload_kib)
            r = await api.put(
                f"/api/v1/packages/{package_id}/payload",
                content=payload,
                headers={"content-type": "application/octet-stream"},
            )
            r.raise_for_status()
            payload_bytes = len(payload)
            # The least time N downloads of the payload take at the server's bandwidth limit.
            bound = (
                opts.agents * payload_bytes / (opts.bandwidth_mib * 1024 * 1024)
                if opts.bandwidth_mib
                else None
            )
            results["payload_bytes"] = payload_bytes
            results["bandwidth_bound_sec"] = round(bound, 3) if bound else None
            login = await api.post("/api/v1/auth/login", json={"username": ADMIN, "password": password})
            api.auth = None
            api.headers["Authorization"] = f"Bearer {login.json()['data']['token']}"

            for run_no in range(opts.runs):
                for c in (stats.jobruns, stats.downloads, stats.acks):
                    c.expect(opts.agents)
                me = psutil.Process()
                cpu0, bench0 = server.cpu(), sum(me.cpu_times()[:2])
                t0 = time.perf_counter()
                r = await api.post(
                    "/api/v1/deployments",
                    json={
                        "name": f"bench {run_no}",
                        "computer_ids": [a.computer_id for a in agents],
                        "package_ids": [package_id],
                        "force_same_version": True,
                    },
                )
                r.raise_for_status()
                posted = time.perf_counter() - t0
                container = r.json()["data"]["id"]
                await asyncio.wait_for(stats.acks.done.wait(), opts.timeout)
                api_done = None
                while api_done is None:
                    counts = (await api.get(f"/api/v1/deployments/{container}")).json()["data"]["counts"]
                    if counts.get("succeeded", 0) >= opts.agents:
                        api_done = time.perf_counter() - t0
                    else:
                        await asyncio.sleep(0.1)
                figures = {
                    "post_sec": round(posted, 3),
                    "last_jobrun_sec": round(stats.jobruns.last - t0, 3),
                    "last_download_sec": round(stats.downloads.last - t0, 3),
                    "last_ack_sec": round(stats.acks.last - t0, 3),
                    "api_all_succeeded_sec": round(api_done, 3),
                    "bad_payloads": stats.bad_payloads,
                    "refused_503": stats.refused,
                    "server_cpu_sec": round(server.cpu() - cpu0, 2),
                    "bench_cpu_sec": round(sum(me.cpu_times()[:2]) - bench0, 2),
                }
                if bound:
                    figures["last_download_vs_bound"] = round((stats.downloads.last - t0) / bound, 3)
                    figures["all_succeeded_vs_bound"] = round(api_done / bound, 3)
                stats.refused = 0
                results[f"run{run_no}"] = figures
                log(f"run {run_no}: {figures}")
                await asyncio.sleep(2)
    finally:
        if "beating" in locals():
            beating.cancel()
        server.popen.terminate()
        server.popen.wait(30)
    results["disconnects"] = stats.disconnects
    results["loadavg_end"] = os.getloadavg()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--agents", type=int, default=1000)
    ap.add_argument("--payload-kib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--bandwidth-mib", type=float, default=0, help="server payload bandwidth limit, MiB/s")
    ap.add_argument("--max-downloads", type=int, default=0, help="server cap on payload downloads at once")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    results = asyncio.run(run(opts))
    print(json.dumps(results, indent=2) if opts.json else results)
    sys.exit(0)


if __name__ == "__main__":
    main()
