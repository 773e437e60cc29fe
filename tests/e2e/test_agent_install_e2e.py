"""Installing the agent without the server: the ``fleetdeck-agent`` wheel in a fresh venv, and
``GET /install/agent.sh`` run by ``sh`` into a temporary prefix (no root), both against a real
server process; the installed agents enroll and come online."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fleetdeck.core.agentdist import build_agent_wheel, bundled_names, repack_installed
from tests.e2e.conftest import ServerProc, wait_for

pytestmark = pytest.mark.e2e

SERVER_PACKAGES = ("fastapi", "starlette", "sqlalchemy", "pydantic", "uvicorn", "alembic", "typer")
SERVER_MODULES = ("fleetdeck.app", "fleetdeck.core", "fleetdeck.api", "fleetdeck.storage", "fleetdeck.cli")


def _online_with_inventory(srv: ServerProc, hostname_count: int = 1) -> int:
    with srv.client() as c:

        def online() -> int | None:
            rows = [r for r in c.get("/computers").json()["data"] if r["online"] and r["os"]]
            return rows[0]["id"] if len(rows) >= hostname_count else None

        return int(wait_for(online, 60, what="the installed agent online with its inventory"))


def _plain_python() -> str:
    """A Python 3.11+ outside any venv (what a managed computer has), for the install script."""
    for candidate in ("/usr/bin/python3", getattr(sys, "_base_executable", ""), sys.executable):
        if candidate and os.path.exists(candidate):
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.stdout.strip() == "True":
                return candidate
    return sys.executable


@contextlib.contextmanager
def _process(
    cmd: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_agent_wheel_installs_and_runs_without_the_server(tmp_path: Path, server: ServerProc) -> None:
    wheels = tmp_path / "wheels"
    build_agent_wheel(wheels)
    for project in bundled_names():
        repack_installed(project, wheels)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    # offline: only the wheels built above, whatever pip.conf says
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [py, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels), "fleetdeck-agent"]
    subprocess.run(pip, check=True, timeout=300, env=env)

    probe = "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))"
    found = subprocess.run(
        [py, "-c", probe, *SERVER_PACKAGES], capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == []
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    try:\n        importlib.import_module(m)\n"
    code += "    except ImportError:\n        continue\n    print(m)\n"
    found = subprocess.run([py, "-c", code, *SERVER_MODULES], capture_output=True, text=True, check=True)
    assert found.stdout.split() == []

    agent = str(venv / "bin" / "fleetdeck-agent")
    helped = subprocess.run([agent, "--help"], capture_output=True, text=True, check=True, timeout=30)
    assert "--enroll-token" in helped.stdout
    version = subprocess.run([agent, "--version"], capture_output=True, text=True, check=True)
    assert "unknown" not in version.stdout

    token = server.cli("enroll-token", "create", "--uses", "1").strip()
    cmd = [agent, "--server", server.url, "--enroll-token", token, "--state-dir", str(tmp_path / "state")]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETDECK_", "PYTHON"))}
    with _process(
        [*cmd, "--reconnect-min", "0.2", "--reconnect-max", "1"], tmp_path / "agent.log", clean_env
    ):
        try:
            _online_with_inventory(server)
        except AssertionError:
            raise AssertionError((tmp_path / "agent.log").read_text()[-3000:]) from None


def _stop_pid(pid_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    """Where the install script puts the agent; the agent it started is stopped afterwards."""
    state = tmp_path / "state"
    yield lambda: state
    _stop_pid(state / "agent.pid")


def test_install_script_installs_enrolls_and_starts_the_agent(
    tmp_path: Path, server: ServerProc, installed: Callable[[], Path]
) -> None:
    token = server.cli("enroll-token", "create", "--uses", "1").strip()
    resp = httpx.get(f"{server.url}/install/agent.sh", params={"token": token}, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/x-shellscript")
    script = tmp_path / "agent.sh"
    script.write_text(resp.text)
    prefix, state = tmp_path / "prefix", installed()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "FLEETDECK_PREFIX": str(prefix),
        "FLEETDECK_STATE_DIR": str(state),
        "FLEETDECK_START": "background",
        "FLEETDECK_PYTHON": _plain_python(),
    }
    out = subprocess.run(
        ["sh", str(script)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "running in the background" in out.stderr
    assert (state / "state.json").exists()
    assert (prefix / "lib" / "fleetdeck" / "agent" / "main.py").exists()
    assert not (prefix / "lib" / "fleetdeck" / "core").exists()
    cid = _online_with_inventory(server)
    with server.client() as c:
        row = c.get(f"/computers/{cid}").json()["data"]
    assert row["online"]
    # the one-use token is used up now: no second script for it
    again = httpx.get(f"{server.url}/install/agent.sh", params={"token": token}, timeout=30)
    assert again.status_code == 403
    # a script for a new token updates the agent in place; it stays the computer it was
    _stop_pid(state / "agent.pid")
    fresh = server.cli("enroll-token", "create", "--uses", "1").strip()
    script.write_text(httpx.get(f"{server.url}/install/agent.sh", params={"token": fresh}, timeout=60).text)
    env["FLEETDECK_START"] = "no"
    rerun = subprocess.run(
        ["sh", str(script)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "already enrolled" in rerun.stderr
    assert not (prefix / "lib.new").exists()


def test_install_script_refused_without_a_usable_token(server: ServerProc) -> None:
    base = f"{server.url}/install/agent.sh"
    missing = httpx.get(base, timeout=30)
    assert missing.status_code == 400
    assert "token" in missing.text
    bad = httpx.get(base, params={"token": "fde_not-a-token"}, timeout=30)
    assert bad.status_code == 403
    assert "invalid, expired or used-up enrollment token" in bad.text
    assert not bad.text.startswith("#!")
    token = server.cli("enroll-token", "create").strip()
    server.cli("enroll-token", "revoke", "1")  # the first token of this server
    revoked = httpx.get(base, params={"token": token}, timeout=30)
    assert revoked.status_code == 403
    files = httpx.get(f"{server.url}/install/files/anything.whl", params={"token": token}, timeout=30)
    assert files.status_code == 403


def test_install_files_need_a_token_and_a_known_name(server: ServerProc) -> None:
    token = server.cli("enroll-token", "create").strip()
    script = httpx.get(f"{server.url}/install/agent.sh", params={"token": token}, timeout=60).text
    name = next(w for w in script.split('"') if w.startswith("fleetdeck_agent-") and w.endswith(".whl"))
    ok = httpx.get(f"{server.url}/install/files/{name}", params={"token": token}, timeout=30)
    assert ok.status_code == 200
    assert ok.content[:2] == b"PK"
    assert httpx.get(f"{server.url}/install/files/{name}", timeout=30).status_code == 400
    unknown = httpx.get(f"{server.url}/install/files/nope.whl", params={"token": token}, timeout=30)
    assert unknown.status_code == 404


def test_install_line_over_tls_pins_the_server(
    tmp_path: Path, server_factory: Callable[..., ServerProc], installed: Callable[[], Path]
) -> None:
    """``enroll-token create --install-line`` on a ``--tls auto`` server: curl checks the public
    key, the script's downloads and the agent's enrollment check the certificate."""
    srv = server_factory(FLEETDECK_TLS="auto")
    srv.env["FLEETDECK_PUBLIC_URL"] = f"https://127.0.0.1:{srv.port}"
    srv.start()
    line = srv.cli("enroll-token", "create", "--uses", "1", "--install-line").strip()
    assert line.startswith("curl -fsSL --pinnedpubkey 'sha256//")
    assert line.endswith("| sudo sh")
    state = installed()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "FLEETDECK_PREFIX": str(tmp_path / "prefix"),
        "FLEETDECK_STATE_DIR": str(state),
        "FLEETDECK_START": "background",
        "FLEETDECK_PYTHON": _plain_python(),
    }
    run = subprocess.run(
        ["sh", "-c", line.removesuffix("| sudo sh") + "| sh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    saved = (state / "state.json").read_text()
    assert '"fingerprint": "sha256:' in saved
    _online_with_inventory(srv)
    # a wrong pin: curl refuses the server, and no script runs
    wrong = line.replace("sha256//", "sha256//AAAA", 1).removesuffix("| sudo sh") + "| sh"
    refused = subprocess.run(
        ["sh", "-c", f"set -o pipefail 2>/dev/null; {wrong}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "fleetdeck:" not in refused.stderr
