"""End to end: packages with real payloads deployed through a real server to a real agent
(power actions simulated)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import AgentProc, ServerProc, wait_for

pytestmark = pytest.mark.e2e

INSTALL = b'#!/bin/sh\necho "installing into $1"\nmkdir -p "$(dirname "$1")"\necho installed > "$1"\n'
UNINSTALL = b'#!/bin/sh\necho "removing $1"\nrm -f "$1"\n'


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def start_agent(server: ServerProc, factory: Callable[[ServerProc], AgentProc]) -> tuple[AgentProc, int]:
    token = server.enroll_token()
    agent = factory(server)
    agent.start("--simulate-power-actions", token=token)
    with server.client() as c:

        def online() -> int | None:
            rows = c.get("/computers").json()["data"]
            ready = [r for r in rows if r["online"] and r["os"]]
            return ready[0]["id"] if ready else None

        try:
            cid: int = wait_for(online, 30, what="agent online with inventory")
        except AssertionError:
            raise AssertionError(f"agent log:\n{agent.log()[-3000:]}") from None
    return agent, cid


def create_package(c: httpx.Client, family: str, marker: Path, **extra: Any) -> dict[str, Any]:
    body = {
        "family_name": family,
        "version": "1.0",
        "install_procedure": f"sh install.sh {marker}",
        "uninstall_procedure": f"sh uninstall.sh {marker}",
        "download_for_uninstall": True,
        "files": [
            {"name": "install.sh", "content": b64(INSTALL)},
            {"name": "uninstall.sh", "content": b64(UNINSTALL)},
        ],
        **extra,
    }
    r = c.post("/packages", json=body)
    assert r.status_code == 201, r.text
    package: dict[str, Any] = r.json()["data"]
    return package


def deploy(c: httpx.Client, **body: Any) -> int:
    r = c.post("/deployments", json={"name": "e2e", **body})
    assert r.status_code == 201, r.text
    return int(r.json()["data"]["id"])


def wait_done(c: httpx.Client, container_id: int, agent: AgentProc, timeout: float = 20) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        data: dict[str, Any] = c.get(f"/deployments/{container_id}").json()["data"]
        return data if data["status"] in ("succeeded", "failed") else None

    try:
        result: dict[str, Any] = wait_for(done, timeout, what=f"deployment {container_id}")
    except AssertionError:
        raise AssertionError(f"agent log:\n{agent.log()[-4000:]}") from None
    return result


def test_install_and_uninstall_a_real_payload(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = start_agent(server, agent_factory)
    marker = tmp_path / "out" / "marker"
    with server.client() as c:
        package = create_package(c, "Marker", marker, install_post_action=1)
        assert package["payload_sha256"] and package["payload_size"] > 0
        container = wait_done(c, deploy(c, computer_ids=[cid], package_ids=[package["id"]]), agent)
        [job] = container["jobs"]
        assert container["status"] == "succeeded", job
        assert (job["status"], job["exit_code"]) == ("succeeded", 0)
        assert f"installing into {marker}" in job["stdout"]
        assert marker.read_text() == "installed\n"
        [inst] = c.get("/installations", params={"computer_id": cid}).json()["data"]
        assert inst["package_id"] == package["id"] and inst["job_id"] == job["id"]
        wait_for(lambda: "would restart the computer in 5 min" in agent.log(), 5, what="simulated restart")
        assert not list(Path("/tmp").glob(f"fleetdeck-job-{job['id']}-*"))  # temp dir cleaned up

        r = c.post("/deployments/uninstall", json={"name": "rm", "installation_ids": [inst["id"]]})
        assert r.status_code == 201, r.text
        removal = wait_done(c, r.json()["data"]["id"], agent)
        assert removal["status"] == "succeeded", removal["jobs"]
        assert not marker.exists()
        assert c.get("/installations", params={"computer_id": cid}).json()["data"] == []
        # the agent cannot fetch a payload without a pending job
        assert c.get(f"/packages/{package['id']}/payload").content[:2] == b"PK"
        assert httpx.get(f"{server.url}/agent/v1/payload/{package['id']}").status_code == 401


def test_failed_return_code_and_sequence_mode_abort(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = start_agent(server, agent_factory)
    marker = tmp_path / "marker"
    with server.client() as c:
        r = c.post(
            "/packages",
            json={"family_name": "Broken", "version": "1", "install_procedure": "echo no; exit 3"},
        )
        broken = r.json()["data"]
        good = create_package(c, "Good", marker)
        failed = wait_done(c, deploy(c, computer_ids=[cid], package_ids=[broken["id"]]), agent)
        assert failed["status"] == "failed"
        assert (failed["jobs"][0]["exit_code"], failed["jobs"][0]["status"]) == (3, "failed")
        aborted = wait_done(
            c, deploy(c, computer_ids=[cid], package_ids=[broken["id"], good["id"]], sequence_mode=1), agent
        )
        first, second = aborted["jobs"]
        assert (first["package_id"], first["exit_code"]) == (broken["id"], 3)
        assert (second["status"], second["exit_code"]) == ("failed", -8888)
        assert not marker.exists()


def test_job_expires_when_the_agent_comes_back_too_late(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = start_agent(server, agent_factory)
    marker = tmp_path / "marker"
    with server.client() as c:
        package = create_package(c, "Late", marker)
        agent.stop()
        wait_for(lambda: not c.get(f"/computers/{cid}").json()["data"]["online"], 10, what="agent offline")
        end = datetime.now(UTC) + timedelta(seconds=2)
        container_id = deploy(c, computer_ids=[cid], package_ids=[package["id"]], end=end.isoformat())
        # the agent comes back once the deployment's end has passed (server and test share the clock)
        wait_for(lambda: datetime.now(UTC) > end, 5, interval=0.05, what="the deployment's end to pass")
        agent.start("--simulate-power-actions")
        result = wait_done(c, container_id, agent)
        assert result["status"] == "failed"
        assert result["jobs"][0]["status"] == "expired"
        assert not marker.exists()


def test_rule_installs_on_a_computer_added_to_its_group_later(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = start_agent(server, agent_factory)
    marker = tmp_path / "ruled"
    with server.client() as c:
        package = create_package(c, "Ruled", marker)
        group = c.post("/groups", json={"name": "workstations"}).json()["data"]
        pgroup = c.post("/package-groups", json={"name": "baseline"}).json()["data"]
        r = c.post(f"/package-groups/{pgroup['id']}/members", json={"package_id": package["id"]})
        assert r.status_code == 200, r.text
        rule = c.post(
            "/deployment-rules",
            json={"name": "baseline", "computer_group_id": group["id"], "package_group_id": pgroup["id"]},
        ).json()["data"]
        assert c.get(f"/deployment-rules/{rule['id']}/jobs").json()["data"] == []
        assert c.post(f"/groups/{group['id']}/members", json={"computer_ids": [cid]}).status_code == 200

        def installed() -> list[dict[str, Any]] | None:
            jobs: list[dict[str, Any]] = c.get(f"/deployment-rules/{rule['id']}/jobs").json()["data"]
            return jobs if jobs and jobs[0]["status"] == "succeeded" else None

        try:
            [job] = wait_for(installed, 20, what="rule job to succeed")
        except AssertionError:
            raise AssertionError(f"agent log:\n{agent.log()[-4000:]}") from None
        assert job["computer_id"] == cid and marker.read_text() == "installed\n"
        assert c.delete(f"/groups/{group['id']}/members/{cid}").status_code == 204
        assert c.get(f"/deployment-rules/{rule['id']}/jobs").json()["data"] == []
