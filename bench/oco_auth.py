"""Per-call latency of OCO calls authenticated with a password vs with an API token.

    .venv/bin/python bench/oco_auth.py [--calls 50] [--method oco.computer.get] [--src PATH] [--json]

OCO clients send HTTP Basic with the user's password on every call. The first such call costs
an argon2id verification (deliberately slow); the kit's ``CredentialCache`` should make every
later call cost what a token-authenticated one costs (a keyed hash and a user read by primary
key). A real ``fleetdeck server`` is started on a small filled database (bench/oco_list.py's
``fill``) and the same call is made ``--calls`` times with each kind of credential, alternating
so that load changes on the machine hit both alike. ``--src`` runs the server from another tree
(A/B against main).
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

from oco_list import PASSWORD, call, cpu, fill, server


def ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s) * 1000, 2),
        "p90_ms": round(s[min(len(s) - 1, int(len(s) * 0.9))] * 1000, 2),
        "min_ms": round(s[0] * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--computers", type=int, default=100)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--method", default="oco.computer.get")
    ap.add_argument("--src", type=Path, default=None, help="run the server from this tree's src")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="fdbench-ocoauth-"))
    token = fill(data_dir, opts.computers)
    data: dict[str, Any] = {"id": 1} if opts.method == "oco.computer.get" else {}
    password, api_token = ("admin", PASSWORD), ("admin", token)
    with server(data_dir, opts.src) as (url, proc), httpx.Client(base_url=url, timeout=60) as http:
        call(http, opts.method, data, api_token)  # warm-up: imports, connections, caches
        first, _ = call(http, opts.method, data, password)  # argon2id verification
        with_password: list[float] = []
        with_token: list[float] = []
        cpu_password: list[float] = []
        cpu_token: list[float] = []
        for _ in range(opts.calls):
            before = cpu(proc)
            with_password.append(call(http, opts.method, data, password)[0])
            middle = cpu(proc)
            with_token.append(call(http, opts.method, data, api_token)[0])
            cpu_password.append(middle - before)
            cpu_token.append(cpu(proc) - middle)
    results = {
        "method": opts.method,
        "src": str(opts.src or "this tree"),
        "first_password_call_ms": round(first * 1000, 1),
        "password_after_first": ms(with_password),
        "token": ms(with_token),
        "ratio_p50": round(statistics.median(with_password) / statistics.median(with_token), 2),
        "server_cpu_ms_p50": {
            "password_after_first": round(statistics.median(cpu_password) * 1000, 2),
            "token": round(statistics.median(cpu_token) * 1000, 2),
        },
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%H:%M:%S"),
    }
    print(json.dumps(results, indent=2) if opts.json else results)


if __name__ == "__main__":
    main()
