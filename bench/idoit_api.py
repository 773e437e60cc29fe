"""i-doit's ``cmdb.objects.read`` and ``cmdb.category.read`` over N computers, as JSON over real
HTTP: the median of several calls.

    .venv/bin/python bench/idoit_api.py -n 10000 [--runs 5] [--software 20] [--json]

The computers are written with one bulk INSERT (``oco_list.fill``: every inventory scalar
filled), each with ``--software`` installed applications and one network interface with an
address; their CMDB object rows are added as migration 0023 adds them for existing computers
(a bulk INSERT bypasses the session hook that links new computers). Then a real ``fleetdeck
server`` subprocess answers ``/src/jsonrpc.php`` over loopback with the API key, the way a
script would. Calls measured:

- ``objects``: ``cmdb.objects.read`` of every object, no categories (N rows)
- ``objects+os+cpu``: the same with ``categories: [OPERATING_SYSTEM, CPU]`` (rendered from the
  computers' rows, no extra table)
- ``objects+apps``: the same with ``categories: [APPLICATION]`` (N x software entries)
- ``category.read``: ``cmdb.category.read`` of one computer's applications in a database of N
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text

import oco_list
import serving
from agents import log
from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings
from fleetdeck.storage.tables.computers import ComputerInterface, ComputerSoftware

KEY = "bench-idoit-key"


def fill(data_dir: Path, n: int, software: int) -> None:
    oco_list.fill(data_dir, n)
    rt = build_runtime(Settings(data_dir=data_dir, secret_key=oco_list.SECRET), migrate_db=False)
    admin = Actor(user_id=1, username="admin", role=Role.ADMIN)
    rt.services.settings.set(admin, "idoit.api_enabled", True)
    rt.services.settings.set(admin, "idoit.api_key", KEY)
    with rt.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cmdb_objects (type_id, title, sysid, status, cmdb_status, description, attrs,"
                " computer_id, created_at, created_by, updated_by)"
                " SELECT NULL, '', '', 2, 6, '', '{}', id, created_at, created_by, '' FROM computers"
                " WHERE id NOT IN (SELECT computer_id FROM cmdb_objects WHERE computer_id IS NOT NULL)"
            )
        )
        ids = [row[0] for row in conn.execute(text("SELECT id FROM computers ORDER BY id"))]
        conn.execute(
            ComputerInterface.__table__.insert(),
            [
                {
                    "computer_id": cid,
                    "name": "eth0",
                    "mac": f"02:00:{cid:08x}"[:17],
                    "addresses": [
                        {
                            "address": f"10.{cid // 65536 % 256}.{cid // 256 % 256}.{cid % 256}",
                            "family": "ipv4",
                        }
                    ],
                }
                for cid in ids
            ],
        )
        for start in range(0, len(ids), 1000):
            conn.execute(
                ComputerSoftware.__table__.insert(),
                [
                    {"computer_id": cid, "name": f"app-{k:02d}", "version": f"1.{k}", "description": ""}
                    for cid in ids[start : start + 1000]
                    for k in range(software)
                ],
            )
    rt.db.dispose()


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"version": "2.0", "id": 1, "method": method, "params": {"apikey": KEY, **params}}


def measure(
    http: httpx.Client, proc: psutil.Process, method: str, params: dict[str, Any], runs: int
) -> dict[str, Any]:
    def once() -> tuple[float, float, bytes]:
        times = proc.cpu_times()
        before = times.user + times.system
        t0 = time.perf_counter()
        r = http.post("/src/jsonrpc.php", json=rpc(method, params))
        dt = time.perf_counter() - t0
        times = proc.cpu_times()
        assert b'"result"' in r.content[:100] or "result" in r.json(), r.text[:300]
        return dt, times.user + times.system - before, r.content

    once()  # warm-up
    samples = [once() for _ in range(runs)]
    return {
        "median_ms": round(statistics.median(s[0] for s in samples) * 1000, 1),
        "min_ms": round(min(s[0] for s in samples) * 1000, 1),
        "server_cpu_median_ms": round(statistics.median(s[1] for s in samples) * 1000, 1),
        "bytes": len(samples[-1][2]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--computers", type=int, default=10_000)
    ap.add_argument("--software", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="fdbench-idoit-"))
    t0 = time.perf_counter()
    fill(data_dir, opts.computers, opts.software)
    log(f"filled {opts.computers} computers in {time.perf_counter() - t0:.1f} s")
    results: dict[str, Any] = {"computers": opts.computers, "software_per_computer": opts.software}
    try:
        with (
            serving.server(data_dir, env={"FLEETDECK_SECRET_KEY": oco_list.SECRET}) as (url, proc),
            httpx.Client(base_url=url, timeout=300) as http,
        ):
            first = http.post(
                "/src/jsonrpc.php",
                json=rpc(
                    "cmdb.objects.read",
                    {"limit": 1, "filter": {"type_group": "C__OBJTYPE_GROUP__INFRASTRUCTURE"}},
                ),
            ).json()["result"]
            assert first, "no objects"
            results["objects"] = measure(http, proc, "cmdb.objects.read", {}, opts.runs)
            results["objects+os+cpu"] = measure(
                http,
                proc,
                "cmdb.objects.read",
                {"categories": ["C__CATG__OPERATING_SYSTEM", "C__CATG__CPU"]},
                opts.runs,
            )
            results["objects+apps"] = measure(
                http, proc, "cmdb.objects.read", {"categories": ["C__CATG__APPLICATION"]}, opts.runs
            )
            results["category.read"] = measure(
                http,
                proc,
                "cmdb.category.read",
                {"objID": first[0]["id"], "category": "C__CATG__APPLICATION"},
                opts.runs,
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    results["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
