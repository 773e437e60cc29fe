"""Agent self-update end to end: a real server, real agent processes, releases built here.

Release "B" is the agent wheel of this checkout with another version number (``build_agent_wheel``);
a broken B changes one line of its sources. The agents run from this checkout ("A") and update
into ``<state>/versions/<B>`` (docs/deployment.md, "Updating agents").
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetdeck.agent import AGENT_VERSION
from fleetdeck.core.agentdist import build_agent_wheel, package_root
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, enrolled_as, wait_for
from tests.integration.cli.remote import Cli

pytestmark = pytest.mark.e2e

B = "9.9.1"


def build(tmp_path: Path, version: str, patch: tuple[str, str, str] | None = None) -> Path:
    """The agent wheel of ``version``; ``patch`` (file under fleetdeck/, old, new) edits a copy."""
    root = package_root()
    if patch is not None:
        copy = tmp_path / f"src-{version}" / "fleetdeck"
        for sub in ("agent", "protocol"):
            shutil.copytree(root / sub, copy / sub, ignore=shutil.ignore_patterns("__pycache__"))
        target = copy / patch[0]
        text = target.read_text()
        assert patch[1] in text
        target.write_text(text.replace(patch[1], patch[2]))
        root = copy
    return build_agent_wheel(tmp_path / f"wheels-{version}", version, root)


def publish(server: ServerProc, wheel: Path) -> dict[str, Any]:
    with server.client() as c:
        r = c.post(
            "/agent-releases",
            params={"filename": wheel.name},
            content=wheel.read_bytes(),
            headers={"content-type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        release: dict[str, Any] = r.json()["data"]
    assert release["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    return release


def rollout(server: ServerProc, version: str, **body: object) -> None:
    with server.client() as c:
        r = c.post(f"/agent-releases/{version}/rollout", json=body)
        assert r.status_code == 200, r.text


def status(server: ServerProc, cid: int) -> dict[str, Any] | None:
    with server.client() as c:
        rows = c.get("/agent-updates").json()["data"]
    return next((r for r in rows if r["computer_id"] == cid), None)


def wait_state(
    server: ServerProc, cid: int, state: str, agent: AgentProc, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        row = status(server, cid)
        return row if row is not None and row["state"] == state else None

    try:
        found: dict[str, Any] = wait_for(reached, timeout, what=f"computer {cid}: update state {state}")
    except AssertionError:
        raise AssertionError(f"status {status(server, cid)}; agent log:\n{agent.log()[-4000:]}") from None
    return found


def agent_version(server: ServerProc, cid: int) -> str:
    with server.client() as c:
        return str(c.get(f"/computers/{cid}").json()["data"]["agent_version"])


def group_of(server: ServerProc, name: str, cid: int) -> int:
    with server.client() as c:
        gid = int(c.post("/groups", json={"name": name}).json()["data"]["id"])
        assert c.post(f"/groups/{gid}/members", json={"computer_ids": [cid]}).status_code == 200
    return gid


def test_staged_rollout_updates_the_group_then_everyone(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    canary, cid = enrolled_agent(server, agent_factory)  # pins the release key at enrollment
    other = agent_factory(server, "other")
    other_cid = enrolled_as(server, other, "other-host")  # enrolled without it: pins it at Welcome
    wait_for(lambda: agent_version(server, other_cid) == AGENT_VERSION, 30, what="second agent online")
    assert AGENT_VERSION != B
    group_of(server, "canary", cid)
    # the admin's CLI, against the running server
    cli = Cli(tmp_path / "cli.toml")
    cli.ok("login", server.url, "--user", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    wheel = build(tmp_path, B)
    assert f"agent release {B} published" in cli.ok("agent", "publish", str(wheel))
    pid = canary.proc.pid if canary.proc else 0

    assert "rolled out to group" in cli.ok("agent", "rollout", B, "--group", "canary")  # told while connected
    row = wait_state(server, cid, "done", canary)
    assert row["agent_version"] == B and row["error"] == ""
    state = canary.state_dir
    assert os.readlink(state / "current") == f"versions/{B}"
    assert (state / "versions" / B / f"fleetdeck_agent-{B}.dist-info").is_dir()
    assert canary.proc is not None and canary.proc.pid == pid and canary.proc.poll() is None  # re-executed
    assert "connected to" in canary.log().rsplit(f"agent {B} installed", 1)[1]
    # the computer outside the group is not offered B
    assert status(server, other_cid) is None and agent_version(server, other_cid) == AGENT_VERSION
    assert not (other.state_dir / "versions").exists()

    # B keeps running after a restart (the installed agent boots into ``current``)
    canary.stop()
    canary.start()
    wait_for(lambda: "connected to" in canary.log().rsplit("agent stopped", 1)[-1], 30, what="restarted")
    assert agent_version(server, cid) == B

    cli.ok("agent", "rollout", B, "--all")
    wait_state(server, other_cid, "done", other)
    rows = cli.json("agent", "updates")["data"]
    assert {(r["computer_id"], r["state"], r["agent_version"]) for r in rows} == {
        (cid, "done", B),
        (other_cid, "done", B),
    }
    assert agent_version(server, other_cid) == B
    # a command still runs on the updated agents
    with server.client() as c:
        r = c.post("/commands", json={"computer_ids": [cid, other_cid], "command": "echo updated"})
        jobs = r.json()["data"]["job_ids"]

        def finished() -> bool:
            return all(c.get(f"/jobs/{j}").json()["data"]["status"] == "succeeded" for j in jobs)

        wait_for(finished, 30, what="commands on the updated agents")


def test_a_release_signed_with_another_key_or_tampered_is_refused(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    wheel = build(tmp_path, B)
    publish(server, wheel)
    # The agent pinned another key (as if the server's key had been swapped by an attacker).
    other_key = base64.b64encode(hashlib.sha256(b"not the server's key").digest()).decode()
    (agent.state_dir / "update-key").write_text(other_key + "\n")
    rollout(server, B, rollout="all")
    row = wait_state(server, cid, "failed", agent)
    assert "signature does not verify" in row["error"]
    assert row["agent_version"] == AGENT_VERSION and not (agent.state_dir / "current").exists()
    assert not (agent.state_dir / "versions" / B).exists()
    assert agent.proc is not None and agent.proc.poll() is None


def test_a_tampered_release_file_is_refused(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    release = publish(server, build(tmp_path, B))
    stored = server.data_dir / "agent-releases" / release["filename"]
    stored.write_bytes(stored.read_bytes() + b"tampered")  # after it was hashed and signed
    rollout(server, B, rollout="all")
    row = wait_state(server, cid, "failed", agent)
    assert "checksum mismatch" in row["error"] or "download" in row["error"], row
    assert agent_version(server, cid) == AGENT_VERSION and not (agent.state_dir / "current").exists()


def test_a_release_that_cannot_connect_is_rolled_back(
    server: ServerProc, agent_factory: Callable[..., AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    # B's hello is a frame the server does not know: it never gets a Welcome
    broken = build(
        tmp_path,
        B,
        ("protocol/messages.py", 'class Hello(Message, tag="hello")', 'class Hello(Message, tag="helo")'),
    )
    publish(server, broken)
    rollout(server, B, rollout="all")
    row = wait_state(server, cid, "rolled_back", agent)
    assert "did not connect" in row["error"]
    assert agent_version(server, cid) == AGENT_VERSION
    assert not (agent.state_dir / "current").exists()
    assert agent.proc is not None and agent.proc.poll() is None
    # the old agent is connected and works; the failed version is not tried again
    with server.client() as c:
        job = c.post("/commands", json={"computer_ids": [cid], "command": "echo still-A"}).json()["data"]
        wait_for(
            lambda: c.get(f"/jobs/{job['job_ids'][0]}").json()["data"]["status"] == "succeeded",
            30,
            what="a command on the old agent",
        )
    assert agent.log().count(f"agent update to {B} rolled back") == 1
