"""Debian's nginx on loopback in front of several server processes, as docs/deployment.md sets
it up: ``least_conn`` (agents' WebSockets are long-lived, so the process with the fewest open
connections takes the next one), WebSocket upgrades passed through, and a failed upstream
skipped for the next connection. The test skips, with the reason, where nginx is not installed
(fails under CI=true, tests/buses.py).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.buses import absent, free_port

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream fleetdeck {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1g;
        location / {{
            proxy_pass http://fleetdeck;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/bin")
    if found is None:
        absent("nginx is not installed (apt-get install nginx-light)")
    return str(found)


class Nginx:
    def __init__(self, workdir: Path, upstream_ports: Sequence[int]) -> None:
        self.binary = nginx_binary()
        self.dir = workdir
        self.port = free_port()
        self.upstream_ports = list(upstream_ports)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in self.upstream_ports
        )
        return CONFIG.format(dir=self.dir, servers=servers, port=self.port)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        log = (self.dir / "stderr.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {(self.dir / 'error.log').read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("nginx did not answer /healthz within 15 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
