"""rport part 1's leftovers on real agent processes: a file push targeted by ``tags`` followed on
``/ws/uploads`` (one result per client as each agent reports, ``ignored`` when the file is
left alone), and ``is_sudo`` commands run through ``sudo -n``.

This machine has no sudo (and the tests run as root, whom a real sudo never refuses), so the
sudo tests put a stand-in ``sudo`` first on the agents' PATH: it behaves as ``sudo -n`` does
for a user without a password-less rule ("a password is required", exit 1) until a file
allows it, then runs the command with ``FAKE_SUDO=1`` in its environment."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.dialects.rport.test_commands_e2e import token, two_agents
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
__all__ = ["agent_factory", "server", "server_factory", "two_agents"]  # fixtures
API = "/rport/api/v1"
FAKE_SUDO = """#!/bin/sh
[ "$1" = "-n" ] || { echo "fake sudo: only -n is supported" >&2; exit 2; }
shift
[ -e "{allow}" ] || { echo "sudo: a password is required" >&2; exit 1; }
[ "$1" = "--" ] && shift
FAKE_SUDO=1 exec "$@"
"""


def push(server: ServerProc, dest: Path, content: bytes, **fields: str) -> dict[str, Any]:
    r = httpx.post(
        f"{server.url}{API}/files",
        auth=("admin", ADMIN_PASSWORD),
        files={"upload": ("hello.txt", content)},
        data={"dest": str(dest), **fields},
        timeout=15,
    )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def results(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(ws.recv(timeout=30)) for _ in range(count)]


def test_a_push_by_tags_is_followed_on_the_uploads_socket(
    server: ServerProc, two_agents: dict[str, str], tmp_path: Path
) -> None:
    """Both agents are tagged ``lab``, one also ``eu``: ``eu AND lab`` pushes to one, ``OR``
    to both; every open socket gets each client's result as its agent reports it."""
    first, second = sorted(two_agents)
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:
        for uid, tags in ((first, ["lab", "eu"]), (second, ["lab"])):
            r = c.put(f"/clients/{uid}/attributes", json={"tags": tags, "labels": {}})
            assert r.status_code == 200, r.text
    url = server.url.replace("http", "ws", 1) + API + "/ws/uploads?access_token=" + token(server)
    one, both = tmp_path / "one.txt", tmp_path / "both.txt"
    with ws_connect(url, open_timeout=10) as ws, ws_connect(url, open_timeout=10) as other:
        time.sleep(0.5)  # the sockets' subscriptions are made after the upgrade
        sent = push(server, one, b"one\n", tags='{"tags": ["eu", "lab"], "operator": "AND"}', mode="0600")
        [got] = results(ws, 1)
        assert got == {
            "client_id": first,
            "uuid": sent["uuid"],
            "filepath": str(one),
            "size": 4,
            "message": got["message"],
            "status": "success",
        }
        assert results(other, 1) == [got]
        assert one.read_bytes() == b"one\n" and stat.S_IMODE(one.stat().st_mode) == 0o600
        # both agents run on this machine and write the same path: forced, so neither leaves it
        sent = push(server, both, b"both\n", tags='{"tags": ["eu", "lab"], "operator": "OR"}', force="1")
        got_both = results(ws, 2)
        assert sorted(m["client_id"] for m in got_both) == sorted([first, second])
        assert {(m["uuid"], m["status"]) for m in got_both} == {(sent["uuid"], "success")}
        ws.send("anything")  # read and ignored, as rportd does: the socket stays open
        again = push(server, one, b"one\n", client_id=second)  # neither force nor sync: left alone
        [ignored] = results(ws, 1)
        assert (ignored["client_id"], ignored["uuid"], ignored["status"]) == (
            second,
            again["uuid"],
            "ignored",
        )
        assert "neither force nor sync" in ignored["message"]


