"""The audit log: every mutation recorded with its outcome, in the change's transaction or,
for failures, in one of its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.audit import AuditLog, AuditRecord
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import Conflict, FleetdeckError, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
ALICE = Actor(user_id=7, username="alice", role=Role.OPERATOR, source="10.0.0.1", via="opsi")


@pytest.fixture
def log(runtime: Runtime) -> AuditLog:
    return AuditLog(runtime.db, lambda: T0)


def records(log: AuditLog) -> list[AuditRecord]:
    return list(reversed(log.find(Actor(None, "a", Role.ADMIN), Query(limit=None)).items))


def test_a_successful_mutation_is_recorded_with_the_change(log: AuditLog, runtime: Runtime) -> None:
    with log.mutation(ALICE, "computer.create", "computer", perm=Perm.MANAGE_COMPUTERS) as m:
        row = Computer(uid="u1", hostname="pc", created_at=T0, created_by="alice")
        m.session.add(row)
        m.session.flush()
        m.object_id = str(row.id)
        m.detail = {"hostname": "pc"}
    (rec,) = records(log)
    assert (rec.user_id, rec.username, rec.source, rec.via) == (7, "alice", "10.0.0.1", "opsi")
    assert (rec.action, rec.object_type, rec.object_id, rec.result, rec.detail) == (
        "computer.create",
        "computer",
        str(row.id),
        "ok",
        {"hostname": "pc"},
    )
    assert rec.at.replace(tzinfo=UTC) == T0
    assert runtime.services.computers.exists([row.id]) == {row.id}


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (NotFound("computer", 5), "not_found"),
        (ValidationFailed("bad"), "invalid"),
        (Conflict("taken"), "conflict"),
        (PermissionDenied("no"), "denied"),
        (FleetdeckError("other"), "failed"),
    ],
)
def test_a_failed_mutation_is_rolled_back_and_recorded(
    log: AuditLog, runtime: Runtime, error: FleetdeckError, result: str
) -> None:
    def change_then_fail() -> None:
        with log.mutation(ALICE, "computer.create", "computer", 42) as m:
            m.session.add(Computer(uid="u1", hostname="pc", created_at=T0, created_by="alice"))
            m.session.flush()
            raise error

    with pytest.raises(type(error)):
        change_then_fail()
    (rec,) = records(log)
    assert (rec.result, rec.object_id, rec.detail) == (result, "42", {"error": error.message})
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.query(Computer).count() == 0


def test_unexpected_errors_are_recorded_by_type_and_the_id_set_so_far(log: AuditLog) -> None:
    def crash() -> None:
        with log.mutation(ALICE, "x.do", "thing", "orig") as m:
            m.object_id = "assigned"
            raise KeyError("secret detail")

    with pytest.raises(KeyError):
        crash()
    (rec,) = records(log)
    assert (rec.result, rec.object_id, rec.detail) == ("failed", "assigned", {"error": "KeyError"})


def test_a_refused_permission_never_opens_the_change(log: AuditLog) -> None:
    viewer = Actor(user_id=None, username="v", role=Role.VIEWER)
    body_ran = False
    with pytest.raises(PermissionDenied), log.mutation(viewer, "x.do", "thing", 3, perm=Perm.DEPLOY):
        body_ran = True
    assert not body_ran
    (rec,) = records(log)
    assert (rec.result, rec.object_id, rec.username) == ("denied", "3", "v")
    assert "lacks permission deploy" in rec.detail["error"]


def test_record_and_add(log: AuditLog, runtime: Runtime) -> None:
    log.record(ALICE, "user.login", "user", 7, "throttled", retry_after=3)
    log.record(ALICE, "user.logout")
    with UnitOfWork(runtime.db) as uow:
        log.add(uow.session, ALICE, "job.delivered", "job", "x" * 150, count=2)
    first, second, third = records(log)
    assert (first.action, first.object_type, first.object_id, first.result, first.detail) == (
        "user.login",
        "user",
        "7",
        "throttled",
        {"retry_after": 3},
    )
    assert (second.object_type, second.object_id, second.result, second.detail) == ("", "", "ok", {})
    assert (third.object_id, third.result, third.detail) == ("x" * 100, "ok", {"count": 2})


def test_find_needs_audit_permission_and_filters(log: AuditLog) -> None:
    for n in range(3):
        log.record(ALICE, f"a.{n}", "thing", n)
    admin = Actor(None, "a", Role.ADMIN)
    page = log.find(admin, Query())
    assert [r.action for r in page.items] == ["a.2", "a.1", "a.0"] and page.total == 3  # newest first
    page = log.find(admin, Query(where=(Cond("object_id", Op.EQ, "1"),)))
    assert [r.action for r in page.items] == ["a.1"] and page.total == 1
    page = log.find(admin, Query(sort=(SortKey("id"),), limit=1))
    assert [r.action for r in page.items] == ["a.0"] and page.total == 3
    with pytest.raises(PermissionDenied):
        log.find(ALICE, Query())
    assert log.find(Actor(None, "r", Role.ADMIN, read_only=True), Query()).total == 3


def test_caller_supplied_text_too_long_for_its_column_is_cut_not_lost(log: AuditLog) -> None:
    """A failed login's user name and a forwarded address are the caller's; PostgreSQL refuses a
    value longer than its column, which would lose the record of who tried."""
    stranger = Actor(user_id=None, username="u" * 400, role=Role.VIEWER, source="f" * 300, via="v" * 50)
    log.record(stranger, "user.login", "user", "x" * 200, result="denied")
    (rec,) = records(log)
    assert (rec.username, rec.source, rec.via, rec.object_id) == ("u" * 150, "f" * 64, "v" * 30, "x" * 100)
    assert (rec.action, rec.result) == ("user.login", "denied")
