"""Agents' credentials in core (``core/enrollment/agent_secrets.py``) and the CMDB entries of
groups and package families (``core/cmdb/owned.py``), asserting effects: who may manage
credentials, every limit, the hash at rest, verification, the audit rows; every value of the
rendered entries."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from fleetdeck.core.authz import CREDENTIALS_SCOPE, Actor, Role
from fleetdeck.core.cmdb.owned import APPLICATION, MEMBERS, VERSION, render_family, render_group
from fleetdeck.core.cmdb.values import Entry, ObjectRef
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import AgentSecret, PackageFamily
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost (hashes made here are quick)."""
    cheap = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)
    return build_services(runtime.db, SECRET, CoreConfig(argon2=cheap), clock=clock)


@pytest.fixture
def op(svc: Services) -> Actor:
    return factories.user(svc, Role.OPERATOR, "cred-op")


def test_a_credential_is_kept_hashed_and_verifies(svc: Services, runtime: Runtime, op: Actor) -> None:
    mark = factories.audit_mark(svc)
    svc.agent_secrets.create(op, "agent-1", "pass-word")
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.scalar(select(AgentSecret).where(AgentSecret.key == "agent-1"))
        assert row is not None
        assert row.password_hash.startswith("$argon2id$") and "pass-word" not in row.password_hash
        assert row.created_at.replace(tzinfo=None) == T0.replace(tzinfo=None)
    assert svc.agent_secrets.verify("agent-1", "pass-word") is True
    assert svc.agent_secrets.verify("agent-1", "pass-wordx") is False
    assert svc.agent_secrets.verify("agent-2", "pass-word") is False
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.username) for r in rows] == [
        ("agent_secret.create", "agent_secret", "agent-1", "ok", "cred-op")
    ]
    assert "pass-word" not in str(rows[0].detail)


def test_an_unknown_id_never_verifies_even_with_the_dummy_password(svc: Services) -> None:
    assert svc.agent_secrets.verify("nobody", "fleetdeck-timing-equaliser") is False


def test_get_find_and_their_permission(svc: Services, op: Actor, clock: ManualClock) -> None:
    for n, key in enumerate(("bbb", "aaa", "ccc")):
        clock.now = T0 + timedelta(minutes=n)
        svc.agent_secrets.create(op, key, "secret")
    got = svc.agent_secrets.get(op, "aaa")
    assert (got.key, got.created_at.replace(tzinfo=None)) == (
        "aaa",
        (T0 + timedelta(minutes=1)).replace(tzinfo=None),
    )
    with pytest.raises(NotFound, match="agent secret zzz not found"):
        svc.agent_secrets.get(op, "zzz")
    page = svc.agent_secrets.find(op, Query(sort=(SortKey.parse("id"),), limit=2))
    assert ([i.key for i in page.items], page.total) == (["aaa", "bbb"], 3)
    page = svc.agent_secrets.find(op, Query(sort=(SortKey.parse("-created_at"),)))
    assert [(i.key, i.created_at.replace(tzinfo=None)) for i in page.items] == [
        (key, (T0 + timedelta(minutes=n)).replace(tzinfo=None))
        for key, n in (("ccc", 2), ("aaa", 1), ("bbb", 0))
    ]
    page = svc.agent_secrets.find(op, Query(where=(Cond("id", Op.EQ, "ccc"),)))
    assert ([i.key for i in page.items], page.total) == (["ccc"], 1)
    viewer = factories.user(svc, Role.VIEWER)
    for act in (
        lambda: svc.agent_secrets.find(viewer, Query()),
        lambda: svc.agent_secrets.get(viewer, "aaa"),
        lambda: svc.agent_secrets.create(viewer, "ddd", "secret"),
        lambda: svc.agent_secrets.delete(viewer, "aaa"),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert svc.agent_secrets.find(op, Query()).total == 3
    # a read-only token scoped to credentials may manage them, and nothing else
    token = Actor(op.user_id, "cred-op", Role.OPERATOR, read_only=True, token_scope=CREDENTIALS_SCOPE)
    svc.agent_secrets.create(token, "ddd", "secret")
    assert svc.agent_secrets.find(token, Query()).total == 4


def test_a_duplicate_id_is_a_conflict(svc: Services, op: Actor) -> None:
    svc.agent_secrets.create(op, "dup", "first")
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict, match="agent secret 'dup' already exists") as err:
        svc.agent_secrets.create(op, "dup", "second")
    assert err.value.detail == {"reason": "exists"}
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("agent_secret.create", "conflict")
    ]
    assert svc.agent_secrets.verify("dup", "first") and not svc.agent_secrets.verify("dup", "second")


