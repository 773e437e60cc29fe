"""``productOnClient_getObjects()`` over HTTP as an opsi client sees it (issue #13), by phase.

    .venv/bin/python bench/opsi_poc_http.py --data-dir /tmp/fdbench-opsi-XXXX [--calls 5] [--json] [--src DIR]

On a data directory ``bench/opsi_api.py`` filled (10,000 clients x 50 products): a real
``fleetdeck server`` is started and the complete list is asked for over loopback with an API
token, msgpack + LZ4 both ways as opsi's client sends it (``--json``: JSON). Per call: the wall
time until the answer's headers arrive, until its body is complete, the client's LZ4 + msgpack
decoding, the total, and the server process's CPU time for the call (``psutil``; the figure a
loaded machine distorts least), with the load average. ``--src`` runs the server from another
tree's ``src`` (before/after against a ``git archive`` of an older commit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import httpx
import lz4.frame
import msgspec

import serving
from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings
from opsi_api import SECRET


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="JSON both ways instead of msgpack + LZ4")
    ap.add_argument("--src", type=Path, help="run the server from this tree's src")
    opts = ap.parse_args()
    rt = build_runtime(Settings(data_dir=opts.data_dir, secret_key=SECRET))
    admin = Actor(user_id=1, username="admin", role=Role.ADMIN)
    token = rt.services.users.create_token(admin, f"poc http {time.time_ns()}", "read+write", None).token
    rt.db.dispose()
    body = {"jsonrpc": "2.0", "id": 1, "method": "productOnClient_getObjects", "params": []}
    if opts.json:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        content = json.dumps(body).encode()
    else:
        headers = {
            "Content-Type": "application/msgpack",
            "Accept": "application/msgpack",
            "Content-Encoding": "lz4",
            "Accept-Encoding": "lz4",
        }
        content = lz4.frame.compress(msgspec.msgpack.encode(body))
    rows = []
    with (
        serving.server(opts.data_dir, src=opts.src, env={"FLEETDECK_SECRET_KEY": SECRET}) as (url, proc),
        httpx.Client(base_url=url, timeout=600) as http,
    ):
        for _ in range(opts.calls):
            cpu0 = sum(proc.cpu_times()[:2])
            t0 = time.perf_counter()
            with http.stream("POST", "/rpc", content=content, headers=headers, auth=("admin", token)) as r:
                t_head = time.perf_counter()
                raw = r.read()
            t_body = time.perf_counter()
            if r.headers.get("content-encoding") == "lz4":
                raw = lz4.frame.decompress(raw)
            answer = msgspec.msgpack.decode(raw) if not opts.json else msgspec.json.decode(raw)
            t_end = time.perf_counter()
            time.sleep(0.5)  # the server's CPU after the answer (freeing it) counts too
            cpu = sum(proc.cpu_times()[:2]) - cpu0
            assert answer.get("error") is None, str(answer)[:300]
            row = {
                "objects": len(answer["result"]),
                "bytes": len(r.content),
                "headers_s": round(t_head - t0, 3),
                "body_s": round(t_body - t0, 3),
                "decode_s": round(t_end - t_body, 3),
                "total_s": round(t_end - t0, 3),
                "server_cpu_s": round(cpu, 3),
                "load": round(os.getloadavg()[0], 1),
            }
            del answer
            rows.append(row)
            print(row, flush=True)
    p50 = {
        k: statistics.median(r[k] for r in rows)
        for k in ("headers_s", "body_s", "decode_s", "total_s", "server_cpu_s")
    }
    print("p50", {k: round(v, 3) for k, v in p50.items()})


if __name__ == "__main__":
    main()
