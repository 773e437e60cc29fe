"""``oco.computer.list`` as JSON over real HTTP with N computers: the median of several calls.

    .venv/bin/python bench/oco_list.py -n 10000 [--runs 9] [--src PATH] [--data-dir DIR] [--json]
    .venv/bin/python bench/oco_list.py -n 10000 --profile      # cProfile of one call, in-process

The computers are written with one bulk INSERT into a database migrated by the server itself
(every inventory scalar a list row shows is filled; the list reads no child tables), then a real
``fleetdeck server`` subprocess is started on that data and ``/api-client.php`` is called over
loopback with HTTP Basic + a personal API token, the way a script would.

A/B against another tree: ``--src`` runs the server from that tree's ``src`` (e.g. a
``git archive main`` unpacked in /tmp), on a copy of the same filled data directory
(``--data-dir`` keeps one filled directory for both runs; the schema must be the same).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

import serving
from agents import log
from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.settings import Settings
from fleetdeck.storage.tables.computers import Computer

PASSWORD = "bench-password-1"
API_KEY = "bench-api-key"
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"


def fill(data_dir: Path, n: int) -> str:
    """A migrated database with the OCO API on, an admin, and ``n`` computers; returns an API
    token of the admin (also written to ``data_dir/bench-token``, so a kept directory is reused)."""
    settings = Settings(data_dir=data_dir, secret_key=SECRET)
    rt = build_runtime(settings)
    system = system_actor("bench")
    user = rt.services.users.create(system, "admin", PASSWORD, Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
    rt.services.settings.set(admin, "oco.api_enabled", True)
    rt.services.settings.set(admin, "oco.api_key", API_KEY)
    token = rt.services.users.create_token(admin, "bench", "read+write", None).token
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {
            "uid": f"{i:032x}",
            "hostname": f"pc-{i:05d}",
            "fqdn": f"pc-{i:05d}.bench.example",
            "notes": "",
            "created_at": now - timedelta(days=30),
            "created_by": "admin",
            "last_seen": now - timedelta(seconds=i % 600),
            "online": i % 3 != 0,
            "remote_address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            "agent_key_hash": f"{i:064x}",
            "agent_version": "1.0.0",
            "enrolled_at": now - timedelta(days=30),
            "os": "Windows 11 Pro" if i % 2 else "Ubuntu 24.04.1 LTS",
            "os_version": "10.0.22631" if i % 2 else "24.04",
            "os_family": "windows" if i % 2 else "linux",
            "kernel": "10.0.22631" if i % 2 else "6.8.0-45-generic",
            "architecture": "x86_64",
            "cpu_model": "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz",
            "cpu_cores": 6,
            "cpu_threads": 12,
            "ram_bytes": 17_011_314_688,
            "boot_time": now - timedelta(hours=i % 100),
            "manufacturer": "Dell Inc.",
            "model": "OptiPlex 7080",
            "serial": f"SN{i:08d}",
            "bios_version": "1.21.0",
            "machine_id": f"{i:032x}",
            "domain": "bench.example",
            "timezone": "Europe/Berlin",
            "inventory_digest": f"{i:064x}",
            "inventory_at": now - timedelta(minutes=i % 60),
        }
        for i in range(n)
    ]
    with rt.db.engine.begin() as conn:
        conn.execute(Computer.__table__.insert(), rows)
    rt.db.dispose()
    (data_dir / "bench-token").write_text(token)
    return token


@contextmanager
def server(data_dir: Path, src: Path | None) -> Iterator[tuple[str, psutil.Process]]:
    """``serving.server`` with this bench's secret key (the filled data was encrypted with it)."""
    with serving.server(data_dir, src=src, env={"FLEETDECK_SECRET_KEY": SECRET}) as running:
        yield running


def rpc(method: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"api_key": API_KEY, "data": data}}


def cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def call(http: httpx.Client, method: str, data: dict[str, Any], auth: tuple[str, str]) -> tuple[float, bytes]:
    """One call, timed until the whole response body is read; checks it is a result."""
    t0 = time.perf_counter()
    r = http.post("/api-client.php", json=rpc(method, data), auth=auth)
    dt = time.perf_counter() - t0
    r.raise_for_status()
    assert b'"result"' in r.content[:200] or "result" in r.json(), r.text[:300]
    return dt, r.content


def filled_dir(opts: argparse.Namespace) -> tuple[Path, str]:
    if opts.data_dir and (Path(opts.data_dir) / "bench-token").exists():
        data_dir = Path(opts.data_dir)
        return data_dir, (data_dir / "bench-token").read_text()
    data_dir = Path(opts.data_dir) if opts.data_dir else Path(tempfile.mkdtemp(prefix="fdbench-ocolist-"))
    t0 = time.perf_counter()
    token = fill(data_dir, opts.computers)
    log(f"filled {opts.computers} computers in {time.perf_counter() - t0:.1f} s")
    return data_dir, token


def profile(data_dir: Path) -> None:
    """One ``oco.computer.list`` in this process, under cProfile: the method (core's listing and
    OCO's rows) and the JSON encoding the envelope does, without HTTP."""
    from fleetdeck.api.dialects.oco.methods.computers import computer_list
    from fleetdeck.api.dialects.oco.registry import Context
    from fleetdeck.api.kit.bodies import encode_json

    rt = build_runtime(Settings(data_dir=data_dir, secret_key=SECRET), migrate_db=False)
    actor = Actor(user_id=1, username="admin", role=Role.ADMIN)

    def once() -> bytes:
        ctx = Context(rt.services, actor)
        return encode_json(
            {"jsonrpc": "2.0", "id": 1, "result": {"success": True, "data": computer_list(ctx)}}
        )

    once()  # warm-up
    t0 = time.perf_counter()
    once()
    log(f"one call in-process: {(time.perf_counter() - t0) * 1000:.0f} ms")
    prof = cProfile.Profile()
    prof.enable()
    once()
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--computers", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--src", type=Path, default=None, help="run the server from this tree's src")
    ap.add_argument("--data-dir", default="", help="fill once here and reuse (a copy per run)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()

    data_dir, token = filled_dir(opts)
    if opts.profile:
        profile(data_dir)
        return
    run_dir = Path(tempfile.mkdtemp(prefix="fdbench-ocolist-run-"))
    shutil.copytree(data_dir, run_dir, dirs_exist_ok=True)
    results: dict[str, Any] = {"computers": opts.computers, "src": str(opts.src or "this tree")}
    try:
        with server(run_dir, opts.src) as (url, proc), httpx.Client(base_url=url, timeout=120) as http:
            auth = ("admin", token)
            _, body = call(http, "oco.computer.list", {}, auth)  # warm-up
            assert len(json.loads(body)["result"]["data"]["computers"]) == opts.computers
            samples, cpu_samples = [], []
            for _ in range(opts.runs):
                before = cpu(proc)
                samples.append(call(http, "oco.computer.list", {}, auth)[0])
                cpu_samples.append(cpu(proc) - before)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    results["median_ms"] = round(statistics.median(samples) * 1000, 1)
    results["min_ms"] = round(min(samples) * 1000, 1)
    results["max_ms"] = round(max(samples) * 1000, 1)
    results["server_cpu_median_ms"] = round(statistics.median(cpu_samples) * 1000, 1)
    results["server_cpu_min_ms"] = round(min(cpu_samples) * 1000, 1)
    results["bytes"] = len(body)
    results["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
