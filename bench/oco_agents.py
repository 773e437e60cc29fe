"""OCO agents polling ``/api-agent.php``: registration and hello cost, without and with jobs.

    .venv/bin/python bench/oco_agents.py [-n 200] [--rounds 3] [--threads 8] [--json]

A real ``fleetdeck server`` (SQLite in a fresh data directory) with self-registration on.
``-n`` simulated OCO agents (signed requests as OCO's agent makes them, answers checked against
the server key) register, then poll ``--rounds`` times each from ``--threads`` threads: first
with nothing to do, then after one ``/api/v1`` deployment of a package to every computer (each
hello then lists one job). Reports per phase the wall time, requests per second, latency p50/p90
and the server's CPU time per request.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.settings import Settings
from oco_list import PASSWORD, SECRET, cpu, server

REGISTRATION_KEY = "bench-registration-key"


def prepare(data_dir: Path) -> str:
    rt = build_runtime(Settings(data_dir=data_dir, secret_key=SECRET))
    user = rt.services.users.create(system_actor("bench"), "admin", PASSWORD, Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
    rt.services.settings.set(admin, "oco.agent_registration_enabled", True)
    rt.services.settings.set(admin, "oco.agent_registration_key", REGISTRATION_KEY)
    token = rt.services.users.create_token(admin, "bench", "read+write", None).token
    rt.db.dispose()
    return token


class Agent:
    def __init__(self, url: str, hostname: str) -> None:
        self.url, self.hostname = url, hostname
        self.key, self.server_key = REGISTRATION_KEY, ""

    def hello(self) -> tuple[float, int]:
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "oco.agent.hello",
                "params": {
                    "uid": self.hostname,
                    "hostname": self.hostname,
                    "timestamp": time.time(),
                    "data": {"agent_version": "1.2.0", "uptime": 100},
                },
            }
        ).encode()
        sig = hmac.new(self.key.encode(), body, hashlib.sha256).hexdigest()
        t0 = time.perf_counter()
        r = httpx.post(  # a connection per request, as OCO's agent makes them
            f"{self.url}/api-agent.php",
            content=body,
            headers={"content-type": "application/json", "x-oco-agent-signature": sig},
            timeout=60,
        )
        dt = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        params = r.json()["result"]["params"]
        if params["agent-key"]:
            self.key, self.server_key = params["agent-key"], params["server-key"]
        expected = hmac.new(self.server_key.encode(), r.content, hashlib.sha256).hexdigest()
        assert r.headers["x-oco-server-signature"] == expected
        return dt, len(params["software-jobs"])


def phase(agents: list[Agent], rounds: int, threads: int, proc: Any) -> dict[str, Any]:
    before = cpu(proc)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = [r for _ in range(rounds) for r in pool.map(lambda a: a.hello(), agents)]
    wall = time.perf_counter() - t0
    used = cpu(proc) - before
    lat = sorted(r[0] for r in results)
    return {
        "requests": len(results),
        "jobs_per_hello": sorted({r[1] for r in results}),
        "wall_s": round(wall, 2),
        "per_s": round(len(results) / wall, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 1),
        "p90_ms": round(lat[int(len(lat) * 0.9)] * 1000, 1),
        "server_cpu_ms_per_request": round(used / len(results) * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--agents", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="fdbench-ocoagents-"))
    token = prepare(data_dir)
    out: dict[str, Any] = {"agents": opts.agents, "threads": opts.threads}
    with server(data_dir, None) as (url, proc):
        agents = [Agent(url, f"oco-{i:05d}") for i in range(opts.agents)]
        out["register"] = phase(agents, 1, opts.threads, proc)
        out["hello_no_jobs"] = phase(agents, opts.rounds, opts.threads, proc)
        v1 = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=300)
        files = [{"name": "install.sh", "content": base64.b64encode(b"true\n").decode()}]
        pkg = v1.post(
            "/packages",
            json={"family_name": "B", "version": "1", "install_procedure": "true", "files": files},
        )
        ids = [c["id"] for c in v1.get("/computers", params={"page[limit]": opts.agents}).json()["data"]]
        r = v1.post(
            "/deployments",
            json={"name": "bench", "computer_ids": ids, "package_ids": [pkg.json()["data"]["id"]]},
        )
        assert r.status_code == 201, r.text
        out["hello_one_job"] = phase(agents, opts.rounds, opts.threads, proc)
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    out["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(json.dumps(out, indent=2) if opts.json else out)


if __name__ == "__main__":
    main()
