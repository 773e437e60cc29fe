"""Core's decisions about terminals (``core.terminals``): the permission, the reach of user
groups (per-client access), the caps per user and per computer, and the audit rows of a
session's start and end. Real database, both backends; the relay and the agent are tested
end to end in tests/e2e/test_terminal_e2e.py."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from fleetdeck.core.terminals import TerminalService
from tests import factories

ADMIN = system_actor("test")


@pytest.fixture
def world(svc: Services, admin: Actor) -> tuple[Actor, Actor, Actor, dict[str, int]]:
    """Computers web-1, db-1; ``dev`` (operator in user group devs, which reaches web-*),
    ``plain`` (operator in no user group), ``viewer``."""
    ids = {name: factories.computer(svc, ADMIN, name, os="Linux") for name in ("web-1", "db-1")}
    svc.user_groups.put(ADMIN, "devs", {})
    made = svc.users.create(ADMIN, "dev", "dev-password-1", Role.OPERATOR, groups=["devs"])
    dev = Actor(user_id=made.id, username="dev", role=Role.OPERATOR)
    svc.rule_groups.create(ADMIN, "web", "", {"name": ["WEB-*"]}, ["devs"])
    return dev, factories.user(svc, Role.OPERATOR), factories.user(svc, Role.VIEWER), ids


def audit(svc: Services, action: str) -> list[tuple[str, str, str]]:
    rows = svc.audit.find(ADMIN, Query((Cond("action", Op.EQ, action),), limit=None)).items
    return [(r.username, r.object_id, r.result) for r in rows]


def test_who_may_open(svc: Services, world: tuple[Actor, Actor, Actor, dict[str, int]]) -> None:
    dev, plain, viewer, ids = world
    with pytest.raises(PermissionDenied):
        svc.terminals.open(viewer, ids["web-1"], cols=80, rows=24)
    with pytest.raises(PermissionDenied):
        svc.terminals.check(viewer, ids["web-1"])
    with pytest.raises(NotFound):  # per-client access: devs do not reach db-1
        svc.terminals.open(dev, ids["db-1"], cols=80, rows=24)
    with pytest.raises(NotFound):
        svc.terminals.check(dev, ids["db-1"])
    with pytest.raises(NotFound):
        svc.terminals.open(plain, 999_999, cols=80, rows=24)
    assert svc.terminals.check(dev, ids["web-1"]) == "web-1"
    grant = svc.terminals.open(dev, ids["web-1"], cols=80, rows=24)
    other = svc.terminals.open(plain, ids["db-1"], cols=80, rows=24)
    assert grant.hostname == "web-1" and grant.session_id != other.session_id
    assert sorted(audit(svc, "terminal.open")) == sorted(
        [
            (viewer.username, str(ids["web-1"]), "denied"),
            ("dev", str(ids["db-1"]), "not_found"),
            (plain.username, "999999", "not_found"),
            ("dev", str(ids["web-1"]), "ok"),
            (plain.username, str(ids["db-1"]), "ok"),
        ]
    )
    svc.terminals.close(dev, grant, exit_code=0, reason="exited", seconds=1.5, bytes_in=10, bytes_out=99)
    svc.terminals.close(dev, grant, exit_code=0, reason="exited", seconds=1.5, bytes_in=10, bytes_out=99)
    [row] = svc.audit.find(ADMIN, Query((Cond("action", Op.EQ, "terminal.close"),))).items
    assert row.detail == {
        "session": grant.session_id,
        "exit_code": 0,
        "reason": "exited",
        "seconds": 1.5,
        "bytes_in": 10,
        "bytes_out": 99,
    }
    assert svc.terminals.count() == 1


def test_caps(svc: Services, world: tuple[Actor, Actor, Actor, dict[str, int]]) -> None:
    dev, plain, _, ids = world
    terminals = TerminalService(svc.terminals._db, svc.audit, max_per_user=2, max_per_computer=3)
    grants = [terminals.open(dev, ids["web-1"], cols=80, rows=24) for _ in range(2)]
    with pytest.raises(Conflict, match="you have 2 terminals open"):
        terminals.open(dev, ids["web-1"], cols=80, rows=24)
    terminals.open(plain, ids["web-1"], cols=80, rows=24)
    with pytest.raises(Conflict, match="web-1 has 3 terminals open"):
        terminals.open(plain, ids["web-1"], cols=80, rows=24)
    terminals.close(dev, grants[0], exit_code=None, reason="closed", seconds=0, bytes_in=0, bytes_out=0)
    terminals.open(dev, ids["web-1"], cols=80, rows=24)  # a place is free again
    assert [r for r in audit(svc, "terminal.open") if r[2] == "conflict"] == [
        (plain.username, str(ids["web-1"]), "conflict"),
        ("dev", str(ids["web-1"]), "conflict"),
    ]