@pytest.mark.parametrize(
    ("key", "password", "field", "text"),
    [
        ("ab", "secret", "id", "id must be 3 to 255 characters"),
        ("a" * 256, "secret", "id", "id must be 3 to 255 characters"),
        ("ab\x00", "secret", "id", "id must be 3 to 255 characters"),
        ("abc", "pw", "password", "password must be 3 to 1024 characters"),
        ("abc", "p" * 1025, "password", "password must be 3 to 1024 characters"),
    ],
)
def test_limits(svc: Services, op: Actor, key: str, password: str, field: str, text: str) -> None:
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as err:
        svc.agent_secrets.create(op, key, password)
    assert (err.value.message, err.value.detail["field"]) == (text, field)
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("agent_secret.create", "invalid")
    ]
    assert svc.agent_secrets.find(op, Query()).total == 0


def test_limits_that_are_taken(svc: Services, op: Actor) -> None:
    for key, password in (("abc", "pqr"), ("a" * 255, "p" * 1024)):
        svc.agent_secrets.create(op, key, password)
        assert svc.agent_secrets.verify(key, password)


def test_delete(svc: Services, op: Actor) -> None:
    svc.agent_secrets.create(op, "gone", "secret")
    svc.agent_secrets.create(op, "kept", "secret")
    mark = factories.audit_mark(svc)
    svc.agent_secrets.delete(op, "gone", force=True)
    with pytest.raises(NotFound, match=r"^agent secret gone not found$"):
        svc.agent_secrets.delete(op, "gone")
    assert [i.key for i in svc.agent_secrets.find(op, Query()).items] == ["kept"]
    assert not svc.agent_secrets.verify("gone", "secret")
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail.get("force")) for r in rows] == [
        ("agent_secret.delete", "agent_secret", "gone", "ok", True),
        ("agent_secret.delete", "agent_secret", "gone", "not_found", None),
    ]
    svc.agent_secrets.delete(op, "kept")
    assert factories.audit_since(svc, mark)[-1].detail == {"force": False}


# ------------------------------------------------------------------ CMDB: groups and families


def test_a_groups_entries_are_its_members() -> None:
    members = [ObjectRef(7, "web-1", "SYS1", "C__OBJTYPE__CLIENT", "Client"), ObjectRef(None, "ghost")]
    assert render_group(3, members) == [
        Entry(7, 3, MEMBERS, 2, {"object": members[0], "object_type": "Client", "description": None}, True),
        Entry(0, 3, MEMBERS, 2, {"object": members[1], "object_type": "", "description": None}, True),
    ]
    assert render_group(3, []) == []


def test_a_familys_application_entry_and_version_entries() -> None:
    family = PackageFamily(notes="the notes")
    (app,) = render_family(APPLICATION, 9, family, [])
    assert app == Entry(
        9,
        9,
        APPLICATION,
        2,
        {
            "specification": None,
            "manufacturer": None,
            "installation": None,
            "registration_key": None,
            "install_path": None,
            "installation_count": None,
            "description": "the notes",
        },
        True,
    )
    assert render_family(APPLICATION, 9, PackageFamily(notes=""), [])[0].values["description"] is None
    packages = [
        SimpleNamespace(id=4, version="1.0", package_version="2", description="first"),
        SimpleNamespace(id=5, version="1.1", package_version="1", description=""),
    ]
    assert render_family(VERSION, 9, family, packages) == [
        Entry(
            4,
            9,
            VERSION,
            2,
            {"title": "1.0", "servicepack": None, "kernel": None, "patchlevel": "2", "description": "first"},
            True,
        ),
        Entry(
            5,
            9,
            VERSION,
            2,
            {"title": "1.1", "servicepack": None, "kernel": None, "patchlevel": "1", "description": None},
            True,
        ),
    ]


def test_a_refused_id_with_a_nul_is_audited_on_every_database(svc: Services, op: Actor) -> None:
    """Bug found here: the refusal's audit row kept the NUL in ``object_id``, which PostgreSQL
    refuses in text, so the refusal became a DataError (a 500) there instead of "invalid".
    The audit log now writes NUL as ``\\x00`` (``core/audit.py``), for every service."""
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed):
        svc.agent_secrets.create(op, "ab\x00cd", "secret")
    with pytest.raises(ValidationFailed):
        svc.rule_groups.create(op, "g\x00", "", {}, [])
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_id, r.result) for r in rows] == [
        ("agent_secret.create", "ab\\x00cd", "invalid"),
        ("rule_group.create", "g\\x00", "invalid"),
    ]
