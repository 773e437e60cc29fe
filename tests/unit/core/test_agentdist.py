"""The agent-only distribution: what goes into the ``fleetdeck-agent`` wheel, and what not."""

from __future__ import annotations

import hashlib
import re
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from fleetdeck.agent.process import JOB_SLICE, scope_prefix
from fleetdeck.api.agent.install import install_script
from fleetdeck.core.agentdist import (
    AGENT_REQUIRES,
    DistFile,
    agent_unit,
    build_agent_wheel,
    bundled_names,
    dependency_names,
    repack_installed,
)

ROOT = Path(__file__).resolve().parents[3]


def test_agent_wheel_holds_only_the_agent_and_the_protocol(tmp_path: Path) -> None:
    wheel = build_agent_wheel(tmp_path)
    assert wheel.name.startswith("fleetdeck_agent-") and wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        scripts = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    top = {n.split("/")[1] for n in names if n.startswith("fleetdeck/") and n.count("/") > 1}
    assert top == {"agent", "protocol"}
    assert "fleetdeck/__init__.py" in names
    assert "fleetdeck/agent/collectors/linux.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "Name: fleetdeck-agent" in meta
    for req in AGENT_REQUIRES:
        assert f"Requires-Dist: {req}" in meta
    assert "fleetdeck-agent = fleetdeck.agent.main:main" in scripts


def test_agent_wheel_is_reproducible(tmp_path: Path) -> None:
    """The install script names each wheel's SHA-256: the same sources give the same bytes."""
    first = build_agent_wheel(tmp_path / "a").read_bytes()
    second = build_agent_wheel(tmp_path / "b").read_bytes()
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_agent_requirements_match_the_server_distribution() -> None:
    """The agent wheel promises the dependency ranges pyproject.toml installs for the server."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    server = {d.split(">")[0].split("<")[0].split("=")[0].strip(): d for d in project["dependencies"]}
    for req, name in zip(AGENT_REQUIRES, dependency_names(), strict=True):
        assert server[name].split("#")[0].strip() == req


def test_repacked_dependency_is_a_wheel_of_this_platform(tmp_path: Path) -> None:
    wheel = repack_installed("msgspec", tmp_path)
    assert wheel.name.startswith("msgspec-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        record = zf.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert "msgspec/__init__.py" in names
    assert any(n.startswith("msgspec/_core") for n in names)  # the compiled extension
    assert not [n for n in names if n.endswith(("INSTALLER", "direct_url.json"))]
    assert "msgspec/__init__.py,sha256=" in record


def test_install_script_quotes_what_it_is_given() -> None:
    files = [DistFile("x-1-py3-none-any.whl", Path("/nonexistent"), "x", "ab" * 32, 1)]
    script = install_script("http://fleet:8080", "fde_it's", None, files)
    assert script.startswith("#!/bin/sh\n")
    assert "TOKEN='fde_it'\"'\"'s'" in script
    assert "FINGERPRINT=''" in script
    assert '"sha256": "' + "ab" * 32 in script


def test_deploy_unit_is_the_generated_one() -> None:
    """deploy/systemd/fleetdeck-agent.service, the install script's and the Debian package's
    units are one text (``agent_unit``)."""
    deployed = (ROOT / "deploy/systemd/fleetdeck-agent.service").read_text()
    assert deployed == agent_unit("/usr/local/bin/fleetdeck agent --state-dir /var/lib/fleetdeck-agent")


def test_jobs_get_a_scope_of_their_own_only_where_systemd_can_give_one() -> None:
    run = "/usr/bin/systemd-run"
    scoped = scope_prefix("auto", run, booted=True, root=True)
    assert scoped[:2] == [run, "--scope"]
    assert f"--slice={JOB_SLICE}" in scoped
    assert scoped[-1] == "--"
    assert scope_prefix("off", run, booted=True, root=True) == []
    assert scope_prefix("auto", None, booted=True, root=True) == []
    assert scope_prefix("auto", run, booted=False, root=True) == []
    assert scope_prefix("auto", run, booted=True, root=False) == []


def test_bundled_wheels_cover_what_the_agent_needs_transitively() -> None:
    """An agent installs offline from what its server serves: every run-time requirement of a
    bundled project (wsproto needs h11) must be bundled too, or the agent would not import."""
    bundled = {n.lower() for n in bundled_names()}
    missing = set()
    for project in bundled:
        for req in metadata.requires(project) or []:
            if "extra ==" in req:
                continue
            name = re.split(r"[<>=!~;\[ (]", req, maxsplit=1)[0].lower().replace("_", "-")
            if name not in bundled:
                missing.add(f"{project} -> {name}")
    assert missing == set()
