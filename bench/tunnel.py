#!/usr/bin/env python
"""Throughput and latency through a tunnel (issue #18), against a direct loopback connection.

    .venv/bin/python bench/tunnel.py [--mb 64] [--pings 500] [--json] [--udp-only]

A real server process, one real agent process (``python -m fleetdeck.agent``) and two small
TCP servers on 127.0.0.1: a source that writes ``--mb`` MiB to whoever connects, and an echo
server. A tunnel to each is made through rportd's API; the bench then reads the source's bytes
directly and through the tunnel (MB/s, and the ratio), and times ``--pings`` one-byte round
trips to the echo server both ways (median and p99, ms), and the CPU time the server and the agent
process spent per MiB carried (ms; unlike MB/s, hardly moved by other load on the machine).
Through the tunnel every byte goes client -> server listener -> the agent's WebSocket (binary
frames of at most 128 KiB, or base64 in JSON frames of 32 KiB for an agent or server without
``tunnel_binary``; credit-windowed) -> agent -> target, and back.

UDP: a UDP echo server on 127.0.0.1 and a UDP tunnel (``protocol=udp``) to it; ``--pings``
one-byte datagrams, each waiting for its reply, directly and through the tunnel (median and p99,
ms): client -> the server's UDP port -> ``udp_data`` on the agent's WebSocket -> the agent's
flow socket -> target, and back. ``--udp-only`` skips the TCP figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from agents import free_port, log
from real_agents import ADMIN, PASSWORD, start_server

CHUNK = 256 * 1024


def source_server(total: int) -> int:
    block = os.urandom(CHUNK)
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            conn, _ = srv.accept()
            with conn, contextlib.suppress(OSError):  # a reader that stops early
                sent = 0
                while sent < total:
                    n = min(CHUNK, total - sent)
                    conn.sendall(block[:n])
                    sent += n

    threading.Thread(target=serve, daemon=True).start()
    port: int = srv.getsockname()[1]
    return port


def echo_server() -> int:
    srv = socket.create_server(("127.0.0.1", 0))

    def one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        while True:
            conn, _ = srv.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    port: int = srv.getsockname()[1]
    return port


def udp_echo_server() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            data, addr = sock.recvfrom(65535)
            sock.sendto(data, addr)

    threading.Thread(target=serve, daemon=True).start()
    port: int = sock.getsockname()[1]
    return port


def udp_pings(port: int, n: int) -> list[float]:
    """Round trips of one-byte datagrams (a lost one is sent again, and not counted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port))
        s.settimeout(2)
        out: list[float] = []
        lost = 0
        while len(out) < n:
            t0 = time.perf_counter()
            s.send(b"x")
            try:
                s.recv(16)
            except TimeoutError:
                lost += 1
                if lost > 10:
                    raise SystemExit(f"UDP echo through {port}: {lost} datagrams lost") from None
                continue
            out.append((time.perf_counter() - t0) * 1000)
        return out


