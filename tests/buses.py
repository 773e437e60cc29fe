"""The bus backends the tests run against: in-process, and the Redis and NATS of the dev and CI
machines (``FLEETDECK_TEST_REDIS``, default redis://127.0.0.1:6379/0; ``FLEETDECK_TEST_NATS``,
default nats://127.0.0.1:4222).

Where a server is not there the test skips and says which one, except under ``CI=true``: there
it fails, as a missing PostgreSQL does (docs/testing.md), so that CI can never pass by skipping.
Every test gets its own namespace on the shared server, so runs (and xdist workers) never hear
each other.

``OwnServer`` starts a private ``redis-server`` or ``nats-server`` on a free loopback port, for
the tests that stop and restart the server under a connected bus.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fleetdeck.bus import Bus, LocalBus, bus_from_url

BACKENDS = ("local", "redis", "nats")
REMOTE = ("redis", "nats")
URLS = {
    "redis": os.environ.get("FLEETDECK_TEST_REDIS") or "redis://127.0.0.1:6379/0",
    "nats": os.environ.get("FLEETDECK_TEST_NATS") or "nats://127.0.0.1:4222",
}
SERVERS = {"redis": "redis-server", "nats": "nats-server"}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str) -> bool:
    hostport = url.partition("://")[2].split("/")[0].rpartition("@")[2]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def absent(reason: str) -> None:
    """Skip, or fail under CI=true."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service fails instead of skipping)")
    pytest.skip(reason)


def bus_url(backend: str) -> str:
    """The shared server's URL for ``backend``; skips (fails in CI) when nothing listens."""
    url = URLS[backend]
    if not _reachable(url):
        env = "FLEETDECK_TEST_REDIS" if backend == "redis" else "FLEETDECK_TEST_NATS"
        absent(f"no {backend} server at {url} ({env})")
    return url


def namespace() -> str:
    return "t" + secrets.token_hex(6)


def make_bus(backend: str, ns: str, url: str | None = None) -> Bus:
    """A new (not started) bus of ``backend`` in namespace ``ns``."""
    if backend == "local":
        return LocalBus()
    return bus_from_url(url or bus_url(backend), ns)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnServer:
    """A private Redis or NATS server process on loopback that a test may kill and restart."""

    def __init__(self, backend: str, workdir: Path) -> None:
        binary = shutil.which(SERVERS[backend]) or shutil.which(SERVERS[backend], path="/usr/sbin:/usr/bin")
        if binary is None:
            absent(f"{SERVERS[backend]} is not installed (apt-get install {SERVERS[backend]})")
        self.backend = backend
        self.binary = str(binary)
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.backend}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.backend == "redis":
            cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        else:
            cmd = [self.binary, "-a", "127.0.0.1", "-p", str(self.port)]
        log = (self.workdir / f"{self.backend}.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while not _reachable(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.binary} did not start: {(self.workdir / f'{self.backend}.log').read_text()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