def test_the_uploads_socket_wants_a_token_and_the_uploads_permission(server: ServerProc) -> None:
    base = server.url.replace("http", "ws", 1) + API + "/ws/uploads"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(base, open_timeout=10)
    assert refused.value.response.status_code == 401
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:
        body = {"username": "carol", "password": "a-long-user-password-1", "groups": ["viewers"]}
        assert c.post("/users", json=body).status_code == 201
    carol = httpx.get(server.url + API + "/login", auth=("carol", body["password"]), timeout=15)
    with pytest.raises(InvalidStatus) as forbidden:
        ws_connect(base + "?access_token=" + carol.json()["data"]["token"], open_timeout=10)
    assert forbidden.value.response.status_code == 403


@pytest.fixture
def sudo_agent(
    server: ServerProc, agent_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """One agent whose PATH starts with the stand-in sudo; (client id, the file that allows)."""
    bin_dir, allow = tmp_path / "fakebin", tmp_path / "sudo-allowed"
    bin_dir.mkdir()
    sudo = bin_dir / "sudo"
    sudo.write_text(FAKE_SUDO.replace("{allow}", str(allow)))
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")
    agent: AgentProc = agent_factory(server, "sudoer")
    enrolled_as(server, agent, "sudoer")
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:

        def online() -> str | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return rows[0]["id"] if rows else None

        yield wait_for(online, 30, what="the agent connected"), allow


def run(server: ServerProc, uid: str, command: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:
        r = c.post(f"/clients/{uid}/commands", json={"command": command, "is_sudo": True, "timeout_sec": 30})
        assert r.status_code == 200, r.text
        jid = r.json()["data"]["jid"]

        def done() -> dict[str, Any] | None:
            job: dict[str, Any] = c.get(f"/clients/{uid}/commands/{jid}").json()["data"]
            return job if job["status"] != "running" else None

        return wait_for(done, 30, what="the sudo job finished")


def test_is_sudo_runs_through_sudo_n_and_a_refusal_reaches_the_job(
    server: ServerProc, sudo_agent: tuple[str, Path]
) -> None:
    uid, allow = sudo_agent
    refused = run(server, uid, "echo ran-$FAKE_SUDO")
    assert (refused["status"], refused["is_sudo"]) == ("failed", True)
    assert refused["error"] == "sudo refused: sudo: a password is required"
    assert refused["result"]["stdout"] == ""  # the command never ran
    allow.touch()
    ran = run(server, uid, "echo ran-$FAKE_SUDO")
    assert (ran["status"], ran["is_sudo"], ran["error"]) == ("successful", True, "")
    assert ran["result"]["stdout"] == "ran-1\n"


def test_an_agent_enrolls_with_client_credentials(
    server: ServerProc, agent_factory: Any, tmp_path: Path
) -> None:
    """An admin creates a credential with ``POST /clients-auth``; a real agent enrolls with it
    (``--client-auth-file``) and connects; the credential then has a bound client (409 on
    delete without force); a wrong password is refused (the agent exits 1)."""
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=15) as c:
        assert c.post("/clients-auth", json={"id": "lab", "password": "lab-password"}).status_code == 201
        good, bad = tmp_path / "good", tmp_path / "bad"
        good.write_text("lab:lab-password\n")
        bad.write_text("lab:wrong\n")
        agent: AgentProc = agent_factory(server, "credentialed")
        agent.start("--server", server.url, "--client-auth-file", str(good))

        def connected() -> list[str] | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return [r["id"] for r in rows] or None

        try:
            [uid] = wait_for(connected, 30, what="the agent enrolled with credentials and connected")
        except AssertionError:
            raise AssertionError(agent.log()[-3000:]) from None
        assert c.get(f"/clients/{uid}").json()["data"]["client_auth_id"] == "lab"
        r = c.delete("/clients-auth/lab")
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "ERR_CODE_CLIENT_AUTH_HAS_CLIENT"
        refused: AgentProc = agent_factory(server, "refused")
        refused.start("--server", server.url, "--client-auth-file", str(bad))
        assert refused.proc is not None and refused.proc.wait(30) == 1
        assert "invalid client credentials" in refused.log()
        assert c.delete("/clients-auth/lab", params={"force": "true"}).status_code == 204
