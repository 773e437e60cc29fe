"""opsi ``host_getObjects()`` at 10,000 hosts, as JSON over real HTTP, A/B between checkouts.

    .venv/bin/python bench/opsi_list.py -n 10000 --calls 7 \
        --variant main=/tmp/fd-main/src --variant this=src [--json]

10,000 computers are enrolled through core in-process (so each has an encrypted agent key that
an admin's ``host_getObjects`` decrypts and shows as ``opsiHostKey``), and each gets one network
interface with a MAC and an IPv4 address (bulk-inserted: an inventory per computer would take
minutes and is not what is measured). Then, for each ``--variant LABEL=SRC``, a real
``fleetdeck server`` is started from that source tree on the same data and ``/rpc`` is called
over loopback with an API token, JSON in and out. The variants take turns call by call, so
machine load hits both alike. Reported: p50 and min per variant and filter, plus bytes and
object count (which must agree between variants).

To get a ``main`` tree without touching a work tree: ``git archive main | tar -x -C /tmp/fd-main``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

import serving
from agents import log
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import ComputerInterface
from fleetdeck.storage.uow import UnitOfWork
from opsi_api import enroll_many

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
CASES: dict[str, list[Any]] = {
    "host_getObjects()": [],
    "host_getObjects(id=bench-00012*)": [[], {"id": "bench-00012*"}],
    "host_getObjects(type=OpsiClient, notes=x)": [[], {"type": "OpsiClient", "notes": "x"}],
}


def fill(settings: Settings, n: int) -> str:
    """Enrolls ``n`` computers with one interface each; returns an admin API token."""
    rt, admin, ids = enroll_many(settings, n)
    with UnitOfWork(rt.db) as uow:
        rows = [
            {
                "computer_id": c,
                "name": "eth0",
                "mac": f"52:54:00:{k >> 16 & 255:02x}:{k >> 8 & 255:02x}:{k & 255:02x}",
                "addresses": [{"address": f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}", "family": "ipv4"}],
            }
            for k, c in enumerate(ids)
        ]
        uow.session.execute(insert(ComputerInterface), rows)
    api_token = rt.services.users.create_token(admin, "bench", "read+write", None).token
    rt.db.dispose()
    return api_token


def call(http: httpx.Client, auth: tuple[str, str], params: list[Any]) -> tuple[float, int, int]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "host_getObjects", "params": params}).encode()
    headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
    t0 = time.perf_counter()
    r = http.post("/rpc", content=body, headers=headers, auth=auth)
    answer = json.loads(r.content)
    dt = time.perf_counter() - t0
    assert answer.get("error") is None, str(answer)[:300]
    return dt, len(r.content), len(answer["result"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--clients", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=7)
    ap.add_argument("--variant", action="append", default=[], help="LABEL=SRC (a tree holding fleetdeck/)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reuse", metavar="DIR", help="a data dir an earlier run filled")
    opts = ap.parse_args()
    variants = dict(v.split("=", 1) for v in opts.variant) or {"this": "src"}

    t0 = time.perf_counter()
    if opts.reuse:
        data_dir = Path(opts.reuse)
        token = (data_dir / "bench-token").read_text()
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="fdbench-opsi-list-"))
        token = fill(Settings(data_dir=data_dir, secret_key=SECRET), opts.clients)
        (data_dir / "bench-token").write_text(token)
    results: dict[str, Any] = {"clients": opts.clients, "calls": opts.calls, "loadavg_start": os.getloadavg()}
    results["fill_sec"] = round(time.perf_counter() - t0, 1)
    log(f"filled in {results['fill_sec']} s")

    auth = ("admin", token)
    with contextlib.ExitStack() as stack:
        servers = {
            label: stack.enter_context(
                serving.server(
                    data_dir,
                    src=Path(src),
                    env={"FLEETDECK_SECRET_KEY": SECRET},
                    log_name=f"server-{label}.log",
                )
            )
            for label, src in variants.items()
        }
        clients = {
            label: stack.enter_context(httpx.Client(base_url=url, timeout=600))
            for label, (url, _) in servers.items()
        }
        for case, params in CASES.items():
            runs: dict[str, list[tuple[float, int, int]]] = {label: [] for label in servers}
            for http in clients.values():
                call(http, auth, params)  # warm-up: imports, caches, first connection
            for _ in range(opts.calls):
                for label, http in clients.items():
                    runs[label].append(call(http, auth, params))
            for label, got in runs.items():
                times = sorted(t for t, _, _ in got)
                results[f"{case} [{label}]"] = row = {
                    "p50_ms": round(statistics.median(times) * 1000, 1),
                    "min_ms": round(times[0] * 1000, 1),
                    "bytes": got[0][1],
                    "objects": got[0][2],
                }
                log(f"{case} [{label}]: {row}")
    results["loadavg_end"] = os.getloadavg()
    results["data_dir"] = str(data_dir)
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
