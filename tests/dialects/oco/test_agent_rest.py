"""OCO agents, the rest of issue #14: battery, uptime, domain and the agent timestamp in the
computer rows, ``online`` derived from the polls, old agents refused with the reason, and
commands queued before an OCO agent took a computer over failed at once with the reason.

The OCO agent of the tests (``oco_agent.py``) against the real server on a loopback socket.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select, update

from fleetdeck.api.dialects.oco import settings as oco_settings
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.reports.policy import ReportFailed
from fleetdeck.storage.tables import AuditEntry, Computer, ComputerPassword
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.oco.oco_agent import REGISTRATION_KEY, OcoAgent
from tests.dialects.oco.test_agent_api import INVENTORY, computer_of, oco_client
from tests.live_server import LiveServer


def backdate(runtime: Runtime, cid: int, column: str, seconds: float) -> None:
    """The computer's ``column`` (a time) as if it had been set ``seconds`` earlier: what
    depends on real time (the offline grace, OCO's 25 s) without waiting for it."""
    with UnitOfWork(runtime.db) as uow:
        at = uow.session.scalar(select(getattr(Computer, column)).where(Computer.id == cid))
        assert at is not None
        uow.session.execute(
            update(Computer).where(Computer.id == cid).values({column: at - timedelta(seconds=seconds)})
        )


def test_battery_uptime_domain_and_timestamp_reach_oco_and_v1(
    agent: OcoAgent, v1: httpx.Client, live: LiveServer, runtime: Runtime, admin: Actor, token: str
) -> None:
    """What the hello and the inventory say about the machine is in OCO's computer row and in
    ``/api/v1``: the battery as OCO's agent reports it (0..1, 1 mains / 2 discharging), the
    uptime, the domain, and ``agent_timestamp`` = the newest request timestamp accepted."""
    agent.update({**INVENTORY, "battery_level": 0.87, "battery_status": 1})
    agent.hello(battery_level=0.42, battery_status=2, uptime=5000)  # the hello refreshes it
    cid = computer_of(v1, "oco-pc1")["id"]
    detail = v1.get(f"/computers/{cid}").json()["data"]
    assert (detail["battery_level"], detail["battery_status"]) == (0.42, 2)
    assert detail["domain"] == "example.org"
    sent = float(json_params(agent.last_sent)["timestamp"])
    assert detail["agent_timestamp"] == sent
    runtime.services.settings.set(admin, oco_settings.VALUE_TYPES_KEY, "native")
    general = oco_client(live, runtime, admin, token, "oco.computer.get", {"id": cid})["general"]
    assert (general["battery_level"], general["battery_status"]) == (0.42, 2)
    assert general["agent_timestamp"] == sent
    assert general["domain"] == "example.org"
    assert 4990 <= general["uptime"] <= 5010
    runtime.services.settings.set(admin, oco_settings.VALUE_TYPES_KEY, "strings")
    general = oco_client(live, runtime, admin, token, "oco.computer.get", {"id": cid})["general"]
    assert (general["battery_level"], general["battery_status"]) == ("0.42", "2")


def test_an_agent_without_battery_says_false_and_shows_null(agent: OcoAgent, v1: httpx.Client) -> None:
    agent.hello(battery_level=0.5, battery_status=1)
    agent.hello(battery_level=False, battery_status=False)  # OCO's agent: no battery
    cid = computer_of(v1, "oco-pc1")["id"]
    detail = v1.get(f"/computers/{cid}").json()["data"]
    assert (detail["battery_level"], detail["battery_status"]) == (None, None)
    agent.hello(battery_level=57, battery_status=9)  # a percentage, an unknown status: not known
    detail = v1.get(f"/computers/{cid}").json()["data"]
    assert (detail["battery_level"], detail["battery_status"]) == (None, None)


def test_online_while_it_polls_offline_after_the_grace(
    agent: OcoAgent, v1: httpx.Client, runtime: Runtime, admin: Actor
) -> None:
    """Online from its poll, as OCO decides (last contact within computer-offline-seconds),
    the same answer in /api/v1 and the filters; offline once that has passed."""
    cid = computer_of(v1, "oco-pc1")["id"]
    assert v1.get(f"/computers/{cid}").json()["data"]["online"] is True
    assert runtime.services.polling.mark_offline() == 0  # just polled: stays online
    listed = v1.get("/computers", params={"filter[online]": "true"})
    assert cid in [c["id"] for c in listed.json()["data"]], listed.text
    # the agent stops polling: its last contact becomes older than the setting says
    after = runtime.services.settings.value("polling.offline_after_sec")
    backdate(runtime, cid, "last_seen", after + 1)
    assert runtime.services.polling.mark_offline() == 1
    assert v1.get(f"/computers/{cid}").json()["data"]["online"] is False
    listed = v1.get("/computers", params={"filter[online]": "true"})
    assert cid not in [c["id"] for c in listed.json()["data"]]
    agent.hello()  # back
    assert v1.get(f"/computers/{cid}").json()["data"]["online"] is True


def test_an_online_oco_computer_still_gets_no_command(agent: OcoAgent, v1: httpx.Client) -> None:
    """Online is not connected: commands and actions stay refused with the reason."""
    cid = computer_of(v1, "oco-pc1")["id"]
    assert v1.get(f"/computers/{cid}").json()["data"]["online"] is True
    r = v1.post("/commands", json={"command": "uptime", "computer_ids": [cid]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "agent_incapable"


def test_agents_older_than_1_1_7_are_refused_with_the_reason(
    agent: OcoAgent, live: LiveServer, runtime: Runtime
) -> None:
    """OCO still takes an old agent's key in plain text (``params.agent-key``, no signature);
    fleetdeck refuses that, saying why, and records it as a failed authentication."""
    old = OcoAgent(live.url, "oco-pc1", REGISTRATION_KEY)
    raw = old.body("oco.agent.hello", {"agent_version": "1.1.6"}, **{"agent-key": agent.agent_key})
    r = old.send(raw, signed=False)
    assert r.status_code == 401
    assert "1.1.6 is older than 1.1.7" in r.text and "update the agent" in r.text
    r = old.send(old.body("oco.agent.hello", {"agent_version": "0.9"}), signed=False)
    assert r.status_code == 401 and "0.9 is older than 1.1.7" in r.text
    # the old download (GET ?id=&hostname=&agent-key=) likewise
    r = httpx.get(f"{live.url}/api-agent.php", params={"id": 1, "hostname": "oco-pc1", "agent-key": "k"})
    assert r.status_code == 401 and "update the OCO agent" in r.text
    with UnitOfWork(runtime.db, readonly=True) as uow:
        reasons = [
            e.detail.get("reason", "")
            for e in uow.session.query(AuditEntry).filter(AuditEntry.action == "agent.authenticate")
        ]
    assert any("older than 1.1.7" in reason for reason in reasons)
    agent.hello()  # the real agent goes on


def test_commands_queued_before_the_takeover_fail_with_the_reason(
    live: LiveServer, v1: httpx.Client, runtime: Runtime, admin: Actor
) -> None:
    """A pre-registered computer may get commands for the fleetdeck agent it waits for; when
    an OCO agent takes it over instead, they fail at once, saying why, while package jobs
    stay for the OCO agent."""
    runtime.services.settings.set(admin, oco_settings.AGENT_REGISTRATION_KEY, REGISTRATION_KEY)
    cid = v1.post("/computers", json={"hostname": "waiting"}).json()["data"]["id"]
    r = v1.post("/commands", json={"command": "uptime", "computer_ids": [cid]})
    assert r.status_code == 201, r.text
    [job_id] = r.json()["data"]["job_ids"]
    assert v1.get(f"/jobs/{job_id}").json()["data"]["status"] == "queued"
    OcoAgent(live.url, "waiting", REGISTRATION_KEY).hello()
    job = v1.get(f"/jobs/{job_id}").json()["data"]
    assert job["status"] == "failed"
    assert "polling agent, which cannot run commands" in job["message"]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        entries = list(uow.session.query(AuditEntry).filter(AuditEntry.action == "job.incapable"))
    assert [e.detail["job_ids"] for e in entries] == [[job_id]]


def json_params(raw: bytes) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(raw)["params"]
    return params


# ---------------------------------------------------------------- events


def _events(agent: OcoAgent, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return agent.call("oco.agent.events", {"events": rows})["result"]


EVENT = {
    "log": "ssh.service",
    "provider": "sshd",
    "event_id": "4",
    "level": "6",
    "timestamp": "2026-12-02 10:00:00",
    "data": {"message": "Accepted publickey for alice"},
}


def test_events_are_asked_for_stored_and_asked_for_since_the_newest(
    agent: OcoAgent, v1: httpx.Client, runtime: Runtime, admin: Actor
) -> None:
    assert agent.hello()["events"] == []  # no event query: none asked for
    query = '{"unit": "ssh.service"}'
    runtime.services.settings.set(admin, "polling.event_queries", [f"journalctl|{query}"])
    assert agent.hello()["events"] == [{"since": "1970-01-01 00:00:00", "log": "journalctl", "query": query}]
    later = {**EVENT, "timestamp": "2026-12-02 11:30:00", "data": {"message": "session closed"}}
    no_time = {**EVENT, "timestamp": "yesterday"}  # OCO skips those, and entries without a log
    answer = _events(agent, [EVENT, later, no_time, {**EVENT, "log": ""}, "not an object"])  # type: ignore[list-item]
    assert (answer["success"], answer["params"]) == (True, [])
    assert _events(agent, [EVENT])["success"] is True  # sent again: kept once, as OCO keeps it
    cid = computer_of(v1, "oco-pc1")["id"]
    rows = v1.get(f"/computers/{cid}/events").json()["data"]
    assert [(r["at"][:19], r["data"]["message"]) for r in rows] == [
        ("2026-12-02T11:30:00", "session closed"),
        ("2026-12-02T10:00:00", "Accepted publickey for alice"),
    ]
    assert (rows[1]["log"], rows[1]["provider"], rows[1]["event_id"], rows[1]["level"]) == (
        "ssh.service",
        "sshd",
        "4",
        "6",
    )
    assert agent.hello()["events"][0]["since"] == "2026-12-02 11:30:00"
    # housekeeping purges what is older than the retention (all of these: days old already)
    runtime.services.settings.set(admin, "polling.event_retention_sec", 3600)
    assert runtime.services.agent_records.purge_events() == 2
    assert v1.get(f"/computers/{cid}/events").json()["data"] == []


def test_events_of_the_wrong_shape_are_refused_as_oco_refuses_them(agent: OcoAgent) -> None:
    for data in ({}, {"events": "x"}, {"events": None}):
        r = agent.send(agent.body("oco.agent.events", data))
        assert (r.status_code, r.text) == (400, "Invalid JSON data")


# ---------------------------------------------------------------- passwords


def encrypt(password: str, agent_key: str) -> dict[str, str]:
    """As OCO's agent encrypts a new password for the server (``oco_agent.encrypt``): AES-256-CBC
    under the agent key NUL-padded to 32 bytes, the text padded PKCS#7-style, base64."""
    key = (agent_key[:32] + "\x00" * (32 - len(agent_key))).encode()
    pad = 16 - len(password) % 16
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    data = enc.update((password + chr(pad) * pad).encode()) + enc.finalize()
    return {"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()}


def _passwords(agent: OcoAgent, items: list[dict[str, Any]]) -> httpx.Response:
    return agent.send(agent.body("oco.agent.passwords", {"passwords": items}))


def test_password_rotation_end_to_end(
    agent: OcoAgent, v1: httpx.Client, live: LiveServer, runtime: Runtime, admin: Actor, system: Actor
) -> None:
    """Due -> asked for in the hello -> the agent sends it encrypted -> stored encrypted ->
    not due any more -> readable in clear text with read_passwords only, each read audited;
    the history is kept as the setting says; a revocation within 5 minutes removes it."""
    assert agent.hello()["update-passwords"] == []  # no rule
    runtime.services.settings.set(admin, "polling.password_rotation_users", ["Administrator"])
    runtime.services.settings.set(admin, "polling.password_history", 1)
    [wanted] = agent.hello()["update-passwords"]
    assert wanted == {
        "username": "Administrator",
        "alphabet": runtime.services.settings.value("polling.password_alphabet"),
        "length": 15,
    }
    for secret in ("first-Secret-1", "second-Secret-2", "third-Secret-3"):
        r = _passwords(agent, [{"username": "Administrator", "password": encrypt(secret, agent.agent_key)}])
        answer = agent.checked(r)["result"]
        assert (answer["success"], answer["params"]) == (True, [])
    assert agent.hello()["update-passwords"] == []  # rotated just now: not due
    cid = computer_of(v1, "oco-pc1")["id"]
    rows = v1.get(f"/computers/{cid}/passwords").json()["data"]
    assert [(r["username"], r["password"]) for r in rows] == [
        ("Administrator", "third-Secret-3"),
        ("Administrator", "second-Secret-2"),  # history 1: one earlier kept
    ]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        stored = [enc for (enc,) in uow.session.query(ComputerPassword.password_enc)]
        reads = list(uow.session.query(AuditEntry).filter(AuditEntry.action == "computer.passwords_read"))
        rotated = list(uow.session.query(AuditEntry).filter(AuditEntry.action == "computer.password_rotated"))
    assert len(stored) == 2 and not any("Secret" in enc for enc in stored)  # encrypted at rest
    assert [(e.result, e.detail["usernames"]) for e in reads] == [("ok", ["Administrator"])]
    assert len(rotated) == 3 and all("Secret" not in str(e.detail) for e in rotated)
    # a viewer (and a read-only token of the admin) may not read them; the refusal is recorded
    user = runtime.services.users.create(system, "vera", "vera-password-123", Role.VIEWER)
    viewer = Actor(user_id=user.id, username=user.username, role=Role.VIEWER)
    viewer_token = runtime.services.users.create_token(viewer, "t", "read", None).token
    r = httpx.get(
        f"{live.url}/api/v1/computers/{cid}/passwords",
        headers={"Authorization": f"Bearer {viewer_token}"},
        timeout=30,
    )
    assert r.status_code == 403, r.text
    read_only = runtime.services.users.create_token(admin, "ro", "read", None).token
    r = httpx.get(
        f"{live.url}/api/v1/computers/{cid}/passwords",
        headers={"Authorization": f"Bearer {read_only}"},
        timeout=30,
    )
    assert r.status_code == 403, r.text
    with UnitOfWork(runtime.db, readonly=True) as uow:
        denied = uow.session.query(AuditEntry).filter(
            AuditEntry.action == "computer.passwords_read", AuditEntry.result == "denied"
        )
        assert denied.count() == 2
    # setting it failed on the machine: the agent revokes it (within 5 minutes)
    r = _passwords(
        agent,
        [
            {
                "username": "Administrator",
                "password": encrypt("third-Secret-3", agent.agent_key),
                "revoke": True,
            }
        ],
    )
    assert agent.checked(r)["result"]["success"] is True
    rows = v1.get(f"/computers/{cid}/passwords").json()["data"]
    assert [r["password"] for r in rows] == ["second-Secret-2"]


def test_passwords_nobody_asked_for_or_that_do_not_decrypt(
    agent: OcoAgent, runtime: Runtime, admin: Actor
) -> None:
    """A user name no rule names is not kept (success false: the agent keeps its password); one
    that does not decrypt with the agent's key is 400 ``Invalid password data``."""
    runtime.services.settings.set(admin, "polling.password_rotation_users", ["root"])
    r = _passwords(agent, [{"username": "bob", "password": encrypt("x-Secret-1", agent.agent_key)}])
    assert agent.checked(r)["result"]["success"] is False
    r = _passwords(agent, [{"username": "root", "password": encrypt("x-Secret-1", "another-key")}])
    assert (r.status_code, r.text) == (400, "Invalid password data")
    r = _passwords(agent, [{"username": "root", "password": {"iv": "!!", "data": "??"}}])
    assert (r.status_code, r.text) == (400, "Invalid password data")
    answer = agent.call("oco.agent.passwords", {"passwords": []})
    assert answer["result"]["success"] is False  # nothing stored, as OCO answers it


def test_force_inventory_asks_at_the_next_poll(agent: OcoAgent, v1: httpx.Client, runtime: Runtime) -> None:
    agent.update(INVENTORY)
    assert agent.hello()["update"] == 0
    cid = computer_of(v1, "oco-pc1")["id"]
    r = v1.post(f"/computers/{cid}/force-inventory")
    assert r.status_code == 200, r.text
    assert v1.get(f"/computers/{cid}").json()["data"]["force_update"] is True
    assert agent.hello()["update"] == 1
    backdate(runtime, cid, "inventory_at", 30)  # OCO refuses it within 25 s of the last one
    agent.update(INVENTORY)  # cleared by the inventory
    assert agent.hello()["update"] == 0


def test_reports_read_events_and_battery_never_passwords(
    agent: OcoAgent, runtime: Runtime, admin: Actor
) -> None:
    """The new computer columns and the events are report material; the rotated passwords are
    not, not even encrypted (SECRET_COLUMNS; on PostgreSQL the table is never granted)."""
    runtime.services.settings.set(admin, "polling.password_rotation_users", ["root"])
    agent.hello(battery_level=0.5, battery_status=1)
    agent.checked(
        _passwords(agent, [{"username": "root", "password": encrypt("r-Secret-1", agent.agent_key)}])
    )
    _events(agent, [EVENT])
    rows = runtime.services.reports.run_sql(
        admin, "SELECT battery_level, battery_status, force_update FROM computers"
    ).rows
    assert [(r["battery_level"], r["battery_status"]) for r in rows] == [(0.5, 1)]
    assert len(runtime.services.reports.run_sql(admin, "SELECT log, data FROM computer_events").rows) == 1
    with pytest.raises(ReportFailed) as refused:
        runtime.services.reports.run_sql(admin, "SELECT password_enc FROM computer_passwords")
    assert refused.value.detail["kind"] == "forbidden"
