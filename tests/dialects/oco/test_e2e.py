"""End to end through OCO's API: a real server process, a real agent process, a real package.

oco.package.create (a base64 shell script as payload) -> oco.job_container.deploy to the
agent's computer -> the job reaches state 3 -> the marker file exists and oco.computer.get
lists the installation -> oco.job_container.uninstall removes it again.
"""

from __future__ import annotations

import base64
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleetdeck.core.authz import Role
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, free_port, wait_for

pytestmark = pytest.mark.e2e

INSTALL = b'#!/bin/sh\nset -e\necho "installed by OCO" > "$1"\n'


@pytest.fixture
def oco_server(tmp_path: Path, db_url: str) -> Iterator[ServerProc]:
    srv = ServerProc(tmp_path / "server", db_url, free_port(), tmp_path / "server.log", {})
    srv.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
    srv.cli("settings", "set", "oco.api_enabled", "true")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def agent(oco_server: ServerProc, tmp_path: Path) -> Iterator[AgentProc]:
    a = AgentProc(oco_server, tmp_path / "agent", tmp_path / "agent.log")
    token = oco_server.enroll_token()
    a.start("--simulate-power-actions", token=token)
    yield a
    a.stop()


class Client:
    def __init__(self, server: ServerProc) -> None:
        self.http = httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=15)
        self.n = 0

    def close(self) -> None:
        self.http.close()

    def __call__(self, method: str, data: dict[str, Any] | None = None) -> Any:
        self.n += 1
        body = {
            "jsonrpc": "2.0",
            "id": self.n,
            "method": method,
            "params": {"api_key": "", "data": data or {}},
        }
        r = self.http.post("/api-client.php", json=body)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert "result" in answer, answer
        return answer["result"]["data"]


def wait_container(oco: Client, container_id: int, agent: AgentProc) -> list[dict[str, Any]]:
    def finished() -> list[dict[str, Any]] | None:
        jobs: list[dict[str, Any]] = oco("oco.job_container.job.list", {"id": container_id})
        return jobs if jobs and all(j["state"] not in ("0", "1", "2") for j in jobs) else None

    try:
        result: list[dict[str, Any]] = wait_for(finished, 60, interval=0.3, what="the deployment to finish")
    except AssertionError:
        raise AssertionError(f"agent log:\n{agent.log()[-4000:]}") from None
    return result


@pytest.fixture
def oco(oco_server: ServerProc) -> Iterator[Client]:
    client = Client(oco_server)
    yield client
    client.close()


def test_deploy_and_uninstall_through_oco(oco: Client, agent: AgentProc, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"

    def computer_id() -> int | None:
        computers = oco("oco.computer.list")["computers"]
        ready = [c for c in computers if c["os"] and c["last_ping"]]
        return int(ready[0]["id"]) if ready else None

    cid = wait_for(computer_id, 30, what="the agent's computer with inventory")

    created = oco(
        "oco.package.create",
        {
            "package_family_name": "Marker",
            "version": "1.0",
            "install_procedure": f"sh install.sh {shlex.quote(str(marker))}",
            "install_procedure_success_return_codes": "0",
            "uninstall_procedure": f"rm -f {shlex.quote(str(marker))}",
            "files": [{"name": "install.sh", "content": base64.b64encode(INSTALL).decode()}],
        },
    )
    package_id = int(created["id"])

    deployed = oco(
        "oco.job_container.deploy",
        {"name": "Install marker", "computer_ids": [cid], "package_ids": [package_id], "use_wol": 0},
    )
    assert isinstance(deployed["id"], str)
    jobs = wait_container(oco, int(deployed["id"]), agent)
    assert [(j["package_id"], j["state"], j["return_code"]) for j in jobs] == [(str(package_id), "3", "0")]
    assert marker.read_text().strip() == "installed by OCO"

    installed = oco("oco.computer.get", {"id": cid})["installed_packages"]
    assert [i["package_id"] for i in installed] == [str(package_id)]
    assert oco("oco.package.get", {"id": package_id})["installations"][0]["computer_id"] == str(cid)

    assert oco(
        "oco.job_container.uninstall",
        {"name": "Remove marker", "installation_ids": [int(installed[0]["id"])], "use_wol": 0},
    ) == {"id": None}
    container = max(int(c["id"]) for c in oco("oco.job_container.list"))
    jobs = wait_container(oco, container, agent)
    assert [(j["is_uninstall"], j["state"]) for j in jobs] == [("1", "3")]
    deadline = time.monotonic() + 5
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not marker.exists()
    assert oco("oco.computer.get", {"id": cid})["installed_packages"] == []
