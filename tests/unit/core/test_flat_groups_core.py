"""Core's flat groups (``core.groups.flat``) called directly: names and their refusals, keys,
moving computers between exclusive groups (out of the other one, never out of an ordinary
group), the membership hooks told of each change, and the audit rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, Reason, ValidationFailed
from fleetdeck.core.groups.flat import check_name
from fleetdeck.core.services import Services
from tests import factories
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")


def rows(svc: Services, mark: int) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)
    ]


def test_flat_group_names_are_checked_in_words() -> None:
    assert check_name("  Office  ") == "Office"
    assert check_name("x" * 100) == "x" * 100
    for name, message, reason in [
        (" ", "the group name is empty", Reason.NAME_EMPTY),
        ("x" * 101, "a group name has at most 100 characters and no control characters", Reason.INVALID),
        ("a\tb", "a group name has at most 100 characters and no control characters", Reason.INVALID),
        ("a\u200bb", "a group name has at most 100 characters and no control characters", Reason.INVALID),
        ("a\u2028b", "a group name has at most 100 characters and no control characters", Reason.INVALID),
    ]:
        with pytest.raises(ValidationFailed) as err:
            check_name(name)
        assert (err.value.message, err.value.detail) == (message, {"field": "group_name", "reason": reason})


def test_computers_move_between_flat_groups_and_stay_in_ordinary_ones(svc: Services, admin: Actor) -> None:
    pcs = {n: factories.computer(svc, ADMIN, n) for n in ("pc-1", "pc-2", "pc-3")}
    told: list[tuple[int, list[int]]] = []

    def hook(s: Session, group_id: int, computer_ids: list[int]) -> None:
        told.append((group_id, sorted(computer_ids)))

    svc.groups.membership_hooks.append(hook)
    plain = factories.group(svc, ADMIN, "plain", [pcs["pc-1"]])
    told.clear()
    mark = factories.audit_mark(svc)
    office = svc.flat_groups.create(admin, " Office ", ["pc-2", "pc-1", "pc-2"])
    info = svc.groups.get(admin, office)
    assert (info.name, info.key, info.kind, info.parent_id, info.created_at, info.member_count) == (
        "Office",
        "office",
        "computer",
        None,
        T0,
        2,
    )
    assert told == [(office, sorted([pcs["pc-1"], pcs["pc-2"]]))]
    home = svc.flat_groups.create(admin, "Home")
    assert svc.groups.member_ids([home]) == set()
    told.clear()
    assert svc.flat_groups.move(admin, "HOME", ["pc-1", "pc-3"]) == sorted([pcs["pc-1"], pcs["pc-3"]])
    assert sorted(told) == sorted([(office, [pcs["pc-1"]]), (home, sorted([pcs["pc-1"], pcs["pc-3"]]))])
    assert svc.groups.member_ids([office]) == {pcs["pc-2"]}
    assert svc.groups.member_ids([home]) == {pcs["pc-1"], pcs["pc-3"]}
    assert svc.groups.member_ids([plain]) == {pcs["pc-1"]}
    told.clear()
    assert svc.flat_groups.move(admin, "home", ["pc-1"]) == [pcs["pc-1"]]  # already there: no change
    assert told == []
    assert rows(svc, mark) == [
        (
            "group.create",
            "group",
            str(office),
            "ok",
            {"name": "Office", "exclusive": True, "moved": sorted([pcs["pc-1"], pcs["pc-2"]])},
        ),
        ("group.create", "group", str(home), "ok", {"name": "Home", "exclusive": True, "moved": []}),
        (
            "group.move_members",
            "group",
            str(home),
            "ok",
            {"name": "HOME", "moved": sorted([pcs["pc-1"], pcs["pc-3"]])},
        ),
        ("group.move_members", "group", str(home), "ok", {"name": "home", "moved": [pcs["pc-1"]]}),
    ]


def test_flat_group_refusals_and_keys(svc: Services, admin: Actor) -> None:
    factories.computer(svc, ADMIN, "pc-1")
    factories.group(svc, ADMIN, "Office")  # an ordinary root group holds the name
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as err:
        svc.flat_groups.create(admin, "office")
    assert (err.value.message, err.value.detail) == (
        "a group named 'office' exists",
        {"field": "group_name", "reason": Reason.NAME_EXISTS},
    )
    assert rows(svc, mark) == [
        ("group.create", "group", "", "conflict", {"error": "a group named 'office' exists"})
    ]
    # a sub-group's name is no clash, and keys get the next free number
    parent = factories.group(svc, ADMIN, "Parent")
    sub = svc.groups.create(ADMIN, "Flat", parent_id=parent).id
    first = svc.flat_groups.create(admin, "flat")
    second = svc.flat_groups.create(admin, "Flat!")
    third = svc.flat_groups.create(admin, "Flat?")
    keys = [svc.groups.get(admin, g).key for g in (sub, first, second, third)]
    assert keys == ["flat", "flat-2", "flat-3", "flat-4"]
    with pytest.raises(NotFound) as missing:
        svc.flat_groups.create(admin, "new", ["pc-9"])
    assert missing.value.message == "computer pc-9 not found"
    with pytest.raises(ValidationFailed) as none:
        svc.flat_groups.move(admin, "flat", [])
    assert (none.value.message, none.value.detail) == (
        "name the computers",
        {"field": "computer_names", "reason": Reason.REQUIRED_MISSING},
    )
    for name in ("Office", "Parent", "nothing"):  # not flat groups, or no group at all
        mark = factories.audit_mark(svc)
        with pytest.raises(NotFound) as nf:
            svc.flat_groups.move(admin, name, ["pc-1"])
        assert nf.value.message == f"group {name} not found"
        assert rows(svc, mark) == [
            ("group.move_members", "group", "", "not_found", {"error": f"group {name} not found"})
        ]
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.flat_groups.create(viewer, "v")
    with pytest.raises(PermissionDenied):
        svc.flat_groups.move(viewer, "flat", ["pc-1"])
