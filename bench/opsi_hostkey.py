"""What an opsi host-key login costs in core (issue #13), in-process on SQLite (or the
database ``FLEETDECK_DATABASE_URL`` names): a fresh login (``authenticate_host``: throttle
check, candidate rows by name, a constant-time key check) and the check every later request
of its session makes (``host_key_current``: one read by primary key).

    .venv/bin/python bench/opsi_hostkey.py [-n 2000] [--calls 200] [--json]

``-n`` computers are created as ``host_createOpsiClient`` creates them (``ComputerService.put``
with a generated host key), so the name lookup runs against a filled table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.settings import Settings

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"
DOMAIN = "bench.example"


def ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": round(statistics.median(s) * 1000, 3), "p90_ms": round(s[int(len(s) * 0.9)] * 1000, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--computers", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    rt = build_runtime(
        Settings(data_dir=Path(tempfile.mkdtemp(prefix="fdbench-hostkey-")), secret_key=SECRET)
    )
    s = rt.services
    user = s.users.create(system_actor("bench"), "admin", "bench-password-1", Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
    t0 = time.perf_counter()
    ids = [
        s.computers.put(admin, f"ws-{i:06d}.{DOMAIN}", default_domain=DOMAIN) for i in range(opts.computers)
    ]
    fill = time.perf_counter() - t0
    records = s.computers.host_records(admin, [c.id for c in ids if c is not None][-10:])
    picked = [
        (f"ws-{opts.computers - 10 + i:06d}.{DOMAIN}", r.computer_id, r.host_key or "")
        for i, r in enumerate(records.values())
    ]
    login: list[float] = []
    session: list[float] = []
    for i in range(opts.calls):
        name, cid, key = picked[i % len(picked)]
        t = time.perf_counter()
        s.enrollment.authenticate_host(name, key, DOMAIN, source="127.0.0.1", via="opsi")
        login.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert s.enrollment.host_key_current(cid, key)
        session.append(time.perf_counter() - t)
    results = {
        "computers": opts.computers,
        "fill_sec": round(fill, 1),
        "login": ms(login),
        "session_check": ms(session),
        "database": rt.db.dialect if hasattr(rt.db, "dialect") else "",
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%H:%M:%S"),
    }
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
