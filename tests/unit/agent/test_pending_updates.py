"""The agent's pending-updates summary (``UPDATES_STATUS``): apt's and dnf's output parsed, the
package manager chosen from PATH (fake scripts here), its time bounded, and "not supported"
where neither is found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleetdeck.agent import pending_updates as pu
from fleetdeck.agent import requests
from fleetdeck.protocol import messages as m

APT = """\
Inst libssl3 [3.0.2-0ubuntu1.14] (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64])
Inst tzdata [2024a] (2024b Debian:12.5/stable-updates [all])
Conf libssl3 (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64])
"""
CAT, SLEEP = shutil.which("cat"), shutil.which("sleep")  # the scripts' PATH has only themselves
DNF = """\

kernel.x86_64                 5.14.0-362.18.1.el9_3         baseos
openssl-libs.x86_64           1:3.0.7-25.el9_3              rhel-9-security-rpms
Obsoleting Packages
grub2-tools.x86_64            1:2.06-70.el9_3.2             baseos
"""


def test_apt_lines() -> None:
    found = pu.parse_apt(APT)
    assert [(s["title"], s["is_security_update"]) for s in found] == [("libssl3", True), ("tzdata", False)]
    assert found[0]["description"] == "3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64]"


def test_dnf_lines() -> None:
    found = pu.parse_dnf(DNF)
    assert [(s["title"], s["is_security_update"]) for s in found] == [
        ("kernel.x86_64", False),
        ("openssl-libs.x86_64", True),
    ]


def _only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, script: str) -> None:
    tool = tmp_path / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_dnf_exit_100_through_the_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only(tmp_path, monkeypatch, "dnf", f"{CAT} <<'EOF'\n{DNF}EOF\nexit 100\n")
    reply = requests.answer(m.Request(id="r1", kind=m.UPDATES_STATUS, body={}))
    assert reply.ok and reply.body["updates_available"] == 2
    assert reply.body["security_updates_available"] == 1 and reply.body["error"] == ""


def test_failure_timeout_and_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only(tmp_path, monkeypatch, "apt-get", "echo locked >&2\nexit 100\n")
    assert pu.updates_status({})["error"].startswith("apt-get exited with 100: locked")
    _only(tmp_path, monkeypatch, "apt-get", f"exec {SLEEP} 5\n")
    monkeypatch.setattr(pu, "TIMEOUT", 0.3)
    assert "did not finish within" in pu.updates_status({})["error"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    status = pu.updates_status({})
    assert (status["error"], status["updates_available"]) == ("not supported", 0)
