"""``is_sudo`` on the agent: the command runs through ``sudo -n`` (never asking for a
password), and a sudo that is missing or refuses fails the job with why, the command never
started. (With a stand-in sudo on real agents over rportd's API: tests/dialects/rport/
test_rest_e2e.py; this machine has no real sudo.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from fleetdeck.agent.command import CommandExecution
from fleetdeck.agent.process import plan, sudo_refusal
from fleetdeck.protocol import messages as m

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sudo is for POSIX agents")


def test_the_argv_goes_through_sudo_n() -> None:
    spec = m.CommandSpec(command="id -u", interpreter="sh", sudo=True)
    assert plan(spec).argv == ["sudo", "-n", "--", "/bin/sh", "-c", "id -u"]
    assert plan(m.CommandSpec(command="id -u", interpreter="sh")).argv == ["/bin/sh", "-c", "id -u"]


def _sudo(tmp_path: Path, body: str) -> None:
    tool = tmp_path / "sudo"
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)


def test_a_missing_or_refusing_sudo_fails_the_job_unstarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sudo at all
    spec = m.CommandSpec(command="echo ran > ran.txt", sudo=True, cwd=str(tmp_path))
    assert (asyncio.run(sudo_refusal(spec)) or "").startswith("sudo is not available: ")
    assert asyncio.run(sudo_refusal(m.CommandSpec(command="true"))) is None  # not asked for

    _sudo(tmp_path, 'echo "sudo: a password is required" >&2; exit 1\n')

    async def send(frame: m.Message) -> None:
        pass

    async def started() -> None:
        pass

    result = asyncio.run(CommandExecution(7, spec, send).run(started))
    assert (result.status, result.message, result.exit_code) == (
        "failed",
        "sudo refused: sudo: a password is required",
        None,
    )
    assert not (tmp_path / "ran.txt").exists()


def test_an_allowing_sudo_runs_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    _sudo(tmp_path, '[ "$1" = -n ] || exit 2\nshift\n[ "$1" = -- ] && shift\nVIA_SUDO=yes exec "$@"\n')
    spec = m.CommandSpec(command="echo via-$VIA_SUDO", sudo=True)

    async def send(frame: m.Message) -> None:
        pass

    async def started() -> None:
        pass

    result = asyncio.run(CommandExecution(8, spec, send).run(started))
    assert (result.status, result.stdout) == ("succeeded", "via-yes\n")
