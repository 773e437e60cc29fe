"""Agent releases in core: publishing checks, signing, staged rollout, status, authorisation."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.agentdist import build_agent_wheel
from fleetdeck.core.agentupdates import AgentUpdateService
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.secrets import SecretBox
from fleetdeck.protocol.messages import release_statement
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import AgentReleaseKeySecret, AuditEntry
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import SECRET
from tests.factories import ManualClock

OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)
VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)


@pytest.fixture
def updates(runtime: Runtime, settings: Settings, clock: ManualClock) -> AgentUpdateService:
    from fleetdeck.core.audit import AuditLog

    return AgentUpdateService(
        runtime.db, AuditLog(runtime.db, clock), clock, SecretBox(SECRET), settings.data_dir / "releases"
    )


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return build_agent_wheel(tmp_path / "w", "2.0.1")


def test_publish_signs_version_and_hash_with_the_key_agents_pin(
    updates: AgentUpdateService, admin: Actor, wheel: Path, runtime: Runtime
) -> None:
    release = updates.publish(admin, wheel.name, wheel.read_bytes())
    assert release.version == "2.0.1" and release.rollout == "none" and release.size == wheel.stat().st_size
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(updates.public_key()))
    public.verify(base64.b64decode(release.signature), release_statement("2.0.1", release.sha256))
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(AgentReleaseKeySecret, 1)
        assert row is not None and row.public_key == updates.public_key()
        assert "PRIVATE" not in row.private_key_enc and len(row.private_key_enc) > 60  # Fernet token
        actions = list(uow.session.scalars(select(AuditEntry.action)))
    assert "agent_release.publish" in actions
    with pytest.raises(Conflict):
        updates.publish(admin, wheel.name, wheel.read_bytes())


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("fleetdeck_agent-2.0.1-py3-none-any.whl", b"not a zip", "not a wheel"),
        ("agent.whl", b"", "fleetdeck_agent-VERSION"),
        ("fleetdeck_agent-../x-py3-none-any.whl", b"", "fleetdeck_agent-VERSION"),
    ],
)
def test_publish_refuses_what_is_no_agent_wheel(
    updates: AgentUpdateService, admin: Actor, name: str, data: bytes, match: str
) -> None:
    with pytest.raises(ValidationFailed, match=match):
        updates.publish(admin, name, data)


def test_a_wheel_renamed_to_another_version_is_refused(
    updates: AgentUpdateService, admin: Actor, wheel: Path
) -> None:
    with pytest.raises(ValidationFailed):
        updates.publish(admin, "fleetdeck_agent-3.0-py3-none-any.whl", wheel.read_bytes())


def test_only_admins_publish_and_roll_out(updates: AgentUpdateService, admin: Actor, wheel: Path) -> None:
    with pytest.raises(PermissionDenied):
        updates.publish(OPERATOR, wheel.name, wheel.read_bytes())
    updates.publish(admin, wheel.name, wheel.read_bytes())
    with pytest.raises(PermissionDenied):
        updates.rollout(OPERATOR, "2.0.1", "all")
    assert [r.version for r in updates.releases(VIEWER)] == ["2.0.1"]


def test_staged_rollout_reaches_the_group_then_everyone(
    updates: AgentUpdateService, admin: Actor, wheel: Path, runtime: Runtime, clock: ManualClock
) -> None:
    a = runtime.services.computers.create(admin, "a").id
    b = runtime.services.computers.create(admin, "b").id
    group = runtime.services.groups.create(admin, "canary").id
    runtime.services.groups.add_members(admin, group, [a])
    updates.publish(admin, wheel.name, wheel.read_bytes())
    assert updates.offer_for(a) is None
    with pytest.raises(NotFound):
        updates.rollout(admin, "2.0.1", "group", 999)
    with pytest.raises(ValidationFailed):
        updates.rollout(admin, "2.0.1", "group")
    updates.rollout(admin, "2.0.1", "group", group)
    offer = updates.offer_for(a)
    assert offer is not None and offer.version == "2.0.1"
    assert updates.offer_for(b) is None
    path, sha = updates.file_for_agent(a, "2.0.1")
    assert path.is_file() and sha == offer.sha256
    with pytest.raises(PermissionDenied):
        updates.file_for_agent(b, "2.0.1")
    updates.rollout(admin, "2.0.1", "all")
    assert updates.offer_for(b) is not None
    # a newer release rolled out to the group wins there only
    clock.now = clock.now.replace(hour=10)
    newer = build_agent_wheel(wheel.parent, "2.0.2")
    updates.publish(admin, newer.name, newer.read_bytes())
    updates.rollout(admin, "2.0.2", "group", group)
    assert [updates.offer_for(c).version for c in (a, b)] == ["2.0.2", "2.0.1"]  # type: ignore[union-attr]
    updates.rollout(admin, "2.0.2", "none")
    assert updates.offer_for(a).version == "2.0.1"  # type: ignore[union-attr]


def test_agent_reports_are_kept_per_computer(
    updates: AgentUpdateService, admin: Actor, runtime: Runtime
) -> None:
    cid = runtime.services.computers.create(admin, "a").id
    agent = Actor(user_id=None, username="agent:a", role=Role.VIEWER, via="agent")
    updates.record_status(agent, cid, "2.0.1", "downloading", "", "1.0")
    updates.record_status(agent, cid, "2.0.1", "failed", "signature does not verify", "1.0")
    [row] = updates.statuses(VIEWER)
    assert (row.computer_id, row.hostname, row.version, row.state) == (cid, "a", "2.0.1", "failed")
    assert row.error == "signature does not verify"
    with pytest.raises(ValidationFailed):
        updates.record_status(agent, cid, "2.0.1", "exploded", "", "1.0")
