"""End to end through i-doit's API: a real server process and a real agent process. The
agent enrolls, sends its machine's inventory, and its computer is a CMDB object whose
inventory categories (operating system, ports, IPs, drives, applications) come from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleetdeck.core.authz import Role
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, free_port, wait_for

pytestmark = pytest.mark.e2e
KEY = "e2e-idoit-key"


@pytest.fixture
def idoit_server(tmp_path: Path, db_url: str) -> Iterator[ServerProc]:
    srv = ServerProc(tmp_path / "server", db_url, free_port(), tmp_path / "server.log", {})
    srv.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
    srv.cli("settings", "set", "idoit.api_enabled", "true")
    srv.cli("settings", "set", "idoit.api_key", KEY)
    srv.start()
    yield srv
    srv.stop()


def rpc(srv: ServerProc, method: str, params: dict[str, Any]) -> Any:
    body = {"version": "2.0", "method": method, "params": {"apikey": KEY, **params}, "id": 1}
    answer = httpx.post(f"{srv.url}/src/jsonrpc.php", json=body, timeout=15).json()
    assert "error" not in answer, answer
    return answer["result"]


def test_agent_enrolled_computer_is_a_cmdb_object(idoit_server: ServerProc, tmp_path: Path) -> None:
    agent = AgentProc(idoit_server, tmp_path / "agent", tmp_path / "agent.log")
    token = idoit_server.enroll_token()
    agent.start(token=token)
    try:

        def listed() -> list[dict[str, Any]] | None:
            rows = rpc(idoit_server, "cmdb.objects.read", {"categories": ["C__CATG__OPERATING_SYSTEM"]})
            with_os = [r for r in rows if r["categories"]["C__CATG__OPERATING_SYSTEM"]]
            return with_os or None

        try:
            (row,) = wait_for(listed, 30, what="the agent's computer as a CMDB object with its OS")
        except AssertionError:
            raise AssertionError(f"agent log:\n{agent.log()[-3000:]}") from None
        assert row["type"] in (5, 10)  # a server or a workstation, from the machine's facts
        oid = row["id"]
        ports = rpc(idoit_server, "cmdb.category.read", {"objID": oid, "category": "C__CATG__NETWORK_PORT"})
        ips = rpc(idoit_server, "cmdb.category.read", {"objID": oid, "category": "C__CATG__IP"})
        assert ports and ips
        assert "127.0.0.1" in {ip["hostaddress"] for ip in ips}
        drives = rpc(idoit_server, "cmdb.category.read", {"objID": oid, "category": "C__CATG__DRIVE"})
        assert any(d["mount_point"] == "/" for d in drives)
        with httpx.Client(base_url=f"{idoit_server.url}/api/v1", auth=("admin", ADMIN_PASSWORD)) as c:
            (computer,) = c.get("/computers").json()["data"]
        assert row["title"] == computer["hostname"]
    finally:
        agent.stop()
