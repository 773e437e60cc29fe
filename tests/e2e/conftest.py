"""Real processes on loopback: a ``fleetdeck server`` and ``fleetdeck agent`` per test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from fleetdeck.agent.config import AgentState, StateStore
from fleetdeck.core.authz import Role, system_actor
from fleetdeck.protocol import messages as m
from fleetdeck.runtime import Runtime, build_runtime
from fleetdeck.settings import Settings
from tests.conftest import CHEAP_ARGON2, CHEAP_ARGON2_ENV, SECRET
from tests.waiting import wait_for

__all__ = [
    "ADMIN_PASSWORD",
    "AgentProc",
    "ServerProc",
    "enrolled_agent",
    "enrolled_as",
    "free_port",
    "wait_for",
]

ADMIN_PASSWORD = "e2e-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process(Protocol):
    """What the tests use of a server process: a ``subprocess.Popen``, or a forked one
    (``tests/e2e/zygote.py``)."""

    @property
    def pid(self) -> int: ...
    def poll(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...


class ServerProc:
    def __init__(
        self, data_dir: Path, db_url: str, port: int, log_path: Path, extra_env: dict[str, str]
    ) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.port = port
        self.log_path = log_path
        self.env = {
            **os.environ,
            "FLEETDECK_DATA_DIR": str(data_dir),
            "FLEETDECK_DATABASE_URL": db_url,
            "FLEETDECK_SECRET_KEY": SECRET,
            "FLEETDECK_HEARTBEAT_SEC": "1",
            "FLEETDECK_OFFLINE_AFTER_SEC": "4",
            "FLEETDECK_RECONNECT_WINDOW_SEC": "1",
            "FLEETDECK_LOG_LEVEL": "debug",
            **CHEAP_ARGON2_ENV,
            **extra_env,
        }
        self.proc: Process | None = None
        self.scheme = "https" if extra_env.get("FLEETDECK_TLS") == "auto" else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def local(self) -> Runtime:
        """What a one-shot ``fleetdeck`` command against this server's database builds
        (``fleetdeck.cli.context.runtime``: core and storage, no transports), built in this
        process. The fixtures create the admin and enrollment tokens with it: a ``fleetdeck``
        process per call costs 3-4 s of CPU in imports (15 s of wall time on a loaded machine)
        before it does anything, and ``tests/e2e/test_cli_e2e.py``, ``tests/integration/cli``
        and the tests that call :meth:`cli` keep testing those commands as processes."""
        settings = Settings(
            data_dir=self.data_dir, database_url=self.db_url, secret_key=SECRET, **CHEAP_ARGON2
        )
        return build_runtime(settings, migrate_db=False)  # db_url is migrated (tests/conftest.py)

    def create_user(self, name: str, password: str, role: Role) -> None:
        """``fleetdeck user create NAME --role ROLE --password PASSWORD``, in this process."""
        rt = self.local()
        try:
            rt.services.users.create(system_actor("cli"), name, password, role)
        finally:
            rt.db.dispose()

    def enroll_token(self, uses: int | None = 1) -> str:
        """``fleetdeck enroll-token create --uses N`` (expires in a day), in this process."""
        rt = self.local()
        try:
            return rt.services.enrollment.create_token(
                system_actor("cli"), expires_in=timedelta(days=1), max_uses=uses, note=""
            ).token
        finally:
            rt.db.dispose()

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "fleetdeck", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, f"fleetdeck {' '.join(args)} failed: {out.stderr}"
        return out.stdout

    def spawn(self) -> Process:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "fleetdeck", "server", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> None:
        self.proc = self.spawn()

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1, verify=False).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, what="server /healthz")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=15, verify=False
        )


class AgentProc:
    def __init__(self, server: ServerProc, state_dir: Path, log_path: Path) -> None:
        self.server = server
        self.state_dir = state_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str, token: str | None = None) -> None:
        cmd = [
            sys.executable,
            "-m",
            "fleetdeck",
            "agent",
            "--state-dir",
            str(self.state_dir),
            "--reconnect-min",
            "0.2",
            "--reconnect-max",
            "1",
            "--log-level",
            "DEBUG",
            *extra,
        ]
        if token:
            cmd += ["--server", self.server.url, "--enroll-token", token]
        log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server_factory(tmp_path: Path, db_url: str) -> Iterator[Callable[..., ServerProc]]:
    made: list[ServerProc] = []

    def make(**extra_env: str) -> ServerProc:
        srv = ServerProc(tmp_path / "server", db_url, free_port(), tmp_path / "server.log", extra_env)
        srv.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def server(server_factory: Callable[..., ServerProc]) -> ServerProc:
    srv = server_factory()
    srv.start()
    return srv


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[Callable[[ServerProc], AgentProc]]:
    made: list[AgentProc] = []

    def make(srv: ServerProc, name: str = "agent") -> AgentProc:
        a = AgentProc(srv, tmp_path / name, tmp_path / f"{name}.log")
        made.append(a)
        return a

    yield make
    for a in made:
        a.stop()


def enrolled_agent(srv: ServerProc, factory: Callable[[ServerProc], AgentProc]) -> tuple[AgentProc, int]:
    """Start an agent with a fresh token and wait until its computer is online with inventory."""
    token = srv.enroll_token()
    agent = factory(srv)
    agent.start(token=token)
    with srv.client() as c:

        def online() -> int | None:
            rows = c.get("/computers").json()["data"]
            ready = [r for r in rows if r["online"] and r["os"]]
            return ready[0]["id"] if ready else None

        try:
            cid = wait_for(online, 30, what="agent online with inventory")
        except AssertionError:
            raise AssertionError(f"agent log:\n{agent.log()[-3000:]}") from None
    return agent, cid


def enrolled_as(srv: ServerProc, agent: AgentProc, hostname: str, token: str | None = None) -> int:
    """Enroll ``agent``'s state directory as a computer named ``hostname`` (a second agent on
    this machine would otherwise re-enroll as the first one's computer), then start the real
    agent process on it. Returns the computer id. ``token``: one to use (several agents may
    share one), instead of a new one from the CLI."""
    token = token or srv.enroll_token()
    url = srv.url.replace("http", "ws", 1) + "/agent/v1/ws"
    with ws_connect(url, open_timeout=10) as ws:
        ws.send(m.encode(m.Enroll(token=token, hostname=hostname, agent_version="0.0.1")))
        enrolled = m.decode_from_server(ws.recv(timeout=10))
    assert isinstance(enrolled, m.Enrolled), enrolled
    StateStore(agent.state_dir).save(
        AgentState(server=url, uid=enrolled.uid, key=enrolled.key, computer_id=enrolled.computer_id)
    )
    agent.start()
    return enrolled.computer_id
