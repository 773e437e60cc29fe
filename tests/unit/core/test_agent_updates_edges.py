"""Agent releases in core at their edges (``core.agentupdates``): the refusal texts and fields of
wheel checks, what is stored and audited, rollout times and targets, the agents told at once,
status rows with their limits. Written against the survivors of
`make mutation MODULE=core/agentupdates.py` (docs/testing.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import logging
import zipfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fleetdeck.app import Runtime
from fleetdeck.core.agentdist import build_agent_wheel
from fleetdeck.core.agentupdates import (
    MAX_RELEASE_BYTES,
    NOTIFY_TIMEOUT_SEC,
    AgentUpdateService,
    wheel_version,
)
from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import (
    AgentUnreachable,
    Conflict,
    FleetdeckError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from fleetdeck.core.ports import AgentAddress, NullGateway
from fleetdeck.core.secrets import SecretBox
from fleetdeck.protocol.messages import release_statement
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

AGENT = Actor(user_id=None, username="agent:a", role=Role.VIEWER, via="agent")


class Told(NullGateway):
    """The agent side of the port: records each ``update`` request, answers for some computers."""

    def __init__(self, answering: set[int] | None = None) -> None:
        self.calls: list[tuple[list[AgentAddress], str, dict[str, Any], float]] = []
        self.answering = answering

    def request_many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        self.calls.append((list(to), kind, dict(body), timeout))
        return {
            a.computer_id: (
                {} if self.answering is None or a.computer_id in self.answering else AgentUnreachable("x")
            )
            for a in to
        }


@pytest.fixture
def told() -> Told:
    return Told()


def _service(
    runtime: Runtime, clock: ManualClock, releases: Path | None, gateway: Any = None
) -> AgentUpdateService:
    return AgentUpdateService(
        runtime.db, AuditLog(runtime.db, clock), clock, SecretBox(SECRET), releases, gateway
    )


@pytest.fixture
def updates(runtime: Runtime, settings: Settings, clock: ManualClock, told: Told) -> AgentUpdateService:
    return _service(runtime, clock, settings.data_dir / "releases", told)


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return build_agent_wheel(tmp_path / "w", "2.0.1")


def _zip(**files: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name.replace("__", "/"), text)
    return buf.getvalue()


def _refusal(filename: str, data: bytes) -> tuple[str, str | None]:
    with pytest.raises(ValidationFailed) as info:
        wheel_version(filename, data)
    return str(info.value), info.value.field


def test_wheel_checks_say_what_is_wrong(wheel: Path) -> None:
    name = "fleetdeck_agent-1.2-py3-none-any.whl"
    meta = "fleetdeck_agent-1.2.dist-info__METADATA"
    main = "fleetdeck__agent__main.py"
    assert wheel_version(wheel.name, wheel.read_bytes()) == "2.0.1"
    assert wheel_version(name, _zip(**{meta: "Name: x\nVersion: 1.2\n", main: ""})) == "1.2"
    assert _refusal("agent.whl", b"") == (
        "an agent release is a fleetdeck_agent-VERSION-py3-none-any.whl wheel",
        "filename",
    )
    assert _refusal(name, _zip(**{main: ""})) == ("the wheel holds no fleetdeck agent", "file")
    assert _refusal(name, _zip(**{meta: "Version: 1.2"})) == ("the wheel holds no fleetdeck agent", "file")
    assert _refusal(name, _zip(**{meta: "Version: 1.2.1\n", main: ""})) == (
        "the wheel's METADATA names another version",
        "file",
    )
    text, field = _refusal(name, b"not a zip")
    assert text.startswith("not a wheel (ZIP): ") and field == "file"


def test_a_release_is_stored_signed_and_audited(
    updates: AgentUpdateService,
    admin: Actor,
    wheel: Path,
    settings: Settings,
    runtime: Runtime,
    clock: ManualClock,
) -> None:
    data = wheel.read_bytes()
    release = updates.publish(admin, wheel.name, data)
    stored = settings.data_dir / "releases" / wheel.name
    assert stored.read_bytes() == data
    assert sorted(p.name for p in stored.parent.iterdir()) == [wheel.name]  # no temporary file left
    assert (release.filename, release.created_by, release.created_at) == (wheel.name, "admin", T0)
    assert (release.rollout, release.group_id, release.rolled_out_at) == ("none", None, None)
    assert release.size == len(data) and len(release.sha256) == 64
    # another server process reads the same key from the database and its signatures verify
    other = _service(runtime, clock, settings.data_dir / "releases")
    assert other.public_key() == updates.public_key()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(other.public_key()))
    public.verify(base64.b64decode(release.signature), release_statement("2.0.1", release.sha256))
    [row] = [r for r in factories.audit_since(runtime.services, 0) if r.action == "agent_release.publish"]
    assert (row.object_type, row.object_id, row.result, row.username) == (
        "agent_release",
        "2.0.1",
        "ok",
        "admin",
    )
    assert row.detail == {"version": "2.0.1", "sha256": release.sha256, "size": len(data)}
    with pytest.raises(Conflict) as info:
        updates.publish(admin, wheel.name, data)
    assert str(info.value) == "agent release 2.0.1 exists already"
    assert [r.version for r in updates.releases(admin)] == ["2.0.1"]


def test_publishing_limits(
    runtime: Runtime, clock: ManualClock, admin: Actor, wheel: Path, updates: AgentUpdateService
) -> None:
    with pytest.raises(ValidationFailed) as info:
        _service(runtime, clock, None).publish(admin, wheel.name, wheel.read_bytes())
    assert str(info.value) == "this server has no directory for agent releases"
    with pytest.raises(ValidationFailed) as info:
        updates.publish(admin, wheel.name, b"x" * (MAX_RELEASE_BYTES + 1))
    assert (str(info.value), info.value.field) == (
        f"an agent release is at most {MAX_RELEASE_BYTES} bytes",
        "file",
    )
    with pytest.raises(ValidationFailed) as info:  # the limit itself passes the size check
        updates.publish(admin, wheel.name, b"x" * MAX_RELEASE_BYTES)
    assert str(info.value).startswith("not a wheel (ZIP): ")
    with pytest.raises(PermissionDenied):
        updates.public_key_for(Actor(user_id=None, username="e", role=Role.END_USER))
    assert updates.public_key_for(Actor(user_id=None, username="v", role=Role.VIEWER)) == updates.public_key()
    with pytest.raises(PermissionDenied):
        updates.releases(Actor(user_id=None, username="e", role=Role.END_USER))
    with pytest.raises(PermissionDenied):
        updates.statuses(Actor(user_id=None, username="e", role=Role.END_USER))


def test_rollout_refusals_times_and_audit(
    updates: AgentUpdateService, admin: Actor, wheel: Path, runtime: Runtime, clock: ManualClock
) -> None:
    svc = runtime.services
    updates.publish(admin, wheel.name, wheel.read_bytes())
    group = factories.group(svc, admin, "canary")
    for args, text, field in (
        (("2.0.1", "some"), "rollout is one of none, group, all", "rollout"),
        (("2.0.1", "group"), "a group rollout names a group_id, and only it does", "group_id"),
        (("2.0.1", "all", group), "a group rollout names a group_id, and only it does", "group_id"),
    ):
        with pytest.raises(ValidationFailed) as info:
            updates.rollout(admin, *args)
        assert (str(info.value), info.value.field) == (text, field)
    with pytest.raises(NotFound) as missing:
        updates.rollout(admin, "9.9", "all")
    assert str(missing.value) == "agent release 9.9 not found"
    with pytest.raises(NotFound) as missing:
        updates.rollout(admin, "2.0.1", "group", group + 1000)
    assert str(missing.value) == f"group {group + 1000} not found"
    pkg_group = factories.package_group(svc, admin, "pkgs")
    with pytest.raises(NotFound):
        updates.rollout(admin, "2.0.1", "group", pkg_group)
    clock.now = T0 + timedelta(minutes=3)
    got = updates.rollout(admin, "2.0.1", "group", group)
    assert (got.rollout, got.group_id, got.rolled_out_at) == ("group", group, clock.now)
    clock.now = T0 + timedelta(minutes=4)
    got = updates.rollout(admin, "2.0.1", "none")
    assert (got.rollout, got.group_id, got.rolled_out_at) == ("none", None, None)
    assert updates.releases(admin)[0].rolled_out_at is None
    rows = [
        r for r in factories.audit_since(svc, 0) if r.action == "agent_release.rollout" and r.result == "ok"
    ]
    assert [(r.object_id, r.detail) for r in rows] == [
        ("2.0.1", {"rollout": "group", "group_id": group}),
        ("2.0.1", {"rollout": "none", "group_id": None}),
    ]


def test_connected_agents_of_the_target_are_told_at_once(
    updates: AgentUpdateService, told: Told, admin: Actor, wheel: Path, runtime: Runtime, clock: ManualClock
) -> None:
    svc = runtime.services
    a = factories.computer(svc, admin, "a")
    b = factories.computer(svc, admin, "b")
    c = factories.computer(svc, admin, "c")  # offline: learns at its next Welcome
    for cid in (a, b):
        svc.computers.set_online(cid, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    group = factories.group(svc, admin, "canary", [a, c])
    release = updates.publish(admin, wheel.name, wheel.read_bytes())
    updates.rollout(admin, "2.0.1", "group", group)
    updates.rollout(admin, "2.0.1", "none")  # withdrawing tells nobody
    updates.rollout(admin, "2.0.1", "all")
    body = {
        "version": "2.0.1",
        "sha256": release.sha256,
        "size": release.size,
        "signature": release.signature,
    }
    assert [(sorted(x.computer_id for x in to), kind, sent, t) for to, kind, sent, t in told.calls] == [
        ([a], "update", body, NOTIFY_TIMEOUT_SEC),
        ([a, b], "update", body, NOTIFY_TIMEOUT_SEC),
    ]
    assert {x.node_id for x in told.calls[1][0]} == {"n1"}
    # nobody connected in the group: no request at all
    empty = factories.group(svc, admin, "empty", [c])
    told.calls.clear()
    updates.rollout(admin, "2.0.1", "group", empty)
    assert told.calls == []


def test_the_server_log_says_how_many_connected_agents_were_told(
    runtime: Runtime,
    settings: Settings,
    clock: ManualClock,
    admin: Actor,
    wheel: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rollout logs how many of the connected agents answered the ``update`` request (here
    one of two: the other is unreachable), so an admin can see it reached them."""
    svc = runtime.services
    a = factories.computer(svc, admin, "a")
    b = factories.computer(svc, admin, "b")
    for cid in (a, b):
        svc.computers.set_online(cid, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    updates = _service(runtime, clock, settings.data_dir / "releases", Told(answering={a}))
    updates.publish(admin, wheel.name, wheel.read_bytes())
    with caplog.at_level(logging.INFO, logger="fleetdeck.core.agentupdates"):
        updates.rollout(admin, "2.0.1", "all")
    assert [r.getMessage() for r in caplog.records if r.name == "fleetdeck.core.agentupdates"] == [
        "agent release 2.0.1: told 1 of 2 connected agents"
    ]


def test_the_most_recent_rollout_wins_and_only_its_file_is_given(
    updates: AgentUpdateService,
    admin: Actor,
    wheel: Path,
    runtime: Runtime,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    svc = runtime.services
    a = factories.computer(svc, admin, "a")
    first = updates.publish(admin, wheel.name, wheel.read_bytes())
    newer = build_agent_wheel(tmp_path / "n", "2.0.2")
    second = updates.publish(admin, newer.name, newer.read_bytes())
    assert updates.offer_for(a) is None
    with pytest.raises(PermissionDenied) as info:
        updates.file_for_agent(a, "2.0.1")
    assert str(info.value) == "agent release 2.0.1 is not rolled out to this computer"
    updates.rollout(admin, "2.0.2", "all")
    updates.rollout(admin, "2.0.1", "all")  # at the same moment: the later release row wins the tie
    offer = updates.offer_for(a)
    assert offer is not None
    assert (offer.version, offer.sha256, offer.size, offer.signature) == (
        second.version,
        second.sha256,
        second.size,
        second.signature,
    )
    clock.now = T0 + timedelta(seconds=1)
    updates.rollout(admin, "2.0.1", "all")  # rolled out again, later: it wins
    offer = updates.offer_for(a)
    assert offer is not None and offer.version == first.version and offer.sha256 == first.sha256
    path, sha = updates.file_for_agent(a, "2.0.1")
    assert path.read_bytes() == wheel.read_bytes() and sha == first.sha256
    with pytest.raises(PermissionDenied):
        updates.file_for_agent(a, "2.0.2")
    with pytest.raises(NotFound) as gone:
        _service(runtime, clock, None).file_for_agent(a, "2.0.1")
    assert str(gone.value) == "agent release 2.0.1 not found"


def test_update_reports_are_checked_kept_trimmed_and_audited(
    updates: AgentUpdateService, admin: Actor, runtime: Runtime, clock: ManualClock
) -> None:
    svc = runtime.services
    b = factories.computer(svc, admin, "b")
    a = factories.computer(svc, admin, "a")
    svc.computers.set_online(a, node_id="n1", remote_address="127.0.0.1", agent_version="1.9")
    with pytest.raises(ValidationFailed) as info:
        updates.record_status(AGENT, a, "2.0", "exploded", "", "1")
    assert (str(info.value), info.value.field) == ("unknown update state 'exploded'", "state")
    with pytest.raises(ValidationFailed) as info:
        updates.record_status(AGENT, a, "../2", "done", "", "1")
    assert (str(info.value), info.value.field) == ("invalid version", "version")
    updates.record_status(AGENT, a, "2.0", "failed", "e" * 3000, "r" * 60)
    clock.now = T0 + timedelta(minutes=1)
    updates.record_status(AGENT, b, "2.0", "done", "", "2.0")
    rows = updates.statuses(admin)
    assert [(r.computer_id, r.hostname) for r in rows] == sorted([(a, "a"), (b, "b")])
    got = {r.computer_id: r for r in rows}
    assert (got[a].agent_version, got[a].version, got[a].state, got[a].updated_at) == (
        "1.9",
        "2.0",
        "failed",
        T0,
    )
    assert got[a].error == "e" * 2000
    assert got[b].updated_at == clock.now and got[b].error == ""
    audit = [r for r in factories.audit_since(svc, 0) if r.action == "agent.update_report"]
    assert [(r.object_type, r.object_id, r.result) for r in audit[-2:]] == [
        ("computer", str(a), "ok"),
        ("computer", str(b), "ok"),
    ]
    assert audit[-2].detail == {"version": "2.0", "state": "failed", "error": "e" * 500}
    from fleetdeck.storage.tables import AgentUpdateStatus
    from fleetdeck.storage.uow import UnitOfWork

    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(AgentUpdateStatus, a)
        assert row is not None and row.running == "r" * 50


def test_publishing_the_servers_own_agent_and_refusals_are_audited_with_the_file(
    updates: AgentUpdateService, admin: Actor, wheel: Path, runtime: Runtime
) -> None:
    operator = Actor(user_id=None, username="op", role=Role.OPERATOR)
    for attempt in (
        lambda: updates.publish(operator, wheel.name, b""),
        lambda: updates.publish_built(operator),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    built = updates.publish_built(admin, "3.1.4")
    assert (built.version, built.filename) == ("3.1.4", "fleetdeck_agent-3.1.4-py3-none-any.whl")
    rows = [r for r in factories.audit_since(runtime.services, 0) if r.action == "agent_release.publish"]
    assert [(r.object_id, r.result, r.username) for r in rows] == [
        (wheel.name, "denied", "op"),
        ("", "denied", "op"),
        ("3.1.4", "ok", "admin"),
    ]
