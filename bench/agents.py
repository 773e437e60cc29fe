#!/usr/bin/env python
"""Load test: N simulated agents in one process against a fleetdeck server.

Every simulated agent speaks the real agent protocol (``fleetdeck.protocol.messages`` over a
WebSocket to ``/agent/v1/ws``): it enrolls, connects with Hello, sends an inventory when asked,
sends heartbeats, and answers every JobRun at once with a JobResult (succeeded, exit 0) without
running anything, as the real agent does for a command that ends within 0.25 s
(``--running-notice``: JobUpdate(running) first, as agents before that change did).

Figures (see docs/performance.md):

1. server RSS per connected idle agent: (RSS with N agents connected - RSS before) / N.
2. heartbeats: a steady phase (each agent one heartbeat every ``--hb-interval`` s for
   ``--hb-duration`` s) reporting server CPU per heartbeat, and a burst phase (each agent
   ``--hb-burst`` heartbeats back to back) reporting how many the server absorbed per second.
   The end of a burst is observed exactly: after its heartbeats every agent sends a JobResult
   for job 0 (which does not exist); the server acknowledges unknown jobs after its next
   result flush, and frames of one connection are handled in order, so the last ResultAck
   means every heartbeat before it was handled.
3. fan-out: ``POST /api/v1/commands`` to all N computers; time to the last JobRun received,
   to the last ResultAck (every result committed), and until ``GET /api/v1/commands/{id}``
   reports ``succeeded == N``.

Not part of CI. Typical use (from the repository root)::

    .venv/bin/python bench/agents.py -n 1000
    .venv/bin/python bench/agents.py -n 10000 --json > result.json
    .venv/bin/python bench/agents.py -n 10000 --database-url postgresql://postgres@127.0.0.1:5432/ \\
        --create-pg-db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fleetdeck.protocol import messages as m

WS_PATH = "/agent/v1/ws"
ADMIN = "admin"
BARRIER_JOB = 0  # no job has id 0; the server acknowledges results for unknown jobs


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- simulated agents


class Agent:
    __slots__ = (
        "ack_at",
        "computer_id",
        "digest",
        "hostname",
        "idx",
        "jobrun_at",
        "key",
        "local_ip",
        "task",
        "uid",
        "ws",
    )

    def __init__(self, idx: int, local_ip: str) -> None:
        self.idx = idx
        self.local_ip = local_ip
        self.hostname = f"bench-{idx:06d}"
        self.uid = ""
        self.key = ""
        self.digest = ""  # of the inventory the server has, sent with Hello as the real agent does
        self.computer_id = 0
        self.ws: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.jobrun_at: float | None = None
        self.ack_at: float | None = None


class Counter:
    """Counts events towards a target and remembers when the last one arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.last = 0.0
        self.done = asyncio.Event()

    def expect(self, target: int) -> None:
        self.count, self.target, self.last = 0, target, 0.0
        self.done.clear()

    def hit(self, n: int = 1) -> None:
        self.count += n
        self.last = time.perf_counter()
        if self.target and self.count >= self.target:
            self.done.set()


@dataclass
class Stats:
    jobruns: Counter = field(default_factory=Counter)
    acks: Counter = field(default_factory=Counter)
    disconnects: int = 0


