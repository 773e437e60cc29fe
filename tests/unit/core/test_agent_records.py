"""What polling agents hand over besides inventory and job states (``core/polling/records.py``
and the ``events``/``passwords``/``seen``/``mark_offline``/``refuse_outdated`` calls of
``PollingAgentService``), called directly: which event queries and password requests a poll
carries, how events and rotated passwords are stored, capped, revoked and purged, who may read
them and how every read is audited. The OCO dialect tests cover the same through HTTP; these
are the ones the mutation subset runs (docs/testing.md: the module had no test there)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.computers.entities import capabilities
from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.polling import records
from fleetdeck.core.polling.records import EPOCH, EventQuery, decrypt_password
from fleetdeck.core.polling.service import PollFacts
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_polling import REG, Agent


def encrypt(agent_key: str, text: str, iv: bytes | None = None) -> dict[str, str]:
    """A password as OCO's agent encrypts it: AES-256-CBC under the first 32 bytes of its key
    (NUL-padded), PKCS#7, base64."""
    iv = iv or os.urandom(16)
    key = (agent_key[:32] + "\x00" * (32 - len(agent_key[:32]))).encode()[:32]
    raw = text.encode()
    pad = 16 - len(raw) % 16
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    data = enc.update(raw + bytes([pad]) * pad) + enc.finalize()
    return {"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()}


def event(at: str = "2026-03-01 08:00:00", **over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "log": "System",
        "timestamp": at,
        "provider": "Kernel",
        "level": "2",
        "event_id": "41",
        "data": {"msg": "boot"},
    }
    e.update(over)
    return e


def audit_rows(svc: Services, mark: int, action: str) -> list[Any]:
    return [r for r in factories.audit_since(svc, mark) if r.action == action]


# ------------------------------------------------------------------ event queries and events


def test_a_poll_asks_for_each_configured_event_query_since_the_newest_stored_event(
    svc: Services, admin: Actor
) -> None:
    agent = Agent(svc, "ev-1")
    cid = agent.hello().computer_id
    assert agent.hello().event_queries == []  # none configured: none asked for
    svc.settings.set(
        admin,
        "polling.event_queries",
        [" System | *[System[Level=2]] ", "journalctl", " |no log", "Application|"],
    )
    # entries without a '|' or without a log are left out; log and query are stripped
    assert agent.hello().event_queries == [
        EventQuery("System", "*[System[Level=2]]", EPOCH),
        EventQuery("Application", "", EPOCH),
    ]
    svc.polling.events(agent.request(), [event("2026-03-01 08:00:00"), event("2026-03-01 07:00:00")])
    since = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert [q.since for q in agent.hello().event_queries] == [since, since]
    # another computer's events do not move this one's ``since``
    other = Agent(svc, "ev-2")
    other.hello()
    svc.polling.events(other.request(), [event("2026-03-02 00:00:00")])
    assert {q.since for q in agent.hello().event_queries} == {since}
    assert {q.since for q in other.hello().event_queries} == {datetime(2026, 3, 2, tzinfo=UTC)}
    assert cid != other.hello().computer_id


def test_events_are_stored_as_given_without_duplicates_and_read_newest_first(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    agent = Agent(svc, "ev-3")
    cid = agent.hello().computer_id
    clock.now = T0 + timedelta(minutes=5)
    mark = factories.audit_mark(svc)
    sent = [
        event("2026-03-01 08:00:00"),
        event("2026-03-01 08:00:00"),  # the same entry twice in one request: once
        event("2026-03-01 09:00:00", data=["not", "a", "dict"], provider=7, level=2.5, event_id=True),
        event("yesterday"),  # no readable time: left out
        event("2026-03-01 10:00:00", log=""),  # no log: left out
        event("2026-03-01 10:00:00", log=None),
        event("2026-03-01 11:00:00", log="L" * 300, provider="P" * 300, level="V" * 40, event_id="E" * 70),
        event("2026-03-01 12:00:00", data={"big": "x" * 20_000}),
    ]
    answer = svc.polling.events(agent.request(), sent)
    assert (answer.computer_id, answer.stored) == (cid, True)
    [row] = audit_rows(svc, mark, "computer.events")
    assert (row.object_type, row.object_id, row.detail, row.username) == (
        "computer",
        str(cid),
        {"stored": 4},
        "agent:ev-3",
    )
    got = svc.agent_records.events(admin, cid)
    assert [e.at for e in got] == [
        datetime(2026, 3, 1, h, tzinfo=UTC) for h in (12, 11, 9, 8)
    ]  # newest first
    big, long, odd, first = got
    assert (first.log, first.provider, first.level, first.event_id, first.data) == (
        "System",
        "Kernel",
        "2",
        "41",
        {"msg": "boot"},
    )
    assert (first.computer_id, first.received_at) == (cid, clock.now)
    # a value that is no object is kept under "value"; numbers become text, a boolean none
    assert (odd.data, odd.provider, odd.level, odd.event_id) == (
        {"value": ["not", "a", "dict"]},
        "7",
        "2.5",
        "",
    )
    assert (len(long.log), len(long.provider), len(long.level), len(long.event_id)) == (255, 255, 32, 64)
    assert list(big.data) == ["truncated"] and len(big.data["truncated"]) == records.MAX_EVENT_DATA
    assert big.data["truncated"].startswith('{"big": "xxx')

    # sent again (an agent repeats what it found since the newest stored one): nothing new
    mark = factories.audit_mark(svc)
    again = svc.polling.events(
        agent.request(),
        [event("2026-03-01 08:00:00"), event("2026-03-01 12:00:00", data={"big": "x" * 20_000})],
    )
    assert again.stored is True
    assert audit_rows(svc, mark, "computer.events") == []
    assert len(svc.agent_records.events(admin, cid)) == 4
    # the same time and log with other data is another entry
    svc.polling.events(agent.request(), [event("2026-03-01 08:00:00", data={"msg": "other"})])
    assert len(svc.agent_records.events(admin, cid)) == 5

    assert [e.at.hour for e in svc.agent_records.events(admin, cid, limit=2)] == [12, 11]
    assert len(svc.agent_records.events(admin, cid, limit=0)) == 1  # at least one
    viewer = factories.user(svc, Role.VIEWER)
    assert len(svc.agent_records.events(viewer, cid)) == 5
    with pytest.raises(NotFound) as err:
        svc.agent_records.events(admin, 10**9)
    assert (err.value.object_type, err.value.object_id) == ("computer", 10**9)


def test_a_computers_events_are_capped_keeping_the_newest(
    svc: Services, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "MAX_EVENTS_PER_COMPUTER", 3)
    a, b = Agent(svc, "ev-4"), Agent(svc, "ev-5")
    cid, other = a.hello().computer_id, b.hello().computer_id
    svc.polling.events(b.request(), [event("2026-01-01 00:00:00")])
    svc.polling.events(a.request(), [event(f"2026-03-01 0{h}:00:00") for h in (1, 2, 3)])
    assert len(svc.agent_records.events(admin, cid)) == 3  # exactly the cap: all kept
    svc.polling.events(a.request(), [event("2026-03-01 05:00:00"), event("2026-03-01 04:00:00")])
    assert [e.at.hour for e in svc.agent_records.events(admin, cid)] == [5, 4, 3]
    assert len(svc.agent_records.events(admin, other)) == 1  # another computer's stay


def test_old_events_are_purged_after_the_retention(svc: Services, admin: Actor, clock: ManualClock) -> None:
    agent = Agent(svc, "ev-6")
    cid = agent.hello().computer_id
    svc.polling.events(
        agent.request(),
        [event("2026-02-20 09:00:00"), event("2026-02-23 09:00:00"), event("2026-02-23 09:00:01")],
    )
    clock.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # default retention: 7 days
    assert svc.agent_records.purge_events() == 1
    assert [e.at for e in svc.agent_records.events(admin, cid)] == [
        datetime(2026, 2, 23, 9, 0, 1, tzinfo=UTC),
        datetime(2026, 2, 23, 9, 0, tzinfo=UTC),
    ]  # exactly seven days old: kept
    svc.settings.set(admin, "polling.event_retention_sec", 3600)
    assert svc.agent_records.purge_events() == 2
    assert svc.agent_records.events(admin, cid) == []
    assert svc.agent_records.purge_events() == 0


# ------------------------------------------------------------------ rotated passwords


def test_a_poll_asks_for_passwords_due_by_the_rules_of_the_computers_groups(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    a, b = Agent(svc, "pw-1"), Agent(svc, "pw-2")
    cid, other = a.hello().computer_id, b.hello().computer_id
    assert a.hello().password_requests == []  # no rules: nothing asked
    gid = factories.group(svc, admin, "rotated", [cid])
    parent = factories.group(svc, admin, "parent")
    svc.settings.set(
        admin,
        "polling.password_rotation_users",
        ["admin", f"{gid}|service", f"{parent}|nested", " admin ", f"{gid}| svc2 "],
    )
    svc.settings.set(admin, "polling.password_length", 20)
    svc.settings.set(admin, "polling.password_alphabet", "abc")
    asked = a.hello().password_requests
    assert [(p.username, p.alphabet, p.length, p.old_password) for p in asked] == [
        ("admin", "abc", 20, None),
        ("service", "abc", 20, None),
        ("svc2", "abc", 20, None),
    ]  # each name once, in the rules' order; a group rule only for the group's direct members
    assert [p.username for p in b.hello().password_requests] == ["admin"]
    assert other != cid

    key = a.key
    svc.polling.passwords(a.request(), [{"username": "admin", "password": encrypt(key, "first")}])
    assert [p.username for p in a.hello().password_requests] == ["service", "svc2"]
    clock.now = T0 + timedelta(days=30)  # exactly the rotation time: not yet due
    assert [p.username for p in a.hello().password_requests] == ["service", "svc2"]
    clock.now = T0 + timedelta(days=30, seconds=1)
    assert [p.username for p in a.hello().password_requests] == ["admin", "service", "svc2"]


def test_a_macos_agent_is_given_the_current_password_to_change_it(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    agent = Agent(svc, "mac-1")
    cid = agent.hello().computer_id
    svc.polling.inventory(agent.request(), m.Inventory(hostname="mac-1", os="macOS"))
    svc.settings.set(admin, "polling.password_rotation_users", ["admin"])
    [first] = agent.hello().password_requests
    assert first.old_password == ""  # none stored yet
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "older"}])
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "current"}])
    svc.settings.set(admin, "polling.password_rotation_sec", 3600)
    assert agent.hello().password_requests == []
    clock.now = T0 + timedelta(hours=2)
    [due] = agent.hello().password_requests
    assert (due.username, due.old_password) == ("admin", "current")
    assert svc.computers.get(admin, cid).summary.os == "macOS"


