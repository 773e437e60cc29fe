#!/usr/bin/env python
"""How long a job stream viewer waits for a job's final status after it is cancelled.

    .venv/bin/python bench/stream_latency.py [-n 20] [--json]

Starts a real ``fleetdeck server`` (SQLite in a temporary directory, loopback), creates a
computer without an agent and, ``-n`` times: queues a command for it, opens
``/api/v1/jobs/{id}/stream``, cancels the job with ``POST /jobs/{id}/cancel`` and times from
the cancel's answer to the stream's final ``job`` message. The cancel announces the status on
the bus, so this is far below the stream's fallback poll (2 s); a figure near 2 s would mean
the announcement was lost and the poll found it. tests/integration/api/test_stream.py proves
the announcement path without timing (its poll is set to an hour); this measures it.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

from agents import log
from real_agents import ADMIN, PASSWORD, start_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fdstream-"))
    server, url, _token = start_server(base, 1)
    auth = "Basic " + base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
    waits: list[float] = []
    try:
        with httpx.Client(base_url=f"{url}/api/v1", auth=(ADMIN, PASSWORD), timeout=30) as api:
            cid = api.post("/computers", json={"hostname": "stream-bench"}).json()["data"]["id"]
            for _ in range(opts.runs):
                body = {"computer_ids": [cid], "command": "sleep 60"}
                job_id = api.post("/commands", json=body).json()["data"]["job_ids"][0]
                ws_url = url.replace("http", "ws", 1) + f"/api/v1/jobs/{job_id}/stream"
                with connect(ws_url, additional_headers={"Authorization": auth}, open_timeout=10) as ws:
                    assert json.loads(ws.recv(timeout=10))["job"]["status"] == "queued"
                    assert api.post(f"/jobs/{job_id}/cancel").status_code == 200
                    cancelled = time.perf_counter()
                    final = json.loads(ws.recv(timeout=10))
                    waits.append(time.perf_counter() - cancelled)
                    assert final["job"]["status"] == "cancelled", final
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(base, ignore_errors=True)
    ms = sorted(1000 * w for w in waits)
    result = {
        "runs": opts.runs,
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(ms[-1], 1),
        "fallback_poll_ms": 2000,
    }
    log(f"cancel -> final status on the stream: median {result['median_ms']} ms, max {result['max_ms']} ms")
    if opts.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
