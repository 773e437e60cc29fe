"""rportd's ``POST /clients/{id}/updates-status`` on a real server process and a real agent
process: the agent runs its package manager's simulation (here a fake ``apt-get`` first on the
agent's PATH, printing what ``apt-get -s upgrade`` prints on Ubuntu), answers the server's
request, and ``GET /clients`` shows the stored summary as ``updates_status``. A disconnected
client is 404; ``DELETE /clients/{id}`` is 400 while it is connected and 204 once it is not."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    AgentProc,
    ServerProc,
    agent_factory,
    enrolled_as,
    server,
    server_factory,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory", "server", "server_factory"]  # fixtures
API = "/rport/api/v1"
APT_OUTPUT = """\
NOTE: This is only a simulation!
Reading package lists...
Inst libssl3 [3.0.2-0ubuntu1.14] (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64])
Inst openssl [3.0.2-0ubuntu1.14] (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64])
Inst tzdata [2024a-0ubuntu0.22.04] (2024a-0ubuntu0.22.04.1 Ubuntu:22.04/jammy-updates [all])
Conf libssl3 (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64])
"""


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A script named apt-get first on the PATH the agent process inherits."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    script = bin_dir / "apt-get"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{APT_OUTPUT}EOF\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


@pytest.fixture
def client(
    server: ServerProc, agent_factory: Any, fake_apt: Path
) -> Iterator[tuple[httpx.Client, str, AgentProc]]:
    agent: AgentProc = agent_factory(server, "alpha")
    enrolled_as(server, agent, "alpha")
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=90) as c:

        def connected() -> str | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return str(rows[0]["id"]) if rows else None

        try:
            uid = wait_for(connected, 30, what="agent connected")
        except AssertionError:
            raise AssertionError(agent.log()[-3000:]) from None
        yield c, uid, agent


def status_of(c: httpx.Client, uid: str) -> Any:
    rows = c.get("/clients", params={"fields[clients]": "id,updates_status"}).json()["data"]
    return next(r["updates_status"] for r in rows if r["id"] == uid)


def test_updates_status_from_a_real_agent(client: tuple[httpx.Client, str, AgentProc]) -> None:
    c, uid, agent = client
    assert status_of(c, uid) is None  # never asked
    r = c.post(f"/clients/{uid}/updates-status")
    assert (r.status_code, r.content) == (204, b""), r.text
    status = status_of(c, uid)
    assert status["updates_available"] == 3
    assert status["security_updates_available"] == 2
    assert status["error"] == "" and status["hint"] == ""
    assert isinstance(status["reboot_pending"], bool) and status["refreshed"].endswith("Z")
    titles = {s["title"]: s["is_security_update"] for s in status["update_summaries"]}
    assert titles == {"libssl3": True, "openssl": True, "tzdata": False}
    assert c.get(f"/clients/{uid}").json()["data"]["updates_status"] == status
    # connected: not deletable; its agent gone: refresh is 404, delete works
    busy = c.delete(f"/clients/{uid}")
    assert busy.status_code == 400 and busy.json()["errors"][0]["title"] == (
        "client is active, should be disconnected"
    )
    agent.stop()
    wait_for(
        lambda: c.get(f"/clients/{uid}").json()["data"]["connection_state"] == "disconnected",
        30,
        what="agent disconnected",
    )
    assert c.post(f"/clients/{uid}/updates-status").status_code == 404
    assert status_of(c, uid) == status  # the last summary is kept
    assert c.post("/clients/no-such-client/updates-status").status_code == 404
    assert c.delete(f"/clients/{uid}").status_code == 204
    assert c.get(f"/clients/{uid}").status_code == 404