def test_rotated_passwords_are_stored_encrypted_kept_to_the_history_and_read_audited(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    agent = Agent(svc, "pw-3")
    cid = agent.hello().computer_id
    svc.settings.set(admin, "polling.password_rotation_users", ["admin", "backup"])
    svc.settings.set(admin, "polling.password_history", 1)
    key = agent.key
    mark = factories.audit_mark(svc)
    answer = svc.polling.passwords(
        agent.request(),
        [
            {"username": "admin", "password": encrypt(key, "pw-one")},
            {"username": "backup", "password": "plain-from-an-old-agent"},
            {"username": "stranger", "password": "no rule names it"},
            {"username": "", "password": "x"},
            {"username": "admin"},
            {"username": 5, "password": "x"},
        ],
    )
    assert (answer.computer_id, answer.stored) == (cid, True)
    [row] = audit_rows(svc, mark, "computer.password_rotated")
    assert (row.object_type, row.object_id, row.detail) == (
        "computer",
        str(cid),
        {"usernames": ["admin", "backup"]},
    )
    assert (row.username, row.via, row.source) == ("agent:pw-3", "agent", "10.1.2.3")
    assert "pw-one" not in json.dumps(row.detail)
    for n, text in enumerate(["pw-two", "pw-three"], start=1):
        clock.now = T0 + timedelta(minutes=n)
        svc.polling.passwords(agent.request(), [{"username": "admin", "password": encrypt(key, text)}])

    mark = factories.audit_mark(svc)
    got = svc.agent_records.passwords(admin, cid)
    # by user name, newest first; the history (1) besides the current one: pw-one is gone
    assert [(p.username, p.password, p.created_at) for p in got] == [
        ("admin", "pw-three", T0 + timedelta(minutes=2)),
        ("admin", "pw-two", T0 + timedelta(minutes=1)),
        ("backup", "plain-from-an-old-agent", T0),
    ]
    assert {p.computer_id for p in got} == {cid}
    [read] = audit_rows(svc, mark, "computer.passwords_read")
    assert (read.object_type, read.object_id, read.result, read.detail) == (
        "computer",
        str(cid),
        "ok",
        {"usernames": ["admin", "backup"], "count": 3},
    )

    operator = factories.user(svc, Role.OPERATOR)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.agent_records.passwords(operator, cid)
    [denied] = audit_rows(svc, mark, "computer.passwords_read")
    assert (denied.result, denied.object_id, denied.username) == ("denied", str(cid), operator.username)
    with pytest.raises(NotFound):
        svc.agent_records.passwords(admin, 10**9)

    # nothing kept: the answer says so and nothing is audited
    mark = factories.audit_mark(svc)
    assert svc.polling.passwords(agent.request(), [{"username": "stranger", "password": "x"}]).stored is False
    assert audit_rows(svc, mark, "computer.password_rotated") == []


def test_a_password_that_does_not_decrypt_is_refused_and_nothing_is_stored(
    svc: Services, admin: Actor
) -> None:
    agent = Agent(svc, "pw-4")
    cid = agent.hello().computer_id
    svc.settings.set(admin, "polling.password_rotation_users", ["admin"])
    good = encrypt(agent.key, "fine")
    bad_items: list[Any] = [
        encrypt("another agent's key", "secret"),
        {"iv": good["iv"]},
        {"iv": 5, "data": good["data"]},
        {"iv": "not base64!", "data": good["data"]},
        {"iv": base64.b64encode(b"short").decode(), "data": good["data"]},
        {"iv": good["iv"], "data": base64.b64encode(b"x" * 15).decode()},
        {"iv": good["iv"], "data": ""},
        {"iv": good["iv"], "data": "!" + good["data"]},  # not base64 (not skipped over)
        ["a list"],
    ]
    for item in bad_items:
        with pytest.raises(ValidationFailed) as err:
            svc.polling.passwords(
                agent.request(),
                [{"username": "admin", "password": good}, {"username": "admin", "password": item}],
            )
        assert (err.value.message, err.value.field) == ("Invalid password data", "password")
    with pytest.raises(ValidationFailed) as err:
        svc.polling.passwords(agent.request(), [{"username": "admin", "password": "p" * 1001}])
    assert err.value.field == "password"
    assert svc.agent_records.passwords(admin, cid) == []
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "p" * 1000}])
    assert [len(p.password) for p in svc.agent_records.passwords(admin, cid)] == [1000]


