"""opsi ``/rpc`` latency with many clients: ``host_getObjects``, ``productOnClient_getObjects``
(N clients x P products installed) and ``auditSoftwareOnClient_getObjects`` for one client with
S software entries, each in JSON and in msgpack + LZ4 (what opsi's own client sends).

    .venv/bin/python bench/opsi_api.py -n 10000 --products 50 --software 500 [--json] [--data-dir DIR]

Clients are enrolled through core in-process; the P products are packages created through core;
the N x P installations (and their stored package states) are bulk-inserted (creating them one by
one through the deployment engine would take hours and measure something else). Then a real
``fleetdeck server`` is started on that data and called over loopback with an API token.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import lz4.frame
import msgspec
from sqlalchemy import insert

import serving
from agents import Agent, log, make_inventory
from fleetdeck.app import Runtime, build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import Installation, PackageState
from fleetdeck.storage.uow import UnitOfWork

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"


def enroll_many(settings: Settings, n: int) -> tuple[Runtime, Actor, list[int]]:
    """A runtime on ``settings``, its admin, and ``n`` computers enrolled as agents would be
    (each with an encrypted agent key), named ``bench-000000`` on."""
    rt = build_runtime(settings)
    system = system_actor("bench")
    user = rt.services.users.create(system, "admin", "bench-password-1", Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
    token = rt.services.enrollment.create_token(admin, max_uses=None)
    t0 = time.perf_counter()
    ids = []
    for i in range(n):
        creds = rt.services.enrollment.enroll(
            token.token,
            hostname=f"bench-{i:06d}",
            machine_id=f"{i:032x}",
            agent_version="bench",
            source="127.0.0.1",
        )
        ids.append(creds.computer_id)
        if (i + 1) % 2000 == 0:
            log(f"  {i + 1}/{n} clients ({time.perf_counter() - t0:.0f} s)")
    return rt, admin, ids


def fill(settings: Settings, n: int, products: int, software: int) -> tuple[str, str]:
    """Returns (API token, host id of the client with the big software inventory)."""
    rt, admin, ids = enroll_many(settings, n)
    inv = make_inventory(Agent(0, "127.0.0.1"), software)
    rt.services.computers.record_inventory(system_actor("bench"), ids[0], inv, m.inventory_digest(inv))
    created = [
        rt.services.packages.create(admin, f"product-{k:02d}", "1.0", PackageFields(install_procedure="true"))
        for k in range(products)
    ]
    pkgs = [p.id for p in created]
    now = rt.services.computers.get(admin, ids[0]).summary.created_at
    with UnitOfWork(rt.db) as uow:
        rows = [
            {"computer_id": c, "package_id": p, "installed_at": now, "procedure": "true"}
            for c in ids
            for p in pkgs
        ]
        for start in range(0, len(rows), 20_000):
            uow.session.execute(insert(Installation), rows[start : start + 20_000])
        # and their stored states (what a finished install job writes)
        states = [
            {
                "computer_id": c,
                "family_id": p.family_id,
                "installation_status": "installed",
                "action_request": "none",
                "last_action": "setup",
                "action_result": "successful",
                "action_progress": "",
                "version": p.version,
                "package_version": p.package_version,
                "modified_at": now,
            }
            for c in ids
            for p in created
        ]
        for start in range(0, len(states), 20_000):
            uow.session.execute(insert(PackageState), states[start : start + 20_000])
    api_token = rt.services.users.create_token(admin, "bench", "read+write", None).token
    rt.db.dispose()
    return api_token, "bench-000000.bench.example"


def reuse(settings: Settings) -> tuple[str, str]:
    """(a new API token, host id of the big client) for a data directory ``fill`` made."""
    rt = build_runtime(settings)
    admin = Actor(user_id=1, username="admin", role=Role.ADMIN)
    token = rt.services.users.create_token(admin, f"bench again {time.time_ns()}", "read+write", None).token
    rt.db.dispose()
    return token, "bench-000000.bench.example"


def call(
    http: httpx.Client, auth: tuple[str, str], method: str, params: list[Any], msgpack: bool
) -> tuple[float, int, int]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    if msgpack:
        headers = {
            "Content-Type": "application/msgpack",
            "Accept": "application/msgpack",
            "Content-Encoding": "lz4",
            "Accept-Encoding": "lz4",
        }
        content = lz4.frame.compress(msgspec.msgpack.encode(body))
    else:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        content = json.dumps(body).encode()
    t0 = time.perf_counter()
    r = http.post("/rpc", content=content, headers=headers, auth=auth)
    raw = r.content
    if r.headers.get("content-encoding") == "lz4":
        raw = lz4.frame.decompress(raw)
    answer = msgspec.msgpack.decode(raw) if msgpack else json.loads(raw)
    dt = time.perf_counter() - t0
    assert answer.get("error") is None, str(answer)[:300]
    return dt, len(r.content), len(answer["result"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--clients", type=int, default=10_000)
    ap.add_argument("--products", type=int, default=50)
    ap.add_argument("--software", type=int, default=500)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--data-dir",
        type=Path,
        help="reuse the data directory of an earlier run (its log names it) instead of filling a new one",
    )
    opts = ap.parse_args()

    results: dict[str, Any] = {"clients": opts.clients, "products": opts.products, "software": opts.software}
    if opts.data_dir is not None:
        data_dir = opts.data_dir
        token, big = reuse(Settings(data_dir=data_dir, secret_key=SECRET))
        results["reused"] = str(data_dir)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="fdbench-opsi-"))
        settings = Settings(data_dir=data_dir, secret_key=SECRET)
        t0 = time.perf_counter()
        token, big = fill(settings, opts.clients, opts.products, opts.software)
        results["fill_sec"] = round(time.perf_counter() - t0, 1)
        log(f"filled {data_dir} in {results['fill_sec']} s")

    with serving.server(data_dir, env={"FLEETDECK_SECRET_KEY": SECRET}) as (url, _proc):
        auth = ("admin", token)
        cases = {
            "host_getObjects": ("host_getObjects", []),
            "productOnClient_getObjects (all)": ("productOnClient_getObjects", []),
            "productOnClient_getObjects (one client)": (
                "productOnClient_getObjects",
                [[], {"clientId": big}],
            ),
            "auditSoftwareOnClient_getObjects (one client)": (
                "auditSoftwareOnClient_getObjects",
                [[], {"clientId": big}],
            ),
        }
        with httpx.Client(base_url=url, timeout=600) as http:
            for label, (method, params) in cases.items():
                for msgpack in (False, True):
                    runs = [call(http, auth, method, params, msgpack) for _ in range(opts.calls)]
                    times = sorted(t for t, _, _ in runs)
                    key = f"{label} [{'msgpack+lz4' if msgpack else 'json'}]"
                    results[key] = {
                        "p50_ms": round(statistics.median(times) * 1000, 1),
                        "max_ms": round(times[-1] * 1000, 1),
                        "bytes": runs[0][1],
                        "objects": runs[0][2],
                    }
                    log(f"{key}: {results[key]}")
    results["server_log"] = str(data_dir / "server.log")
    results["loadavg_end"] = os.getloadavg()
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
