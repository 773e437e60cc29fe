"""``oco.computer.list`` and ``oco.computer.get`` latency with N computers, each with a realistic
inventory (200 software entries, 3 filesystems, 2 interfaces, a logged-in user).

    .venv/bin/python bench/oco_api.py -n 10000 [--calls 20] [--database-url postgresql://...] [--json]

The computers are enrolled and their inventories stored in-process through core (the same
``record_inventory`` the agent endpoint calls), then a real ``fleetdeck server`` is started on
that data and timed over HTTP on loopback. Requests authenticate with HTTP Basic and a personal
API token (a keyed hash); one request with the password is timed separately, because argon2
(deliberately slow) dominates it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

import serving
from agents import Agent, log, make_inventory
from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings

PASSWORD = "bench-password-1"
API_KEY = "bench-api-key"


def fill(settings: Settings, n: int, n_software: int) -> str:
    """Enroll n computers with inventories; returns an API token of the admin."""
    rt = build_runtime(settings)
    system = system_actor("bench")
    user = rt.services.users.create(system, "admin", PASSWORD, Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
    rt.services.settings.set(admin, "oco.api_enabled", True)
    rt.services.settings.set(admin, "oco.api_key", API_KEY)
    token = rt.services.enrollment.create_token(admin, max_uses=None)
    t0 = time.perf_counter()
    for i in range(n):
        agent = Agent(i, "127.0.0.1")
        creds = rt.services.enrollment.enroll(
            token.token,
            hostname=agent.hostname,
            machine_id=f"{i:032x}",
            agent_version="bench",
            source="127.0.0.1",
        )
        inv = make_inventory(agent, n_software)
        rt.services.computers.record_inventory(system, creds.computer_id, inv, m.inventory_digest(inv))
        if (i + 1) % 1000 == 0:
            log(f"  {i + 1}/{n} computers ({time.perf_counter() - t0:.0f} s)")
    api_token = rt.services.users.create_token(admin, "bench", "read+write", None).token
    rt.db.dispose()
    return api_token


def call(http: httpx.Client, method: str, data: dict[str, Any], auth: tuple[str, str]) -> tuple[float, int]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"api_key": API_KEY, "data": data}}
    t0 = time.perf_counter()
    r = http.post("/api-client.php", json=body, auth=auth)
    dt = time.perf_counter() - t0
    r.raise_for_status()
    assert "result" in r.json(), r.text[:300]
    return dt, len(r.content)


def summary(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s) * 1000, 1),
        "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))] * 1000, 1),
        "max_ms": round(s[-1] * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--computers", type=int, default=10_000)
    ap.add_argument("--software", type=int, default=200)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="fdbench-oco-"))
    db_url = opts.database_url
    if db_url:  # a throwaway database on that server
        name = "fdbench_" + uuid.uuid4().hex[:8]
        subprocess.run(["psql", db_url, "-qc", f"CREATE DATABASE {name}"], check=True)
        db_url = db_url.rstrip("/").rsplit("/", 1)[0] + "/" + name if db_url.count("/") > 2 else db_url + name
    settings = Settings(
        data_dir=data_dir,
        database_url=db_url or None,
        secret_key="bench-secret-key-0123456789-abcdefghijklmnop",
    )
    t0 = time.perf_counter()
    token = fill(settings, opts.computers, opts.software)
    results: dict[str, Any] = {"computers": opts.computers, "software_each": opts.software}
    results["fill_sec"] = round(time.perf_counter() - t0, 1)
    log(f"filled {opts.computers} computers in {results['fill_sec']} s")

    extra = {"FLEETDECK_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop"}
    if db_url:
        extra["FLEETDECK_DATABASE_URL"] = db_url
    with serving.server(data_dir, env=extra) as (url, _proc), httpx.Client(base_url=url, timeout=120) as http:
        auth = ("admin", token)
        call(http, "oco.computer.list", {}, auth)  # warm-up
        lists = [call(http, "oco.computer.list", {}, auth) for _ in range(max(3, opts.calls // 4))]
        results["computer_list"] = {**summary([t for t, _ in lists]), "bytes": lists[0][1]}
        ids = [1 + (k * 7919) % opts.computers for k in range(opts.calls)]
        gets = [call(http, "oco.computer.get", {"id": i}, auth) for i in ids]
        results["computer_get"] = {**summary([t for t, _ in gets]), "bytes": gets[0][1]}
        t, _ = call(http, "oco.computer.get", {"id": 1}, ("admin", PASSWORD))
        results["computer_get_with_password_auth_ms"] = round(t * 1000, 1)
    results["loadavg_end"] = os.getloadavg()
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
