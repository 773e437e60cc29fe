"""``make agent-deb``: the Debian package builds, unpacks into a clean directory tree
(``dpkg -x``, no root, no chroot) and the agent starts from there, enrolls and comes online."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fleetdeck.core.agentdist import agent_unit
from tests.e2e.conftest import ServerProc, wait_for
from tests.e2e.test_agent_install_e2e import _plain_python, _process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]


def test_agent_deb_unpacks_and_runs(tmp_path: Path, server: ServerProc) -> None:
    built = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "agent_deb.py"), str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    deb = Path(built.stdout.strip().splitlines()[-1])
    info = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True)
    assert "Package: fleetdeck-agent" in info.stdout
    assert "Depends: python3 (>= 3." in info.stdout
    tree = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    for script in ("postinst", "prerm", "postrm"):
        subprocess.run(["sh", "-n", str(control / script)], check=True)  # they parse
    unit = (tree / "lib/systemd/system/fleetdeck-agent.service").read_text()
    assert unit == agent_unit("/usr/bin/fleetdeck-agent --state-dir /var/lib/fleetdeck-agent")
    lib = tree / "opt/fleetdeck-agent/lib"
    assert (lib / "fleetdeck/agent/main.py").exists()
    assert sorted(p.name for p in (lib / "fleetdeck").iterdir() if p.is_dir()) == ["agent", "protocol"]
    assert not (lib / "fastapi").exists()
    assert not (lib / "sqlalchemy").exists()

    agent = str(tree / "usr/bin/fleetdeck-agent")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FLEETDECK_PYTHON": _plain_python()}
    version = subprocess.run([agent, "--version"], env=env, capture_output=True, text=True, check=True)
    assert version.stdout.startswith("fleetdeck-agent ")
    token = server.enroll_token()
    cmd = [agent, "--server", server.url, "--enroll-token", token, "--state-dir", str(tmp_path / "state")]
    with (
        _process(
            [*cmd, "--reconnect-min", "0.2", "--reconnect-max", "1"], tmp_path / "agent.log", env
        ) as proc,
        server.client() as c,
    ):

        def online() -> bool:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()[-3000:]
            return any(r["online"] and r["os"] for r in c.get("/computers").json()["data"])

        wait_for(online, 60, what="the packaged agent online with its inventory")