def read_all(port: int, total: int) -> float:
    """MB/s reading ``total`` bytes from ``port``."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        got, t0 = 0, time.perf_counter()
        while got < total:
            data = s.recv(CHUNK)
            if not data:
                raise SystemExit(f"connection to {port} ended after {got} of {total} bytes")
            got += len(data)
        return total / (time.perf_counter() - t0) / 1e6


def pings(port: int, n: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise SystemExit("echo lost")
            out.append((time.perf_counter() - t0) * 1000)
        return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc): unlike wall time, barely
    moved by other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--pings", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--udp-only", action="store_true", help="only the UDP round trips")
    opts = parser.parse_args()
    total = opts.mb * 1024 * 1024
    base = Path(tempfile.mkdtemp(prefix="fleetdeck-tunnel-bench-"))
    server, url, token = start_server(base, 1)
    agent: subprocess.Popen[bytes] | None = None
    try:
        state = base / "agent"
        state.mkdir()
        logf = open(state / "agent.log", "wb")  # noqa: SIM115 - lives as long as the agent
        command = [sys.executable, "-m", "fleetdeck.agent", "--server", url, "--enroll-token", token]
        agent = subprocess.Popen(
            [*command, "--state-dir", str(state), "--log-level", "WARNING"],
            stdout=logf,
            stderr=logf,
        )
        api = httpx.Client(base_url=url, auth=(ADMIN, PASSWORD), timeout=30)
        r = api.put("/api/v1/settings/tunnels.listen_host", json={"value": "127.0.0.1"})
        r.raise_for_status()
        deadline = time.monotonic() + 60
        uid = ""
        while not uid and time.monotonic() < deadline:
            rows = api.get("/rport/api/v1/clients", params={"filter[connection_state]": "connected"}).json()
            uid = rows["data"][0]["id"] if rows["data"] else ""
            time.sleep(0.2)
        if not uid:
            raise SystemExit("the agent did not connect")
        src, echo, udp_echo = source_server(total), echo_server(), udp_echo_server()
        ports = {}
        for name, remote, protocol in (
            ("source", src, "tcp"),
            ("echo", echo, "tcp"),
            ("udp", udp_echo, "udp"),
        ):
            lport = free_port()
            params = {"remote": f"127.0.0.1:{remote}", "local": f"127.0.0.1:{lport}", "name": name}
            r = api.put(f"/rport/api/v1/clients/{uid}/tunnels", params={**params, "protocol": protocol})
            r.raise_for_status()
            ports[name] = lport
        udp_pings(ports["udp"], 20)  # warm up (the flow opens)
        udp_direct = udp_pings(udp_echo, opts.pings)
        udp_tunnel = udp_pings(ports["udp"], opts.pings)
        udp: dict[str, Any] = {
            "udp_rtt_direct_ms": {
                "median": round(statistics.median(udp_direct), 3),
                "p99": round(p99(udp_direct), 3),
            },
            "udp_rtt_tunnel_ms": {
                "median": round(statistics.median(udp_tunnel), 3),
                "p99": round(p99(udp_tunnel), 3),
            },
        }
        udp_line = (
            f"UDP RTT median direct {udp['udp_rtt_direct_ms']['median']} ms, tunnel"
            f" {udp['udp_rtt_tunnel_ms']['median']} ms (p99 {udp['udp_rtt_tunnel_ms']['p99']})"
        )
        if opts.udp_only:
            load = [round(x, 2) for x in os.getloadavg()]
            if opts.json:
                print(json.dumps({**udp, "load_average": load, "cpus": os.cpu_count()}))
            else:
                log(f"{udp_line}; load {load}")
            return
        read_all(src, total)  # warm up both paths
        read_all(ports["source"], total)
        direct = [read_all(src, total) for _ in range(opts.runs)]
        cpu0 = cpu_seconds(server.pid), cpu_seconds(agent.pid)
        tunnel = [read_all(ports["source"], total) for _ in range(opts.runs)]
        cpu1 = cpu_seconds(server.pid), cpu_seconds(agent.pid)
        mib = opts.mb * opts.runs
        rtt_direct = pings(echo, opts.pings)
        rtt_tunnel = pings(ports["echo"], opts.pings)
        result: dict[str, Any] = {
            "mb": opts.mb,
            "direct_mb_s": round(statistics.median(direct), 1),
            "tunnel_mb_s": round(statistics.median(tunnel), 1),
            "ratio": round(statistics.median(tunnel) / statistics.median(direct), 4),
            # CPU time per MiB carried (ms), server and agent process: the cost of the framing
            "cpu_ms_per_mib": {
                "server": round((cpu1[0] - cpu0[0]) * 1000 / mib, 2),
                "agent": round((cpu1[1] - cpu0[1]) * 1000 / mib, 2),
            },
            "rtt_direct_ms": {
                "median": round(statistics.median(rtt_direct), 3),
                "p99": round(p99(rtt_direct), 3),
            },
            "rtt_tunnel_ms": {
                "median": round(statistics.median(rtt_tunnel), 3),
                "p99": round(p99(rtt_tunnel), 3),
            },
            **udp,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        if opts.json:
            print(json.dumps(result))
        else:
            log(
                f"{opts.mb} MiB: direct {result['direct_mb_s']} MB/s, tunnel {result['tunnel_mb_s']} MB/s"
                f" (ratio {result['ratio']}); RTT median direct {result['rtt_direct_ms']['median']} ms,"
                f" tunnel {result['rtt_tunnel_ms']['median']} ms (p99 {result['rtt_tunnel_ms']['p99']});"
                f" CPU ms/MiB server {result['cpu_ms_per_mib']['server']},"
                f" agent {result['cpu_ms_per_mib']['agent']};"
                f" {udp_line}; load {result['load_average']}"
            )
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(15)
        server.terminate()
        server.wait(30)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