def make_inventory(agent: Agent, n_software: int) -> m.Inventory:
    i = agent.idx
    return m.Inventory(
        hostname=agent.hostname,
        fqdn=f"{agent.hostname}.bench.example",
        os="Debian GNU/Linux",
        os_version="12",
        os_family="linux",
        kernel="6.1.0-18-amd64",
        architecture="x86_64",
        cpu_model="Intel(R) Core(TM) i5-8500T CPU @ 2.10GHz",
        cpu_cores=6,
        cpu_threads=6,
        ram_bytes=16 * 1024**3,
        boot_time=1_700_000_000.0 + i,
        manufacturer="Dell Inc.",
        model="OptiPlex 7070",
        serial=f"SN{i:08d}",
        bios_version="1.21.0",
        machine_id=f"{i:032x}",
        domain="bench.example",
        timezone="Europe/Berlin",
        filesystems=[
            m.Filesystem("/", "ext4", 250 * 10**9, (120 + i % 50) * 10**9, "/dev/nvme0n1p2"),
            m.Filesystem("/boot/efi", "vfat", 512 * 10**6, 500 * 10**6, "/dev/nvme0n1p1"),
            m.Filesystem("/home", "ext4", 500 * 10**9, 300 * 10**9, "/dev/sda1"),
        ],
        network_interfaces=[
            m.NetworkInterface(
                "eth0",
                f"02:00:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}",
                [
                    m.Address(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", "ipv4", "255.0.0.0"),
                    m.Address(f"fe80::{i:x}", "ipv6"),
                ],
            ),
            m.NetworkInterface("lo", "", [m.Address("127.0.0.1", "ipv4", "255.0.0.0")]),
        ],
        software=[
            m.Software(f"package-{k:03d}", f"{k % 7}.{k % 13}.{(k + i) % 3}", f"Example package {k}")
            for k in range(n_software)
        ],
        logged_in_users=[m.LoggedInUser("alice", "tty1", "", 1_700_000_100.0)],
    )


# --compression deflate: what the real agent offers (websockets' default)
WS_OPTIONS: dict[str, Any] = {
    "compression": None,
    "ping_interval": None,
    "open_timeout": 300,
    "close_timeout": 5,
    "max_queue": 4,
}


def ws_kwargs(local_ip: str) -> dict[str, Any]:
    return {**WS_OPTIONS, "local_addr": (local_ip, 0)}


async def enroll(agent: Agent, ws_url: str, token: str, sem: asyncio.Semaphore) -> None:
    async with sem, connect(ws_url, **ws_kwargs(agent.local_ip)) as ws:
        await ws.send(
            m.encode(
                m.Enroll(
                    token=token,
                    hostname=agent.hostname,
                    agent_version="bench",
                    machine_id=f"{agent.idx:032x}",
                )
            )
        )
        reply = m.decode_from_server(await ws.recv())
    if not isinstance(reply, m.Enrolled):
        raise RuntimeError(f"enroll failed for {agent.hostname}: {reply}")
    agent.uid, agent.key, agent.computer_id = reply.uid, reply.key, reply.computer_id


async def agent_loop(agent: Agent, stats: Stats, running_notice: bool) -> None:
    ws = agent.ws
    assert ws is not None
    try:
        async for frame in ws:
            msg = m.decode_from_server(frame)
            if isinstance(msg, m.JobRun):
                agent.jobrun_at = time.perf_counter()
                stats.jobruns.hit()
                now = time.time()
                jid = msg.job.id
                if running_notice:
                    await ws.send(m.encode(m.JobUpdate(job_id=jid, status="running", at=now)))
                await ws.send(
                    m.encode(
                        m.JobResult(
                            job_id=jid, status="succeeded", exit_code=0, started_at=now, finished_at=now
                        )
                    )
                )
            elif isinstance(msg, m.ResultAck):
                agent.ack_at = time.perf_counter()
                stats.acks.hit(len(msg.job_ids))
            elif isinstance(msg, (m.Bye, m.Error)):
                break
    except ConnectionClosed:
        pass
    finally:
        if agent.ws is ws:
            stats.disconnects += 1


async def connect_agent(
    agent: Agent, ws_url: str, sem: asyncio.Semaphore, stats: Stats, n_software: int, running_notice: bool
) -> None:
    async with sem:
        ws = await connect(ws_url, **ws_kwargs(agent.local_ip))
        await ws.send(
            m.encode(
                m.Hello(uid=agent.uid, key=agent.key, agent_version="bench", inventory_digest=agent.digest)
            )
        )
        welcome = m.decode_from_server(await ws.recv())
        if not isinstance(welcome, m.Welcome):
            await ws.close()
            raise RuntimeError(f"hello refused for {agent.hostname}: {welcome}")
        if welcome.want_inventory and n_software >= 0:
            inv = make_inventory(agent, n_software)
            agent.digest = m.inventory_digest(inv)
            await ws.send(m.encode(m.InventoryReport(digest=agent.digest, data=inv)))
        agent.ws = ws
        agent.task = asyncio.create_task(agent_loop(agent, stats, running_notice))


# ---------------------------------------------------------------- server side


class Server:
    """The server under test: a process we started, or an existing one."""

    def __init__(self, base_url: str, proc: psutil.Process | None) -> None:
        self.base_url = base_url
        self.proc = proc
        self.popen: subprocess.Popen[bytes] | None = None
        self.data_dir: Path | None = None

    @property
    def port(self) -> int:
        return httpx.URL(self.base_url).port or 80

    def rss(self) -> int:
        return self.proc.memory_info().rss if self.proc else 0

    def cpu(self) -> float:
        if not self.proc:
            return 0.0
        t = self.proc.cpu_times()
        return t.user + t.system

    def threads(self) -> int:
        return self.proc.num_threads() if self.proc else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard < want:
        try:  # root may raise the hard limit (up to fs.nr_open)
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def cli(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "fleetdeck", *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"fleetdeck {' '.join(args[:2])} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.strip()


def start_server(opts: argparse.Namespace, password: str, env: dict[str, str]) -> tuple[Server, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="fdbench-"))
    env["FLEETDECK_DATA_DIR"] = str(data_dir)
    cli(["user", "create", ADMIN, "--role", "admin", "--password", password], env)
    token = cli(["enroll-token", "create", "--uses", str(opts.agents), "--expires", "1h"], env).splitlines()[
        -1
    ]
    port = opts.port or free_port()
    logf = open(data_dir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    cmd = [sys.executable, "-m", "fleetdeck", "server", "--port", str(port)]
    if opts.ws_impl or opts.server_deflate is not None or any(k.startswith("FDBENCH_") for k in env):
        cmd[1:3] = [str(Path(__file__).with_name("server_variant.py"))]
        env["FDBENCH_WS"] = opts.ws_impl or ""
        env["FDBENCH_WS_DEFLATE"] = "" if opts.server_deflate is None else str(int(opts.server_deflate))
    if opts.server_cpus:
        cmd = ["taskset", "-c", ",".join(map(str, sorted(opts.server_cpus))), *cmd]
    popen = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(popen, url, time.monotonic() + 60, f"see {data_dir / 'server.log'}")
    server = Server(url, psutil.Process(popen.pid))
    server.popen, server.data_dir = popen, data_dir
    log(f"server pid {popen.pid} on {url}, data dir {data_dir}")
    return server, token


def wait_healthy(popen: subprocess.Popen[bytes], url: str, deadline: float, logs: str) -> None:
    """Until the server started as ``popen`` answers /healthz; exits the bench if it dies or
    does not answer by ``deadline`` (time.monotonic). ``logs``: where to look then."""
    while True:
        if popen.poll() is not None:
            raise SystemExit(f"server exited with {popen.returncode}; {logs}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            popen.kill()  # not left running behind the bench
            raise SystemExit(f"server {url} did not become healthy in time; {logs}")
        time.sleep(0.2)


def find_listener(port: int) -> psutil.Process | None:
    for c in psutil.net_connections("tcp"):
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return psutil.Process(c.pid)
    return None


async def wait_server_idle(
    server: Server, *, below: float = 0.2, quiet: float = 1.5, limit: float = 120
) -> float:
    """Wait until the server used < ``below`` of a core for ``quiet`` seconds. Returns seconds waited.
    (10,000 idle agents alone cost it ~5-15 % of a core: heartbeats and last_seen flushes.)"""
    t0 = time.perf_counter()
    last_cpu, last_t = server.cpu(), t0
    quiet_since = None
    while time.perf_counter() - t0 < limit:
        await asyncio.sleep(0.25)
        cpu, now = server.cpu(), time.perf_counter()
        busy = (cpu - last_cpu) / (now - last_t)
        last_cpu, last_t = cpu, now
        if busy < below:
            quiet_since = quiet_since or now
            if now - quiet_since >= quiet:
                break
        else:
            quiet_since = None
    return time.perf_counter() - t0


# ---------------------------------------------------------------- phases


class Profiler:
    """``py-spy record`` of the server during one phase (``--profile-dir``), raw collapsed stacks."""

    def __init__(
        self, out_dir: str | None, pid: int | None, phases: str, rate: int = 50, gil: bool = False
    ) -> None:
        self.out_dir = Path(out_dir) if out_dir else None
        self.rate = rate
        self.gil = gil
        self.phases = set(phases.split(","))
        self.pid = pid
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.exe = exe if Path(exe).exists() else None

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> Any:
        if not self.out_dir or not self.pid or not self.exe or name not in self.phases:
            yield
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"{name}.txt"
        proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [
                self.exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--rate",
                str(self.rate),
                "-o",
                str(out),
                *(["--gil"] if self.gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            log(f"profile of {name}: {out}")


class Bench:
    def __init__(self, opts: argparse.Namespace, server: Server, password: str) -> None:
        self.opts = opts
        self.server = server
        self.ws_url = server.base_url.replace("http", "ws", 1) + WS_PATH
        self.password = password
        self.stats = Stats()
        n = opts.agents
        n_addr = opts.source_addresses or max(2, math.ceil(n / 8000))
        self.addrs = [f"127.0.0.{i + 1}" for i in range(n_addr)]
        self.agents = [Agent(i, self.addrs[i % n_addr]) for i in range(n)]
        self.idle_hb = asyncio.Event()  # set = idle heartbeat loop runs
        self.results: dict[str, Any] = {}
        self.prof = Profiler(
            opts.profile_dir,
            server.proc.pid if server.proc else None,
            opts.profile_phases,
            opts.profile_rate,
            opts.profile_gil,
        )
        self.me = psutil.Process()
        self.bench_rss0 = self.me.memory_info().rss

    async def _gather_chunked(self, coros: list[Any], what: str) -> int:
        t0 = time.perf_counter()
        done = failed = 0
        first_error: BaseException | None = None
        for res in asyncio.as_completed(coros):
            try:
                await res
                done += 1
            except Exception as exc:  # counted and reported
                failed += 1
                first_error = first_error or exc
            if (done + failed) % 2000 == 0:
                log(f"  {what}: {done + failed}/{len(coros)} ({time.perf_counter() - t0:.1f} s)")
        if failed:
            log(f"  {what}: {failed} failed; first error: {first_error!r}")
        return failed

    async def enroll_all(self, token: str) -> None:
        sem = asyncio.Semaphore(self.opts.concurrency)
        t0 = time.perf_counter()
        failed = await self._gather_chunked(
            [enroll(a, self.ws_url, token, sem) for a in self.agents], "enroll"
        )
        dt = time.perf_counter() - t0
        if failed:
            raise SystemExit(f"{failed} enrollments failed")
        self.results["enroll_sec"] = round(dt, 2)
        self.results["enroll_per_sec"] = round(len(self.agents) / dt, 1)
        log(f"enrolled {len(self.agents)} agents in {dt:.1f} s ({len(self.agents) / dt:.0f}/s)")

    async def connect_all(self) -> None:
        await wait_server_idle(self.server, quiet=1.0, limit=30)
        rss0 = self.server.rss()
        self.results["server_rss_before_mib"] = round(rss0 / 2**20, 1)
        self.results["server_threads_before"] = self.server.threads()
        sem = asyncio.Semaphore(self.opts.concurrency)
        t0 = time.perf_counter()
        cpu0 = self.server.cpu()
        self.idle_hb.set()  # agents connected early must not go silent (server drops them)
        failed = await self._gather_chunked(
            [
                connect_agent(
                    a, self.ws_url, sem, self.stats, self.opts.inventory_size, self.opts.running_notice
                )
                for a in self.agents
            ],
            "connect",
        )
        dt = time.perf_counter() - t0
        if failed:
            raise SystemExit(f"{failed} connections failed")
        log(f"connected {len(self.agents)} agents in {dt:.1f} s; waiting for the server to settle")
        settle = await wait_server_idle(self.server, quiet=3.0, limit=600)
        cpu1 = self.server.cpu()
        self.results["connect_sec"] = round(dt, 2)
        self.results["connect_settle_sec"] = round(dt + settle, 2)
        self.results["connect_server_cpu_sec"] = round(cpu1 - cpu0, 2)
        await asyncio.sleep(2)
        rss1 = self.server.rss()
        n = len(self.agents)
        self.results["server_rss_connected_mib"] = round(rss1 / 2**20, 1)
        self.results["server_threads_connected"] = self.server.threads()
        self.results["server_rss_per_agent_kib"] = round((rss1 - rss0) / n / 1024, 1)
        self.results["bench_rss_per_agent_kib"] = round(
            (self.me.memory_info().rss - self.bench_rss0) / n / 1024, 1
        )
        health = (await asyncio.to_thread(httpx.get, f"{self.server.base_url}/healthz", timeout=10)).json()
        self.results["healthz_agents_connected"] = health.get("agents_connected")
        log(
            f"server RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB: "
            f"{(rss1 - rss0) / n / 1024:.1f} KiB per agent; healthz says {health.get('agents_connected')}"
        )

    async def reconnect_all(self, client: httpx.AsyncClient) -> None:
        """Every agent drops its connection and comes back at once, with the inventory digest
        the server has (so no inventory is sent): what a server restart looks like to the
        server, without the restart's reconnect window. Timed until the API counts N online."""
        await self.close_all()
        n = len(self.agents)
        for _ in range(600):
            resp = await client.get("/api/v1/computers", params={"filter[online]": "true", "page[limit]": 1})
            if resp.json()["meta"]["count"] == 0:
                break
            await asyncio.sleep(0.1)
        await wait_server_idle(self.server, quiet=1.0, limit=60)
        sem = asyncio.Semaphore(self.opts.concurrency)
        self.idle_hb.set()
        cpu0 = self.server.cpu()
        t0 = time.perf_counter()
        failed = await self._gather_chunked(
            [
                connect_agent(
                    a, self.ws_url, sem, self.stats, self.opts.inventory_size, self.opts.running_notice
                )
                for a in self.agents
            ],
            "reconnect",
        )
        welcomed = time.perf_counter() - t0
        if failed:
            raise SystemExit(f"{failed} reconnections failed")
        online = 0
        while online < n and time.perf_counter() - t0 < 600:
            resp = await client.get("/api/v1/computers", params={"filter[online]": "true", "page[limit]": 1})
            online = resp.json()["meta"]["count"]
            if online < n:
                await asyncio.sleep(0.1)
        dt = time.perf_counter() - t0
        self.results["reconnect_welcomed_sec"] = round(welcomed, 2)
        self.results["reconnect_all_online_sec"] = round(dt, 2)
        self.results["reconnect_per_sec"] = round(n / dt, 1)
        self.results["reconnect_server_cpu_sec"] = round(self.server.cpu() - cpu0, 2)
        log(
            f"reconnect: {n} agents welcomed after {welcomed:.1f} s, all online in the API after "
            f"{dt:.1f} s ({n / dt:.0f}/s), server CPU {self.server.cpu() - cpu0:.1f} s"
        )

    async def idle_heartbeats(self) -> None:
        """Keeps agents alive (the server drops agents silent for 2.5 x heartbeat_sec)."""
        hb = m.encode(m.Heartbeat())
        tick = 0.5
        pos = 0
        while True:
            await self.idle_hb.wait()
            n = len(self.agents)
            per_tick = max(1, math.ceil(n * tick / self.opts.heartbeat_sec))
            t = time.perf_counter()
            for a in self.agents[pos : pos + per_tick]:
                if a.ws is not None:
                    with contextlib.suppress(ConnectionClosed):
                        await a.ws.send(hb)
            pos = (pos + per_tick) % n if pos + per_tick < n else 0
            await asyncio.sleep(max(0.0, tick - (time.perf_counter() - t)))

    async def _barrier(self) -> float:
        """Each agent sends a result for job 0 after whatever it sent before; returns when every
        agent got its ResultAck (so the server has handled everything sent before)."""
        frame = m.encode(m.JobResult(job_id=BARRIER_JOB, status="succeeded", exit_code=0))
        self.stats.acks.expect(len(self.agents))
        for a in self.agents:
            assert a.ws is not None
            await a.ws.send(frame)
        await asyncio.wait_for(self.stats.acks.done.wait(), 300)
        return self.stats.acks.last

    async def heartbeats(self) -> None:
        self.idle_hb.clear()
        await wait_server_idle(self.server, quiet=1.0, limit=30)
        hb = m.encode(m.Heartbeat())
        n = len(self.agents)
        o = self.opts
        r = self.results
        # what the barrier alone costs (n results in, n acks out), to subtract below
        t0, c0 = time.perf_counter(), self.server.cpu()
        barrier = await self._barrier() - t0
        await asyncio.sleep(0.1)
        barrier_cpu = self.server.cpu() - c0
        r["hb_barrier_alone_sec"] = round(barrier, 3)
        r["hb_barrier_alone_server_cpu_sec"] = round(barrier_cpu, 3)
        await wait_server_idle(self.server, quiet=1.0, limit=60)
        # steady: each agent one heartbeat per hb_interval, spread over 10 ms ticks
        tick = 0.01
        per_tick = n * tick / o.hb_interval
        sent = 0
        cpu0, me0 = self.server.cpu(), sum(self.me.cpu_times()[:2])
        t0 = time.perf_counter()
        acc = 0.0
        pos = 0
        while (now := time.perf_counter()) - t0 < o.hb_duration:
            due = (now - t0) / tick * per_tick
            while acc < due:
                a = self.agents[pos]
                pos = pos + 1 if pos + 1 < n else 0
                assert a.ws is not None
                await a.ws.send(hb)
                acc += 1
                sent += 1
            await asyncio.sleep(tick)
        t_send = time.perf_counter() - t0
        t_end = await self._barrier()
        dt = t_end - t0
        cpu = self.server.cpu() - cpu0
        me = sum(self.me.cpu_times()[:2]) - me0
        r["hb_steady_offered_per_sec"] = round(n / o.hb_interval)
        r["hb_steady_sent"] = sent
        r["hb_steady_sent_per_sec"] = round(sent / t_send)
        r["hb_steady_handled_per_sec"] = round(sent / dt)
        # heartbeats one fully used core could absorb at this pace (barrier CPU excluded)
        r["hb_steady_capacity_per_cpu_sec"] = round(sent / max(cpu - barrier_cpu, 1e-3))
        r["hb_steady_lag_sec"] = round(dt - t_send, 3)  # includes the barrier
        r["hb_steady_server_cpu_pct"] = round(100 * cpu / dt, 1)
        r["hb_steady_server_cpu_us_per_hb"] = round(1e6 * cpu / (sent + n), 1)
        r["hb_steady_bench_cpu_pct"] = round(100 * me / dt, 1)
        log(
            f"steady heartbeats: {sent} in {t_send:.2f} s sent, all handled after {dt:.2f} s; "
            f"server CPU {100 * cpu / dt:.0f}% ({1e6 * cpu / (sent + n):.0f} us/heartbeat)"
        )
        await wait_server_idle(self.server, quiet=1.0, limit=60)
        # burst: every agent sends hb_burst heartbeats back to back, then the barrier
        cpu0, me0 = self.server.cpu(), sum(self.me.cpu_times()[:2])
        t0 = time.perf_counter()
        for _ in range(o.hb_burst):
            for a in self.agents:
                assert a.ws is not None
                await a.ws.send(hb)
        t_send = time.perf_counter() - t0
        t_end = await self._barrier()
        dt = t_end - t0
        cpu = self.server.cpu() - cpu0
        me = sum(self.me.cpu_times()[:2]) - me0
        total = n * o.hb_burst
        r["hb_burst_total"] = total
        r["hb_burst_send_sec"] = round(t_send, 3)
        r["hb_burst_handled_sec"] = round(dt, 3)
        r["hb_burst_handled_per_sec"] = round(total / dt)
        r["hb_burst_handled_per_sec_net"] = round(total / max(dt - barrier, 1e-3))  # barrier excluded
        r["hb_burst_server_cpu_pct"] = round(100 * cpu / dt, 1)
        r["hb_burst_server_cpu_us_per_hb"] = round(1e6 * cpu / (total + n), 1)
        r["hb_burst_bench_cpu_pct"] = round(100 * me / dt, 1)
        log(
            f"burst: {total} heartbeats sent in {t_send:.2f} s, handled in {dt:.2f} s "
            f"= {total / dt:.0f}/s; server CPU {100 * cpu / dt:.0f}%"
        )
        await wait_server_idle(self.server, quiet=1.0, limit=60)

    async def fanout(self, client: httpx.AsyncClient, run: int) -> dict[str, Any]:
        self.idle_hb.clear()
        await wait_server_idle(self.server, quiet=1.0, limit=60)
        n = len(self.agents)
        for a in self.agents:
            a.jobrun_at = a.ack_at = None
        self.stats.jobruns.expect(n)
        self.stats.acks.expect(n)
        ids = [a.computer_id for a in self.agents]
        gc_log = self.server.proc if "FDBENCH_GC_LOG=1" in self.opts.server_env else None
        if gc_log is not None:  # bench/server_variant.py logs its GC totals so far
            gc_log.send_signal(signal.SIGUSR1)
            await asyncio.sleep(0.1)
        cpu0 = self.server.cpu()
        t0 = time.perf_counter()
        resp = await client.post("/api/v1/commands", json={"computer_ids": ids, "command": "true"})
        t_post = time.perf_counter() - t0
        if resp.status_code != 201:
            raise SystemExit(f"POST /api/v1/commands: {resp.status_code} {resp.text[:500]}")
        body = resp.json()["data"]
        batch_id = body["id"]
        assert len(body["job_ids"]) == n
        polls = 0
        t_stored = None
        counts: dict[str, int] = {}
        while time.perf_counter() - t0 < 300:
            r = await client.get(f"/api/v1/commands/{batch_id}")
            polls += 1
            counts = r.json()["data"]["counts"]
            if counts.get("succeeded", 0) >= n:
                t_stored = time.perf_counter() - t0
                break
            await asyncio.sleep(self.opts.poll_interval)
        if t_stored is None:
            raise SystemExit(f"fan-out did not complete in 300 s: {counts}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stats.acks.done.wait(), 30)
        cpu = self.server.cpu() - cpu0
        if gc_log is not None:
            gc_log.send_signal(signal.SIGUSR1)
        jr = [a.jobrun_at - t0 for a in self.agents if a.jobrun_at is not None]
        res = {
            "post_sec": round(t_post, 3),
            "first_jobrun_sec": round(min(jr), 3),
            "last_jobrun_sec": round(max(jr), 3),
            "jobruns_received": len(jr),
            "last_ack_sec": round(self.stats.acks.last - t0, 3),
            "acks_received": self.stats.acks.count,
            "all_succeeded_via_api_sec": round(t_stored, 3),
            "api_polls": polls,
            "server_cpu_sec": round(cpu, 2),
        }
        log(
            f"fan-out #{run}: POST {t_post:.2f} s, JobRun first {min(jr):.2f} s / last {max(jr):.2f} s, "
            f"last ack {res['last_ack_sec']:.2f} s, API says all succeeded at {t_stored:.2f} s"
        )
        return res

    async def close_all(self) -> None:
        self.idle_hb.clear()

        async def close(a: Agent) -> None:
            if a.ws is not None:
                ws, a.ws = a.ws, None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 10)
            if a.task is not None:
                a.task.cancel()

        sem = asyncio.Semaphore(500)

        async def limited(a: Agent) -> None:
            async with sem:
                await close(a)

        await asyncio.gather(*(limited(a) for a in self.agents))


async def run(opts: argparse.Namespace, server: Server, token: str, password: str) -> dict[str, Any]:
    bench = Bench(opts, server, password)
    r = bench.results
    r["agents"] = opts.agents
    r["source_addresses"] = len(bench.addrs)
    hb_task = asyncio.create_task(bench.idle_heartbeats())
    try:
        await bench.enroll_all(token)
        async with bench.prof.phase("connect"):
            await bench.connect_all()
        if opts.hb_duration > 0:
            async with bench.prof.phase("heartbeats"):
                await bench.heartbeats()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
            t = time.perf_counter()
            resp = await client.get("/api/v1/commands/1", auth=(ADMIN, password))
            r["api_basic_auth_request_sec"] = round(time.perf_counter() - t, 3)
            if opts.auth == "basic":
                client.auth = httpx.BasicAuth(ADMIN, password)
            else:  # one argon2 verification for the login, then a JWT for the timed requests
                resp = await client.post("/api/v1/auth/login", json={"username": ADMIN, "password": password})
                resp.raise_for_status()
                client.headers["Authorization"] = f"Bearer {resp.json()['data']['token']}"
            r["api_auth"] = opts.auth
            async with bench.prof.phase("fanout"):
                runs = [await bench.fanout(client, i + 1) for i in range(opts.fanout_runs)]
            t = time.perf_counter()
            await client.get("/api/v1/commands/1")
            r["api_get_command_sec"] = round(time.perf_counter() - t, 3)
            if opts.reconnect:
                async with bench.prof.phase("reconnect"):
                    await bench.reconnect_all(client)
        r["fanout"] = runs
        if runs:
            best = min(runs, key=lambda x: x["all_succeeded_via_api_sec"])
            for k in ("last_jobrun_sec", "last_ack_sec", "all_succeeded_via_api_sec"):
                r[f"fanout_best_{k}"] = best[k]
        r["server_rss_end_mib"] = round(server.rss() / 2**20, 1)
        r["bench_rss_mib"] = round(bench.me.memory_info().rss / 2**20, 1)
        r["unexpected_disconnects"] = bench.stats.disconnects
        bench.idle_hb.set()
        return r
    finally:
        hb_task.cancel()
        log("closing agent connections")
        await bench.close_all()


def summary(r: dict[str, Any]) -> str:
    rows = [
        ("agents", r["agents"], ""),
        ("database", r.get("database", "?"), ""),
        ("enrollment", f"{r['enroll_sec']} s", f"{r['enroll_per_sec']}/s"),
        (
            "connect (hello + inventory)",
            f"{r['connect_sec']} s",
            f"settled after {r['connect_settle_sec']} s",
        ),
        (
            "server RSS before / connected",
            f"{r['server_rss_before_mib']} / {r['server_rss_connected_mib']} MiB",
            "",
        ),
        ("server RSS per idle agent", f"{r['server_rss_per_agent_kib']} KiB", "target <= 30 KiB"),
        ("bench RSS per agent", f"{r['bench_rss_per_agent_kib']} KiB", ""),
    ]
    if "hb_steady_sent" in r:
        rows += [
            (
                "heartbeats steady",
                f"{r['hb_steady_handled_per_sec']}/s handled",
                f"offered {r['hb_steady_offered_per_sec']}/s, server CPU {r['hb_steady_server_cpu_pct']}%, "
                f"~{r['hb_steady_capacity_per_cpu_sec']}/s per core, "
                f"{r['hb_steady_server_cpu_us_per_hb']} us/hb",
            ),
            (
                "heartbeats burst",
                f"{r['hb_burst_handled_per_sec']}/s handled",
                f"{r['hb_burst_handled_per_sec_net']}/s without the barrier; "
                f"{r['hb_burst_total']} in {r['hb_burst_handled_sec']} s, server CPU "
                f"{r['hb_burst_server_cpu_pct']}%, {r['hb_burst_server_cpu_us_per_hb']} us/hb",
            ),
        ]
    for i, f in enumerate(r["fanout"], 1):
        rows.append(
            (
                f"fan-out #{i}: all results stored",
                f"{f['all_succeeded_via_api_sec']} s",
                f"POST {f['post_sec']} s, last JobRun {f['last_jobrun_sec']} s, "
                f"last ack {f['last_ack_sec']} s, "
                f"server CPU {f['server_cpu_sec']} s",
            )
        )
    if "reconnect_all_online_sec" in r:
        rows.append(
            (
                "reconnect, all online (API)",
                f"{r['reconnect_all_online_sec']} s",
                f"{r['reconnect_per_sec']}/s, welcomed after {r['reconnect_welcomed_sec']} s, "
                f"server CPU {r['reconnect_server_cpu_sec']} s",
            )
        )
    rows.append(("unexpected disconnects", r["unexpected_disconnects"], ""))
    w0 = max(len(str(a)) for a, _, _ in rows)
    w1 = max(len(str(b)) for _, b, _ in rows)
    return "\n".join(f"{a!s:<{w0}}  {b!s:<{w1}}  {c}".rstrip() for a, b, c in rows)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-n", "--agents", type=int, default=1000)
    p.add_argument("--start-server", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--server-url", help="use this running server (implies --no-start-server)")
    p.add_argument(
        "--server-pid", type=int, help="pid of that server (default: the process listening on its port)"
    )
    p.add_argument("--admin-password", help="password of user admin on --server-url")
    p.add_argument("--enroll-token", help="enrollment token with at least N uses on --server-url")
    p.add_argument("--database-url", help="FLEETDECK_DATABASE_URL for the started server (default SQLite)")
    p.add_argument(
        "--create-pg-db",
        action="store_true",
        help="--database-url names a PostgreSQL server: create a throwaway database fdbench_<random> there "
        "and drop it afterwards",
    )
    p.add_argument("--port", type=int, default=0, help="port for the started server (default: a free one)")
    p.add_argument(
        "--heartbeat-sec", type=float, default=30.0, help="server heartbeat interval (idle agents)"
    )
    p.add_argument("--inventory-size", type=int, default=20, help="software entries per inventory; -1 = none")
    p.add_argument("--concurrency", type=int, default=200, help="concurrent enrollments/connects")
    p.add_argument(
        "--source-addresses", type=int, default=0, help="127.0.0.1..k to connect from (default N/8000)"
    )
    p.add_argument("--hb-interval", type=float, default=1.0, help="steady phase: seconds between heartbeats")
    p.add_argument("--hb-duration", type=float, default=10.0, help="steady phase length; 0 skips heartbeats")
    p.add_argument("--hb-burst", type=int, default=10, help="burst phase: heartbeats per agent")
    p.add_argument("--fanout-runs", type=int, default=3)
    p.add_argument(
        "--reconnect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="at the end, drop every connection and time all agents coming back (no inventory)",
    )
    p.add_argument(
        "--running-notice",
        action="store_true",
        help="answer a JobRun with JobUpdate(running) + JobResult, as agents did before they sent "
        "no running notice for jobs that end within 0.3 s",
    )
    p.add_argument(
        "--auth",
        choices=["jwt", "basic"],
        default="jwt",
        help="HTTP Basic on every request costs an argon2 verification; jwt logs in once (default)",
    )
    p.add_argument("--poll-interval", type=float, default=0.1, help="GET /api/v1/commands/{id} interval")
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the started server to CPU 0 and this bench to CPU 1 (they do not compete for a core)",
    )
    p.add_argument(
        "--server-env", action="append", default=[], metavar="K=V", help="extra server environment"
    )
    p.add_argument(
        "--compression",
        choices=["none", "deflate"],
        default="none",
        help="permessage-deflate offered by the simulated agents (the real agent offers deflate)",
    )
    p.add_argument(
        "--ws-impl", choices=["wsproto", "websockets-sansio"], help="override the server's uvicorn ws="
    )
    p.add_argument(
        "--server-deflate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override uvicorn ws_per_message_deflate in the started server",
    )
    p.add_argument("--profile-dir", help="record py-spy profiles of the server per phase into this dir")
    p.add_argument(
        "--profile-phases", default="connect,heartbeats,fanout", help="which phases --profile-dir records"
    )
    p.add_argument("--profile-rate", type=int, default=50, help="py-spy samples per second")
    p.add_argument(
        "--profile-gil",
        action="store_true",
        help="sample only the thread holding the GIL (py-spy --gil): where the server's Python CPU goes",
    )
    p.add_argument("--keep", action="store_true", help="keep the data dir (and the server log)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    opts = p.parse_args()
    if opts.server_url:
        opts.start_server = False
    WS_OPTIONS["compression"] = None if opts.compression == "none" else "deflate"
    opts.server_cpus = None
    if opts.pin:
        if (os.cpu_count() or 1) < 2:
            raise SystemExit("--pin needs 2 CPUs")
        opts.server_cpus = {0}
        os.sched_setaffinity(0, {1})

    nofile = raise_nofile(2 * opts.agents + 4096)  # the server inherits it when we start it
    log(f"RLIMIT_NOFILE {nofile}")
    password = opts.admin_password or secrets.token_urlsafe(16)
    env = dict(os.environ)
    env["FLEETDECK_HEARTBEAT_SEC"] = str(opts.heartbeat_sec)
    env.setdefault("FLEETDECK_LOG_LEVEL", "warning")
    for kv in opts.server_env:
        k, _, v = kv.partition("=")
        env[k] = v
    pg_admin_url = pg_db = None
    if opts.database_url:
        url = opts.database_url
        if opts.create_pg_db:
            import psycopg

            pg_db = f"fdbench_{secrets.token_hex(4)}"
            parts = urlsplit(url)
            pg_admin_url = urlunsplit(parts._replace(path="/postgres"))
            with psycopg.connect(pg_admin_url, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{pg_db}"')
            url = urlunsplit(parts._replace(path=f"/{pg_db}"))
            log(f"created database {pg_db}")
        env["FLEETDECK_DATABASE_URL"] = url

    server: Server | None = None
    try:
        if opts.start_server:
            server, token = start_server(opts, password, env)
        else:
            if not (opts.server_url and opts.admin_password and opts.enroll_token):
                raise SystemExit("--server-url needs --admin-password and --enroll-token")
            port = httpx.URL(opts.server_url).port or 80
            proc = psutil.Process(opts.server_pid) if opts.server_pid else find_listener(port)
            if proc is None:
                log("server process not found: memory and CPU figures are 0")
            server, token = Server(opts.server_url.rstrip("/"), proc), opts.enroll_token
        health = httpx.get(f"{server.base_url}/healthz", timeout=10).json()
        load0 = [round(x, 2) for x in os.getloadavg()]
        if load0[0] > (os.cpu_count() or 1):
            log(f"warning: load average {load0} - other processes compete for the CPUs")
        result = asyncio.run(run(opts, server, token, password))
        result["database"] = health.get("database")
        result["pinned"] = bool(opts.pin)
        result["compression"] = opts.compression
        result["running_notice"] = opts.running_notice
        result["ws_impl"] = opts.ws_impl or "default (wsproto)"
        result["server_deflate"] = "server default" if opts.server_deflate is None else opts.server_deflate
        result["loadavg_start"] = load0
        result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        result["cpu"] = cpu_model()
        result["nproc"] = os.cpu_count()
        print(summary(result), file=sys.stderr)
        if opts.json:
            print(json.dumps(result, indent=2))
    finally:
        if server is not None and server.popen is not None:
            server.popen.send_signal(signal.SIGINT)
            try:
                server.popen.wait(30)
            except subprocess.TimeoutExpired:
                server.popen.kill()
                server.popen.wait()
            if server.data_dir is not None:
                if opts.keep:
                    log(f"kept {server.data_dir}")
                else:
                    shutil.rmtree(server.data_dir, ignore_errors=True)
        if pg_db and pg_admin_url:
            import psycopg

            with psycopg.connect(pg_admin_url, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
            log(f"dropped database {pg_db}")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()
