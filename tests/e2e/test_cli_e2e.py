"""End to end: the CLI's ``run`` and ``deploy`` (another process) through a real server process
to real agent processes: live output as the command produces it, per-computer exit codes and
the CLI's own exit code, and a package uploaded by the CLI installed on the agent's machine."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, enrolled_as
from tests.integration.cli.remote import Cli

pytestmark = pytest.mark.e2e


def logged_in(server: ServerProc, tmp_path: Path) -> Cli:
    cli = Cli(tmp_path / "cli.toml")
    cli.ok("login", server.url, "--user", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    return cli


def test_run_shows_output_as_it_comes_and_exit_codes(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    _, cid = enrolled_agent(server, agent_factory)
    cli = logged_in(server, tmp_path)
    gate = tmp_path / "gate"
    script = f"echo first; while [ ! -e {gate} ]; do sleep 0.05; done; echo second; echo oops >&2; exit 3"
    proc = subprocess.Popen(
        [*cli.argv(), "run", "-c", str(cid), "--", script],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # "first" is on the CLI's stdout while the command still waits for the gate: live output
        assert proc.stdout.readline() == "first\n"
        assert proc.poll() is None
        gate.touch()
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest == "second\n"
    assert "oops" in err and "failed" in err and " 3 " in err
    assert proc.returncode == 1
    out = cli("run", "-c", str(cid), "--", "echo", "ok")
    assert out.returncode == 0 and out.stdout == "ok\n"


def test_run_on_a_group_prefixes_hosts_and_json_has_each_result(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    _, first = enrolled_agent(server, agent_factory)
    second = enrolled_as(server, agent_factory(server, "agent2"), "second-host")
    with server.client() as c:
        gid = c.post("/groups", json={"name": "both"}).json()["data"]["id"]
    cli = logged_in(server, tmp_path)
    cli.ok("groups", "add", "both", str(first), str(second))
    out = cli("run", "-g", "both", "--", "echo one; echo two")
    assert out.returncode == 0, out.stderr
    hosts = {c["id"]: c["hostname"] for c in cli.json("computers", "list")["data"]}
    same = hosts[first] == hosts[second]  # both agents run on this machine: its host name, or not yet
    for cid in (first, second):
        prefix = f"[{hosts[cid]}#{cid}]" if same else f"[{hosts[cid]}]"
        mine = [line for line in out.stdout.splitlines() if line.startswith(prefix)]
        assert mine == [f"{prefix} one", f"{prefix} two"], out.stdout
    failing = cli("run", "--json", "-g", str(gid), "--", "test $(hostname) = never")
    assert failing.returncode == 1 and failing.stderr == ""
    results = json.loads(failing.stdout)
    assert sorted(r["computer_id"] for r in results) == sorted([first, second])
    assert all(r["status"] == "failed" and r["exit_code"] == 1 for r in results)
    assert {r["hostname"] for r in results} == {hosts[first], hosts[second]}
    assert json.loads(cli.ok("run", "--json", "-g", str(gid), "--", "true"))[0]["exit_code"] == 0


def test_upload_then_deploy_until_done(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    _, cid = enrolled_agent(server, agent_factory)
    cli = logged_in(server, tmp_path)
    marker = tmp_path / "installed" / "marker"
    src = tmp_path / "payload"
    src.mkdir()
    (src / "install.sh").write_text(f'#!/bin/sh\nmkdir -p "{marker.parent}"\necho installed > "{marker}"\n')
    cli.ok(
        "packages", "upload", str(src), "--name", "Marker", "--version", "1.0", "--install", "sh install.sh"
    )
    result = json.loads(cli.ok("deploy", "--json", "Marker@1.0", "-c", str(cid)))
    assert result["status"] == "succeeded", result
    (job,) = result["jobs"]
    assert job["computer_id"] == cid and job["status"] == "succeeded"
    assert marker.read_text() == "installed\n"
    cli.ok(
        "packages",
        "upload",
        str(src / "install.sh"),
        "-n",
        "Broken",
        "-V",
        "1",
        "--install",
        "sh -c 'exit 7'",
    )
    out = cli("deploy", "Broken", "-c", str(cid))
    assert out.returncode == 1 and "failed" in out.stdout, out.stdout + out.stderr
    assert "no package family named 'Nope'" in cli.fails(1, "deploy", "Nope", "-c", str(cid))