def test_decrypting_checks_the_padding_and_uses_the_keys_first_32_bytes() -> None:
    long_key = "k" * 32 + "ignored"
    assert decrypt_password(encrypt("k" * 32, "sixteen bytes!!!"), long_key) == "sixteen bytes!!!"
    assert decrypt_password(encrypt("short", "x"), "short") == "x"
    assert decrypt_password("plain", "any") == "plain"
    iv = os.urandom(16)
    key = b"k" * 32
    for block in (b"0123456789abcde\x00", b"0123456789abcde\x11", b"0123456789abc\x03\x02\x03"):
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        data = enc.update(block) + enc.finalize()
        item = {"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()}
        with pytest.raises(ValidationFailed, match="Invalid password data"):
            decrypt_password(item, "k" * 32)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    data = enc.update(b"\xff\xfe" + bytes([14]) * 14) + enc.finalize()
    with pytest.raises(ValidationFailed):  # not UTF-8
        decrypt_password(
            {"iv": base64.b64encode(iv).decode(), "data": base64.b64encode(data).decode()}, "k" * 32
        )


def test_a_password_the_agent_could_not_set_is_revoked_within_five_minutes(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    agent = Agent(svc, "pw-5")
    cid = agent.hello().computer_id
    svc.settings.set(admin, "polling.password_rotation_users", ["admin"])
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "kept"}])
    clock.now = T0 + timedelta(minutes=1)
    svc.polling.passwords(agent.request(), [{"username": "admin", "password": "failed"}])
    clock.now = T0 + timedelta(minutes=5, seconds=30)
    mark = factories.audit_mark(svc)
    answer = svc.polling.passwords(
        agent.request(),
        [
            {"username": "admin", "password": encrypt(agent.key, "failed"), "revoke": True},
            {"username": "admin", "password": "kept", "revoke": True},  # older than five minutes
            {"username": "admin", "password": "never stored", "revoke": True},
        ],
    )
    assert answer.stored is True
    [row] = audit_rows(svc, mark, "computer.password_revoked")
    assert (row.object_id, row.detail) == (str(cid), {"usernames": ["admin"]})
    assert audit_rows(svc, mark, "computer.password_rotated") == []
    assert [p.password for p in svc.agent_records.passwords(admin, cid)] == ["kept"]
    assert (
        svc.polling.passwords(
            agent.request(), [{"username": "admin", "password": "kept", "revoke": True}]
        ).stored
        is False
    )


