#!/usr/bin/env python
"""HTTP request latency into a tunnel (issue #18): direct, through a plain tunnel, through the
tunnel's HTTPS reverse proxy (``http_proxy`` with basic auth), and through the server's own
port (``/tunnels/{computer}/{key}/``).

    .venv/bin/python bench/tunnel_proxy.py [--requests 200] [--json]

A real server process and one real agent process, as ``bench/tunnel.py``, and a small HTTP
server on 127.0.0.1 answering 1 KiB. Each client keeps its connection to what it talks to
(HTTP keep-alive); the proxy and the route open one agent stream per request (so a tunnel
still idles out), the plain tunnel carries the one connection. Prints median and p99 (ms).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from agents import free_port, log
from real_agents import ADMIN, PASSWORD, start_server

BODY = os.urandom(1024)


def agent_args(base: Path) -> list[str]:
    return ["--state-dir", str(base / "agent"), "--log-level", "WARNING"]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # one write per answer (flushed after each request): no Nagle wait
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def timed(client: httpx.Client, url: str, n: int, **kw: Any) -> dict[str, float]:
    client.get(url, **kw).raise_for_status()  # warm up (and the basic-auth check, once)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url, **kw)
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200 or r.content != BODY:
            raise SystemExit(f"{url}: {r.status_code}")
    ordered = sorted(out)
    return {
        "median": round(statistics.median(out), 3),
        "p99": round(ordered[max(0, int(len(out) * 0.99) - 1)], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fleetdeck-proxy-bench-"))
    server, url, token = start_server(base, 1)
    agent: subprocess.Popen[bytes] | None = None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    web = httpd.server_address[1]
    try:
        (base / "agent").mkdir()
        logf = open(base / "agent" / "agent.log", "wb")  # noqa: SIM115 - lives as long as the agent
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleetdeck.agent",
                "--server",
                url,
                "--enroll-token",
                token,
                *agent_args(base),
            ],
            stdout=logf,
            stderr=logf,
        )
        api = httpx.Client(base_url=url, auth=(ADMIN, PASSWORD), timeout=30)
        api.put("/api/v1/settings/tunnels.listen_host", json={"value": "127.0.0.1"}).raise_for_status()
        deadline, uid = time.monotonic() + 60, ""
        while not uid and time.monotonic() < deadline:
            rows = api.get("/rport/api/v1/clients", params={"filter[connection_state]": "connected"}).json()
            uid = rows["data"][0]["id"] if rows["data"] else ""
            time.sleep(0.2)
        if not uid:
            raise SystemExit("the agent did not connect")
        computer_id = api.get("/api/v1/computers").json()["data"][0]["id"]
        plain_port, proxy_port = free_port(), free_port()
        made = []
        for params in (
            {"local": f"127.0.0.1:{plain_port}", "name": "plain"},
            {"local": f"127.0.0.1:{proxy_port}", "name": "proxy", "http_proxy": "1", "acl": "127.0.0.1"}
            | {"auth_user": "bench", "auth_password": "bench-password"},
        ):
            r = api.put(
                f"/rport/api/v1/clients/{uid}/tunnels", params={"remote": f"127.0.0.1:{web}", **params}
            )
            r.raise_for_status()
            made.append(r.json()["data"]["id"])
        ca = ssl.create_default_context(cafile=str(base / "tunnel-proxy-tls" / "ca-cert.pem"))
        n = opts.requests
        with httpx.Client(timeout=30) as h, httpx.Client(timeout=30, verify=ca) as tls:
            result: dict[str, Any] = {
                "requests": n,
                "direct_ms": timed(h, f"http://127.0.0.1:{web}/", n),
                "tunnel_ms": timed(h, f"http://127.0.0.1:{plain_port}/", n),
                "http_proxy_ms": timed(
                    tls, f"https://127.0.0.1:{proxy_port}/", n, auth=("bench", "bench-password")
                ),
                "main_port_route_ms": timed(
                    h, f"{url}/tunnels/{computer_id}/{made[0]}/", n, auth=(ADMIN, PASSWORD)
                ),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            }
        if opts.json:
            print(json.dumps(result))
        else:
            log(
                "HTTP GET 1 KiB, median (p99) ms: "
                + ", ".join(
                    f"{k.removesuffix('_ms')} {v['median']} ({v['p99']})"
                    for k, v in result.items()
                    if k.endswith("_ms")
                )
                + f"; load {result['load_average']}"
            )
    finally:
        httpd.shutdown()
        if agent is not None:
            agent.terminate()
            agent.wait(15)
        server.terminate()
        server.wait(30)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
