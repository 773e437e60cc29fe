"""Computer groups through core: names, keys, the tree, members, and the membership hooks
deployment rules rely on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.groups.service import MAX_DEPTH, GroupService, slug
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.services import CoreConfig, Services, build_services
from tests.conftest import SECRET
from tests.factories import race

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")
VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def svc(runtime: Runtime) -> Services:
    return build_services(runtime.db, SECRET, CoreConfig(), clock=lambda: T0)


@pytest.fixture
def groups(svc: Services) -> GroupService:
    return svc.groups


def audit(svc: Services, action: str) -> list[tuple[str, str, dict[str, object]]]:
    page = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, action),)))
    return [(e.result, e.object_id, e.detail) for e in reversed(page.items)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Web Servers", "web-servers"),
        ("a/b\\c", "a-b-c"),
        ("--x..", "x"),
        ("ÄÖÜ", "group"),
        ("v1.2_b", "v1.2_b"),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_groups_are_created_with_free_keys(groups: GroupService, svc: Services) -> None:
    web = groups.create(OPERATOR, "  Web Servers ", description="nginx")
    assert (web.key, web.name, web.kind, web.parent_id, web.description, web.member_count) == (
        "web-servers",
        "Web Servers",
        "computer",
        None,
        "nginx",
        0,
    )
    assert web.created_at.replace(tzinfo=UTC) == T0
    sub = groups.create(ADMIN, "web servers", parent_id=web.id)  # same name elsewhere: next free key
    third = groups.create(ADMIN, "Web-Servers", parent_id=sub.id)
    assert (sub.key, third.key) == ("web-servers-2", "web-servers-3")
    assert groups.create(ADMIN, "y" * 255).key == "y" * 240
    assert groups.create(ADMIN, "Y" * 255, parent_id=web.id).key == "y" * 240 + "-2"
    assert audit(svc, "group.create")[1] == ("ok", str(sub.id), {"name": "web servers", "parent_id": web.id})
    given = groups.create(ADMIN, "Named", key="my.key_1")
    assert given.key == "my.key_1"
    with pytest.raises(Conflict) as err:
        groups.create(ADMIN, "Other", key="my.key_1")
    assert err.value.detail == {"field": "key"} and "'my.key_1'" in err.value.message
    for bad in ("", "Upper", "-x", "a b", "k" * 256):
        with pytest.raises(ValidationFailed) as verr:
            groups.create(ADMIN, "z", key=bad)
        assert verr.value.field == "key"
    assert groups.create(ADMIN, "longest key", key="k" * 255).key == "k" * 255
    for bad in ("", "  ", "n" * 256):
        with pytest.raises(ValidationFailed) as verr:
            groups.create(ADMIN, bad)
        assert verr.value.field == "name"
    with pytest.raises(PermissionDenied):
        groups.create(VIEWER, "nope")


def test_names_are_unique_per_parent_and_kind(groups: GroupService) -> None:
    top = groups.create(ADMIN, "Top")
    groups.create(ADMIN, "Office", parent_id=top.id)
    with pytest.raises(Conflict) as err:
        groups.create(ADMIN, "OFFICE", parent_id=top.id)
    assert err.value.detail == {"field": "name"}
    with pytest.raises(Conflict):
        groups.create(ADMIN, "top")
    groups.create(ADMIN, "Office")  # at the root: another place
    groups.create(ADMIN, "Top", kind="package")  # another kind of group
    with pytest.raises(NotFound):
        groups.create(ADMIN, "x", parent_id=top.id, kind="package")  # a parent of another kind
    with pytest.raises(NotFound) as missing:
        groups.create(ADMIN, "x", parent_id=4242)
    assert missing.value.object_id == 4242


def test_concurrent_creates_of_one_name_make_one_group(groups: GroupService, svc: Services) -> None:
    """Six creates of one root name at once (where the unique constraint does not hold, the
    parent being NULL) and of one name below a parent: one group each, the others a conflict on
    ``name``, never two groups or a database error (on PostgreSQL the name check is serialised;
    without it the transactions all found the name free)."""
    top = groups.create(ADMIN, "Top")
    for parent_id in (None, top.id):
        results = race(6, lambda i, p=parent_id: groups.create(ADMIN, "Lab" if i % 2 else "LAB", parent_id=p))
        made = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(made) == 1, results
        assert all(isinstance(r, Conflict) and r.detail == {"field": "name"} for r in refused), refused
    page = groups.find(ADMIN, Query(where=(Cond("name", Op.EQ, "Lab"),), limit=None)).items
    page += groups.find(ADMIN, Query(where=(Cond("name", Op.EQ, "LAB"),), limit=None)).items
    assert sorted((g.parent_id or 0) for g in page) == [0, top.id]


def test_find_get_and_counts(groups: GroupService, svc: Services) -> None:
    pcs = [svc.computers.create(ADMIN, f"pc{i}").id for i in range(3)]
    a = groups.create(ADMIN, "a")
    b = groups.create(ADMIN, "b")
    groups.create(ADMIN, "p", kind="package")
    groups.add_members(ADMIN, a.id, pcs)
    groups.add_members(ADMIN, b.id, pcs[:1])
    page = groups.find(VIEWER, Query(sort=(SortKey("name"),)))
    assert [(g.name, g.member_count) for g in page.items] == [("a", 3), ("b", 1)] and page.total == 2
    assert [g.name for g in groups.find(VIEWER, Query(), kind="package").items] == ["p"]
    page = groups.find(VIEWER, Query(where=(Cond("name", Op.EQ, "b"),)))
    assert page.total == 1 and page.items[0].key == "b"
    assert groups.get(VIEWER, a.id).member_count == 3
    info = groups.get(VIEWER, b.id)
    assert (info.id, info.key, info.name, info.kind, info.parent_id, info.description) == (
        b.id,
        "b",
        "b",
        "computer",
        None,
        "",
    )
    with pytest.raises(NotFound) as err:
        groups.get(VIEWER, 4242)
    assert (err.value.object_type, err.value.object_id) == ("group", 4242)


def test_update_renames_describes_and_moves(groups: GroupService, svc: Services) -> None:
    a = groups.create(ADMIN, "A")
    b = groups.create(ADMIN, "B", description="keep")
    c = groups.create(ADMIN, "C", parent_id=a.id)
    assert groups.update(OPERATOR, b.id, name=" BB ").name == "BB"
    assert groups.get(ADMIN, b.id).description == "keep"
    assert groups.update(ADMIN, b.id, description="new").description == "new"
    assert audit(svc, "group.update")[0] == ("ok", str(b.id), {"name": ["B", "BB"]})
    assert groups.update(ADMIN, c.id, parent_id=b.id).parent_id == a.id  # no move without move=True
    moved = groups.update(ADMIN, c.id, parent_id=b.id, move=True)
    assert moved.parent_id == b.id
    assert audit(svc, "group.update")[-1][2] == {"parent_id": [a.id, b.id]}
    assert groups.update(ADMIN, c.id, move=True).parent_id is None
    assert groups.update(ADMIN, a.id, name="a").name == "a"  # its own name in another case
    with pytest.raises(Conflict):
        groups.update(ADMIN, a.id, name="bb")
    groups.create(ADMIN, "C", parent_id=b.id)
    with pytest.raises(Conflict):
        groups.update(ADMIN, c.id, parent_id=b.id, move=True)  # b already has a "C"
    with pytest.raises(ValidationFailed) as err:
        groups.update(ADMIN, a.id, parent_id=a.id, move=True)
    assert err.value.field == "parent_id" and "below itself" in err.value.message
    groups.update(ADMIN, c.id, parent_id=a.id, move=True)
    with pytest.raises(ValidationFailed):
        groups.update(ADMIN, a.id, parent_id=c.id, move=True)
    with pytest.raises(NotFound) as unknown:
        groups.update(ADMIN, a.id, parent_id=4242, move=True)
    assert (unknown.value.message, unknown.value.object_type) == ("group 4242 not found", "group")
    package_group = groups.create(ADMIN, "pg", kind="package")
    with pytest.raises(NotFound) as other_kind:  # a group of another kind is no parent
        groups.update(ADMIN, a.id, parent_id=package_group.id, move=True)
    assert other_kind.value.message == f"group {package_group.id} not found"
    for bad in ("", " ", "n" * 256):
        with pytest.raises(ValidationFailed) as err:
            groups.update(ADMIN, a.id, name=bad)
        assert err.value.field == "name"
    with pytest.raises(NotFound):
        groups.update(ADMIN, 4242, name="x")
    with pytest.raises(PermissionDenied):
        groups.update(VIEWER, a.id, name="x")


def test_trees_are_bounded_in_depth(groups: GroupService) -> None:
    chain = [groups.create(ADMIN, "g0")]
    for n in range(1, MAX_DEPTH + 1):
        chain.append(groups.create(ADMIN, f"g{n}", parent_id=chain[-1].id))
    loose = groups.create(ADMIN, "loose")
    with pytest.raises(ValidationFailed) as err:
        groups.update(ADMIN, loose.id, parent_id=chain[MAX_DEPTH].id, move=True)
    assert err.value.field == "parent_id" and "too deep" in err.value.message
    deepest = chain[MAX_DEPTH - 1].id
    assert groups.update(ADMIN, loose.id, parent_id=deepest, move=True).parent_id == deepest


def test_delete(groups: GroupService, svc: Services) -> None:
    top = groups.create(ADMIN, "Top")
    sub = groups.create(ADMIN, "Sub", parent_id=top.id)
    with pytest.raises(Conflict) as err:
        groups.delete(ADMIN, top.id)
    assert "subgroups" in err.value.message
    with pytest.raises(PermissionDenied):
        groups.delete(VIEWER, sub.id)
    groups.delete(ADMIN, sub.id)
    groups.delete(ADMIN, top.id)
    assert groups.find(ADMIN, Query()).total == 0
    assert audit(svc, "group.delete")[-1] == ("ok", str(top.id), {"name": "Top"})
    with pytest.raises(NotFound):
        groups.delete(ADMIN, top.id)


def test_members_are_added_once_removed_and_announced(groups: GroupService, svc: Services) -> None:
    calls: list[tuple[int, list[int]]] = []

    def hook(s: Session, group_id: int, computer_ids: Sequence[int]) -> None:
        assert s.in_transaction()
        calls.append((group_id, list(computer_ids)))

    groups.membership_hooks.append(hook)
    pcs = [svc.computers.create(ADMIN, f"pc{i}").id for i in range(3)]
    g = groups.create(ADMIN, "g")
    assert groups.add_members(OPERATOR, g.id, [pcs[2], pcs[0], pcs[0]]) == [pcs[0], pcs[2]]
    assert groups.add_members(ADMIN, g.id, pcs) == [pcs[1]]
    assert groups.add_members(ADMIN, g.id, pcs) == []  # nothing new: no hook call
    assert calls == [(g.id, [pcs[0], pcs[2]]), (g.id, [pcs[1]])]
    assert groups.members(VIEWER, g.id) == pcs
    assert audit(svc, "group.add_members")[0] == ("ok", str(g.id), {"added": [pcs[0], pcs[2]]})
    assert groups.member_ids([g.id]) == set(pcs)
    groups.remove_members(ADMIN, g.id, [pcs[1], pcs[1], 4242])
    assert groups.members(VIEWER, g.id) == [pcs[0], pcs[2]]
    assert calls[-1] == (g.id, [pcs[1], 4242])
    assert audit(svc, "group.remove_members")[0] == ("ok", str(g.id), {"removed": [pcs[1], 4242]})
    other = groups.create(ADMIN, "other")
    groups.add_members(ADMIN, other.id, [pcs[1]])
    assert groups.member_ids([g.id, other.id, g.id]) == set(pcs)
    assert groups.member_ids([]) == set()


def test_members_of_unknown_groups_and_computers(groups: GroupService, svc: Services) -> None:
    pc = svc.computers.create(ADMIN, "pc").id
    g = groups.create(ADMIN, "g")
    package_group = groups.create(ADMIN, "pg", kind="package")
    with pytest.raises(NotFound) as err:
        groups.add_members(ADMIN, g.id, [pc, 4243, 4242])
    assert (err.value.object_type, err.value.object_id) == ("computer", 4242)
    assert groups.members(ADMIN, g.id) == []  # nothing was added
    for gid in (4242, package_group.id):
        with pytest.raises(NotFound) as err:
            groups.add_members(ADMIN, gid, [pc])
        assert err.value.object_type == "group"
    with pytest.raises(NotFound):
        groups.remove_members(ADMIN, 4242, [pc])
    with pytest.raises(NotFound):
        groups.members(ADMIN, 4242)
    with pytest.raises(NotFound) as err:
        groups.member_ids([g.id, 4242])
    assert err.value.object_id == 4242
    with pytest.raises(PermissionDenied):
        groups.add_members(VIEWER, g.id, [pc])
    with pytest.raises(PermissionDenied):
        groups.remove_members(VIEWER, g.id, [pc])
