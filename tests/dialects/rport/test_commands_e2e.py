"""A multi-client command on real agent processes, streamed over rportd's ``/ws/commands``: a
real server process, two real agents, a websocket client with ``?access_token=`` as rport's UI
and rportcli use. Then the same run read back over REST, a sequential script that aborts
after the first failure, and the websocket's refusals."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

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


@pytest.fixture
def two_agents(server: ServerProc, agent_factory: Any) -> Iterator[dict[str, str]]:
    """Two enrolled agents, online: rport client id -> client name (both agents run on this
    machine, so their inventory gives both its hostname)."""
    agents: list[AgentProc] = [agent_factory(server, "alpha"), agent_factory(server, "beta")]
    for agent, name in zip(agents, ("alpha", "beta"), strict=True):
        enrolled_as(server, agent, name)
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:

        def both() -> dict[str, str] | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return {r["id"]: r["name"] for r in rows} if len(rows) == 2 else None

        try:
            yield wait_for(both, 30, what="both agents connected")
        except AssertionError:
            raise AssertionError("\n".join(a.log()[-2000:] for a in agents)) from None


def token(server: ServerProc) -> str:
    r = httpx.get(server.url + API + "/login", auth=("admin", ADMIN_PASSWORD), timeout=15)
    assert r.status_code == 200, r.text
    value: str = r.json()["data"]["token"]
    return value


def stream(ws: ClientConnection, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Send the one request message and read until the server closes."""
    ws.send(json.dumps(body))
    out: list[dict[str, Any]] = []
    try:
        while True:
            out.append(json.loads(ws.recv(timeout=60)))
    except ConnectionClosed:
        return out


def test_a_multi_client_command_streams_from_real_agents(
    server: ServerProc, two_agents: dict[str, str]
) -> None:
    url = server.url.replace("http", "ws", 1) + API + "/ws/commands?access_token=" + token(server)
    body = {
        "command": "echo out-$$; echo err >&2; echo '<summary>fine</summary>'",
        "client_ids": sorted(two_agents, reverse=True),
        "execute_concurrently": True,
        "timeout_sec": 30,
    }
    with ws_connect(url, open_timeout=10) as ws:
        messages = stream(ws, body)
    finals = [m for m in messages if "status" in m]
    partial = [m for m in messages if "status" not in m]
    assert sorted(m["client_id"] for m in finals) == sorted(two_agents)
    assert {m["status"] for m in finals} == {"successful"}
    assert len({m["multi_job_id"] for m in finals}) == 1
    for final in finals:
        assert final["result"]["summary"] == "fine" and final["result"]["stderr"] == "err\n"
        assert final["result"]["stdout"].startswith("out-")
        mine = [p for p in partial if p["jid"] == final["jid"]]
        assert "".join(p["result"].get("stdout", "") for p in mine) == final["result"]["stdout"]
        assert all(set(p) == {"jid", "client_id", "client_name", "result"} for p in mine)
    multi_id = finals[0]["multi_job_id"]
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:
        multi = c.get(f"/commands/{multi_id}").json()["data"]
        assert multi["concurrent"] is True and len(multi["jobs"]) == 2
        for final in finals:  # the name the agent's inventory gave the client
            assert (
                final["client_name"] == c.get(f"/clients/{final['client_id']}").json()["data"]["name"] != ""
            )
        one = c.get(f"/clients/{min(two_agents)}/commands").json()["data"]
        assert [j["status"] for j in one] == ["successful"]


def test_a_sequential_script_aborts_after_the_first_failure(
    server: ServerProc, two_agents: dict[str, str]
) -> None:
    url = server.url.replace("http", "ws", 1) + API + "/ws/scripts?access_token=" + token(server)
    script = base64.b64encode(b"echo before\nexit 3\n").decode()
    first, second = sorted(two_agents)
    body = {"script": script, "client_ids": [first, second], "interpreter": "bash"}
    with ws_connect(url, open_timeout=10) as ws:
        messages = stream(ws, body)
    [final] = [m for m in messages if "status" in m]  # the second client's turn never came
    assert (final["client_id"], final["status"], final["is_script"]) == (first, "failed", True)
    assert final["result"]["stdout"] == "before\n"
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:
        jobs = c.get(f"/commands/{final['multi_job_id']}/jobs", params={"fields[jobs]": "client_id,status"})
        assert sorted((j["client_id"], j["status"]) for j in jobs.json()["data"]) == [
            (first, "failed"),
            (second, "failed"),
        ]
        never = c.get(f"/clients/{second}/commands", params={"fields[jobs]": "status,error"}).json()["data"]
        assert never == [{"status": "failed", "error": "aborted after failed job", "result": {"summary": ""}}]


def test_the_websocket_refuses_without_a_token_and_answers_bad_input(server: ServerProc) -> None:
    base = server.url.replace("http", "ws", 1) + API + "/ws/commands"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(base, open_timeout=10)
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"{}")["errors"][0]["title"] == "token required"
    with ws_connect(base + "?access_token=" + token(server), open_timeout=10) as ws:
        messages = stream(ws, {"command": "true", "client_ids": ["nope"], "bogus": 1})
    assert messages[0]["errors"][0]["title"] == "Invalid JSON data."