# ------------------------------------------------------------------ the rest of the calls


def test_a_forced_inventory_is_asked_for_at_the_next_poll_until_it_arrives(
    svc: Services, admin: Actor
) -> None:
    agent = Agent(svc, "fi-1")
    cid = agent.hello().computer_id
    svc.polling.inventory(agent.request(), m.Inventory(hostname="fi-1"))
    assert agent.hello().inventory_due is False
    operator = factories.user(svc, Role.OPERATOR)
    mark = factories.audit_mark(svc)
    svc.agent_records.force_inventory(operator, cid)
    [row] = audit_rows(svc, mark, "computer.force_update")
    assert (row.object_type, row.object_id, row.result, row.username) == (
        "computer",
        str(cid),
        "ok",
        operator.username,
    )
    assert agent.hello().inventory_due is True
    assert agent.hello().inventory_due is True  # until the inventory comes
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.agent_records.force_inventory(viewer, cid)
    mark = factories.audit_mark(svc)
    with pytest.raises(NotFound):
        svc.agent_records.force_inventory(admin, 10**9)
    assert [r.result for r in audit_rows(svc, mark, "computer.force_update")] == ["not_found"]


def test_a_polling_computer_goes_offline_when_it_stops_calling(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    quiet, busy = Agent(svc, "off-1"), Agent(svc, "off-2")
    q, b = quiet.hello().computer_id, busy.hello().computer_id
    native = factories.computer(svc, admin, "native")
    assert svc.computers.get(admin, q).summary.online is True
    clock.now = T0 + timedelta(seconds=100)
    assert svc.polling.seen(busy.request()).computer_id == b
    clock.now = T0 + timedelta(seconds=125)  # exactly the default 125 s: still online
    assert svc.polling.mark_offline() == 0
    clock.now = T0 + timedelta(seconds=126)
    assert svc.polling.mark_offline() == 1
    assert [svc.computers.get(admin, c).summary.online for c in (q, b, native)] == [False, True, False]
    assert svc.polling.mark_offline() == 0  # already offline: not counted again
    svc.settings.set(admin, "polling.offline_after_sec", 10)
    assert svc.polling.mark_offline() == 1
    quiet.hello()
    assert svc.computers.get(admin, q).summary.online is True


def test_an_outdated_agent_is_refused_with_the_reason_and_audited(svc: Services, admin: Actor) -> None:
    agent = Agent(svc, "old-1")
    cid = agent.hello().computer_id
    for hostname, version, object_id in ((" OLD-1 ", "1.1.6", str(cid)), ("unknown-host", "", "")):
        mark = factories.audit_mark(svc)
        req = Agent(svc, hostname).request()
        with pytest.raises(AuthenticationFailed) as err:
            svc.polling.refuse_outdated(req, version)
        reason = (
            f"Agent version {version or 'unknown'} is older than 1.1.7 and authenticates with a"
            " plain-text key, which this server does not accept; update the agent"
        )
        assert err.value.message == reason
        [row] = audit_rows(svc, mark, "agent.authenticate")
        assert (row.object_type, row.object_id, row.result, row.source) == (
            "computer",
            object_id,
            "denied",
            "10.1.2.3",
        )
        assert row.detail == {"hostname": hostname.strip(), "reason": reason}


def test_a_poll_notes_the_battery_as_the_agent_reports_it(svc: Services, admin: Actor) -> None:
    agent = Agent(svc, "bat-1")
    cid = agent.hello(PollFacts(battery=True, battery_level=0.123456, battery_status=2)).computer_id
    detail = svc.computers.get(admin, cid)
    assert (detail.battery_level, detail.battery_status) == (0.1235, 2)
    agent.hello(PollFacts(battery=True, battery_level=1.5, battery_status=3))  # nonsense: none
    detail = svc.computers.get(admin, cid)
    assert (detail.battery_level, detail.battery_status) == (None, None)
    agent.hello(PollFacts(battery=True, battery_level=1.0, battery_status=1))
    agent.hello(PollFacts())  # a poll that says nothing about it leaves it
    detail = svc.computers.get(admin, cid)
    assert (detail.battery_level, detail.battery_status) == (1.0, 1)
    assert REG.enabled


def test_commands_queued_for_a_computer_a_polling_agent_takes_over_fail_and_are_audited(
    svc: Services, admin: Actor
) -> None:
    cid = factories.computer(svc, admin, "taken")
    jobs = factories.commands(svc, admin, [cid, cid], "whoami")
    mark = factories.audit_mark(svc)
    assert Agent(svc, "taken").hello().registered is True
    [row] = audit_rows(svc, mark, "job.incapable")
    assert (row.username, row.via, row.object_type, row.result) == ("system", "polling-agent", "job", "ok")
    assert row.detail == {"job_ids": sorted(jobs), "agent_kind": "polling"}
    for job in jobs:
        info = svc.jobs.get(admin, job)
        assert info.status.value == "failed"
        assert info.message == (
            f"computer {cid} (taken) is managed by a polling agent, which cannot run commands;"
            f" it can do: {', '.join(capabilities('polling'))}"
        )


def test_an_inventory_sent_too_soon_after_a_forced_one_is_refused_in_words(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    agent = Agent(svc, "soon")
    cid = agent.hello().computer_id
    svc.polling.inventory(agent.request(), m.Inventory(hostname="soon", os="Linux"))
    svc.agent_records.force_inventory(admin, cid)
    clock.now = T0 + timedelta(seconds=24)
    mark = factories.audit_mark(svc)
    answer = svc.polling.inventory(agent.request(), m.Inventory(hostname="soon", os="Windows"))
    assert (answer.computer_id, answer.accepted) == (cid, False)
    [row] = audit_rows(svc, mark, "computer.inventory")
    assert (row.result, row.object_id) == ("refused", str(cid))
    assert row.detail == {"reason": "sent 24 s after the last inventory, less than 25 s"}
    assert svc.computers.get(admin, cid).summary.os == "Linux"
    clock.now = T0 + timedelta(seconds=25)
    assert svc.polling.inventory(agent.request(), m.Inventory(hostname="soon", os="Windows")).accepted
    assert svc.computers.get(admin, cid).summary.os == "Windows"


def test_a_request_without_a_host_name_is_refused_in_words(svc: Services) -> None:
    with pytest.raises(ValidationFailed) as err:
        svc.polling.seen(Agent(svc, " ").request())
    assert (err.value.message, err.value.field) == ("hostname missing", "hostname")


def test_an_over_long_password_is_refused_as_invalid_password_data(svc: Services, admin: Actor) -> None:
    """A password longer than 1,000 characters (encrypted as the agent sends it) is refused in
    the words of one that does not decrypt (OCO's agent shows them), naming the field
    (store_passwords 39 garbled the text)."""
    agent = Agent(svc, "pw-long")
    cid = agent.hello().computer_id
    svc.settings.set(admin, "polling.password_rotation_users", ["admin"])
    with pytest.raises(ValidationFailed) as err:
        svc.polling.passwords(
            agent.request(), [{"username": "admin", "password": encrypt(agent.key, "p" * 1001)}]
        )
    assert (err.value.message, err.value.field) == ("Invalid password data", "password")
    assert svc.agent_records.passwords(admin, cid) == []
