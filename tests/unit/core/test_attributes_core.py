"""Tags, labels and direct access of computers in core (``core/computers/attributes.py``),
asserting effects: replacement, cleaning and limits, permissions and per-client reach, audit
rows, the tag list with its members and paging, and the list of described computers with their
rule groups (also filtered on them). Real database, both backends."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.computers.attributes import Attributes, load
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import AllOf, AnyOf, Cond, Op, Query, SortKey
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock

ADMIN = system_actor("test")


def uid_of(svc: Services, cid: int) -> str:
    return svc.computers.get(ADMIN, cid).summary.uid


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost (hashes made here are quick)."""
    cheap = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)
    return build_services(runtime.db, SECRET, CoreConfig(argon2=cheap), clock=clock)


@pytest.fixture
def world(svc: Services, admin: Actor) -> tuple[Actor, dict[str, str]]:
    """web-1, web-2, db-1 (uids by hostname) and ``dev``, an operator in user group devs,
    whose rule group ``web`` reaches web-*."""
    uids = {n: uid_of(svc, factories.computer(svc, ADMIN, n, os="Linux")) for n in ("web-1", "web-2", "db-1")}
    svc.user_groups.put(ADMIN, "devs", {})
    made = svc.users.create(ADMIN, "dev", "dev-password-1", Role.OPERATOR, groups=["devs"])
    svc.rule_groups.create(ADMIN, "web", "", {"name": ["web-*"]}, ["devs"])
    return Actor(user_id=made.id, username="dev", role=Role.OPERATOR), uids


def test_put_replaces_tags_and_labels_and_audits(svc: Services, world: tuple[Actor, dict[str, str]]) -> None:
    _, uids = world
    uid = uids["web-1"]
    assert svc.attributes.get(ADMIN, uid) == Attributes()
    mark = factories.audit_mark(svc)
    got = svc.attributes.put(ADMIN, uid, [" b ", "a", "", "b", "  "], {" role ": "web", " ": "x", "env": ""})
    assert got == Attributes(("a", "b"), {"env": "", "role": "web"})
    assert svc.attributes.get(ADMIN, uid) == Attributes(("a", "b"), {"env": "", "role": "web"})
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in rows] == [
        (
            "computer.attributes",
            "computer",
            uid,
            "ok",
            {"tags": ["b", "a"], "labels": {"role": "web", "env": ""}},
        )
    ]
    svc.attributes.allow(ADMIN, uid, ["devs"])
    assert svc.attributes.put(ADMIN, uid, ["c"], {}) == Attributes(("c",), {})
    assert svc.attributes.get(ADMIN, uid) == Attributes(("c",), {}, ("devs",))  # access kept
    svc.attributes.put(ADMIN, uid, [], {})
    assert svc.attributes.get(ADMIN, uid) == Attributes((), {}, ("devs",))
    assert svc.attributes.get(ADMIN, uids["web-2"]) == Attributes()  # others untouched


@pytest.mark.parametrize(
    ("tags", "labels", "field", "text"),
    [
        ([f"t{i}" for i in range(101)], {}, "tags", "at most 100 tags and 100 labels"),
        ([], {f"k{i}": "v" for i in range(101)}, "tags", "at most 100 tags and 100 labels"),
        (["t" * 256], {}, "tags", "a tag or label name is at most 255 characters"),
        (["a\x00"], {}, "tags", "a tag or label name is at most 255"),
        ([], {"k" * 256: "v"}, "tags", "a tag or label name is at most 255"),
        ([], {"k\x00": "v"}, "tags", "a tag or label name is at most 255"),
        ([], {"k": "v" * 1025}, "labels", "a label value is at most 1024 characters"),
        ([], {"k": "\x00"}, "labels", "a label value is at most 1024"),
    ],
)
def test_limits(
    svc: Services,
    world: tuple[Actor, dict[str, str]],
    tags: list[str],
    labels: dict[str, str],
    field: str,
    text: str,
) -> None:
    _, uids = world
    svc.attributes.put(ADMIN, uids["web-1"], ["kept"], {"kept": "1"})
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as err:
        svc.attributes.put(ADMIN, uids["web-1"], tags, labels)
    assert err.value.message.startswith(text) and err.value.detail["field"] == field
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("computer.attributes", "invalid")
    ]
    assert svc.attributes.get(ADMIN, uids["web-1"]) == Attributes(("kept",), {"kept": "1"})


def test_limits_that_are_taken(svc: Services, world: tuple[Actor, dict[str, str]]) -> None:
    _, uids = world
    tags = [f"{i:03d}" + "t" * 252 for i in range(100)]
    labels = {f"{i:03d}" + "k" * 252: "v" * 1024 for i in range(100)}
    got = svc.attributes.put(ADMIN, uids["web-1"], [*tags, tags[0], " "], labels)
    assert len(got.tags) == 100 and len(got.labels) == 100


def test_who_may_read_and_change_attributes(svc: Services, world: tuple[Actor, dict[str, str]]) -> None:
    dev, uids = world
    viewer = factories.user(svc, Role.VIEWER)
    svc.attributes.put(ADMIN, uids["db-1"], ["secret"], {})
    assert svc.attributes.get(viewer, uids["db-1"]).tags == ("secret",)
    with pytest.raises(PermissionDenied):
        svc.attributes.put(viewer, uids["db-1"], ["x"], {})
    with pytest.raises(NotFound, match=f"computer {uids['db-1']} not found"):
        svc.attributes.get(dev, uids["db-1"])  # not reached: not said to exist
    mark = factories.audit_mark(svc)
    with pytest.raises(NotFound):
        svc.attributes.put(dev, uids["db-1"], ["x"], {})
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("computer.attributes", "not_found")
    ]
    with pytest.raises(NotFound):
        svc.attributes.get(ADMIN, "no-such-uid")
    assert svc.attributes.get(ADMIN, uids["db-1"]).tags == ("secret",)
    assert svc.attributes.put(dev, uids["web-1"], ["mine"], {}).tags == ("mine",)
    assert svc.attributes.get(dev, uids["web-1"]).tags == ("mine",)
    # only user managers say who may reach a computer
    with pytest.raises(PermissionDenied):
        svc.attributes.allow(dev, uids["web-1"], ["devs"])


def test_allow_replaces_the_user_groups_that_reach_a_computer(
    svc: Services, world: tuple[Actor, dict[str, str]]
) -> None:
    dev, uids = world
    svc.user_groups.put(ADMIN, "ops", {})
    uid = uids["db-1"]
    mark = factories.audit_mark(svc)
    svc.attributes.allow(ADMIN, uid, [" devs ", "ops", "devs", ""])
    assert svc.attributes.get(ADMIN, uid).access == ("devs", "ops")
    assert svc.attributes.get(dev, uid).access == ("devs", "ops")  # now reached
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in rows] == [
        ("computer.access", "computer", uid, "ok", {"allowed_user_groups": ["devs", "ops"]})
    ]
    with pytest.raises(NotFound, match="user group nope, nix not found"):
        svc.attributes.allow(ADMIN, uid, ["ops", "nope", "nix"])
    assert svc.attributes.get(ADMIN, uid).access == ("devs", "ops")
    svc.attributes.allow(ADMIN, uid, ["ops"])
    assert svc.attributes.get(ADMIN, uid).access == ("ops",)
    with pytest.raises(NotFound):
        svc.attributes.get(dev, uid)
    svc.attributes.allow(ADMIN, uid, [])
    assert svc.attributes.get(ADMIN, uid) == Attributes()


def test_a_group_known_only_by_its_members_may_be_allowed(
    svc: Services, world: tuple[Actor, dict[str, str]], runtime: Runtime
) -> None:
    from fleetdeck.storage.tables import UserGroup

    _, uids = world
    with UnitOfWork(runtime.db) as uow:  # a membership whose group row is missing (legacy data)
        row = uow.session.query(UserGroup).filter(UserGroup.name == "devs").one()
        uow.session.delete(row)
    svc.attributes.allow(ADMIN, uids["db-1"], ["devs"])
    assert svc.attributes.get(ADMIN, uids["db-1"]).access == ("devs",)


def test_load_reads_many_computers_at_once(
    svc: Services, world: tuple[Actor, dict[str, str]], runtime: Runtime
) -> None:
    _, uids = world
    computers = {c.hostname: c.id for c in svc.computers.find(ADMIN, Query()).items}
    svc.attributes.put(ADMIN, uids["web-1"], ["z", "a"], {"k2": "2", "k1": "1"})
    svc.attributes.put(ADMIN, uids["db-1"], [], {"only": "label"})
    svc.attributes.allow(ADMIN, uids["web-2"], ["devs"])
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert load(uow.session, []) == {}
        got = load(uow.session, list(computers.values()))
    assert got == {
        computers["web-1"]: Attributes(("a", "z"), {"k1": "1", "k2": "2"}),
        computers["db-1"]: Attributes((), {"only": "label"}),
        computers["web-2"]: Attributes((), {}, ("devs",)),
    }


def test_tags_in_use_with_their_computers(svc: Services, world: tuple[Actor, dict[str, str]]) -> None:
    dev, uids = world
    svc.attributes.put(ADMIN, uids["web-1"], ["prod", "web"], {"label": "x"})
    svc.attributes.put(ADMIN, uids["web-2"], ["web"], {})
    svc.attributes.put(ADMIN, uids["db-1"], ["db", "prod"], {})
    svc.attributes.allow(ADMIN, uids["db-1"], ["devs"])
    svc.attributes.allow(ADMIN, uids["db-1"], [])
    everything = svc.attributes.tags(ADMIN, 10)
    assert everything.total == 3
    assert everything.items == [
        ("db", (uids["db-1"],)),
        ("prod", tuple(sorted((uids["web-1"], uids["db-1"])))),
        ("web", tuple(sorted((uids["web-1"], uids["web-2"])))),
    ]
    page = svc.attributes.tags(ADMIN, 1, 1)
    assert (page.items, page.total) == ([("prod", tuple(sorted((uids["web-1"], uids["db-1"]))))], 3)
    assert svc.attributes.tags(ADMIN, 10, 3).items == []
    mine = svc.attributes.tags(dev, 10)  # db-1 is out of dev's reach
    assert (mine.items, mine.total) == (
        [("prod", (uids["web-1"],)), ("web", tuple(sorted(uids[n] for n in ("web-1", "web-2"))))],
        2,
    )


def test_described_computers_with_their_attributes_and_rule_groups(
    svc: Services, world: tuple[Actor, dict[str, str]]
) -> None:
    dev, uids = world
    svc.rule_groups.create(ADMIN, "all", "", {"name": ["*"]}, [])
    svc.rule_groups.create(ADMIN, "dbs", "", {"name": ["db-*"]}, [])
    svc.attributes.put(ADMIN, uids["web-1"], ["t"], {"k": "v"})
    page = svc.attributes.find_described(ADMIN, Query(sort=(SortKey.parse("hostname"),)))
    assert page.total == 3
    assert [(d.row.hostname, d.attributes, d.groups) for d in page.items] == [
        ("db-1", Attributes(), ("all", "dbs")),
        ("web-1", Attributes(("t",), {"k": "v"}), ("all", "web")),
        ("web-2", Attributes(), ("all", "web")),
    ]
    mine = svc.attributes.find_described(dev, Query())
    assert ({d.row.hostname for d in mine.items}, mine.total) == ({"web-1", "web-2"}, 2)

    def hosts(*where: Cond | AnyOf | AllOf) -> list[str]:
        found = svc.attributes.find_described(ADMIN, Query(where=where, sort=(SortKey.parse("hostname"),)))
        assert found.total == len(found.items)
        return [d.row.hostname for d in found.items]

    assert hosts(Cond("rule_groups", Op.EQ, "dbs")) == ["db-1"]
    assert hosts(Cond("rule_groups", Op.IN, ["dbs", "web"])) == ["db-1", "web-1", "web-2"]
    assert hosts(Cond("rule_groups", Op.EQ, "nope")) == []
    assert hosts(Cond("rule_groups", Op.EQ, "web"), Cond("hostname", Op.EQ, "web-2")) == ["web-2"]
    assert hosts(AnyOf((Cond("rule_groups", Op.EQ, "dbs"), Cond("hostname", Op.EQ, "web-1")))) == [
        "db-1",
        "web-1",
    ]
    assert hosts(AllOf((Cond("rule_groups", Op.EQ, "all"), Cond("rule_groups", Op.EQ, "web")))) == [
        "web-1",
        "web-2",
    ]
    assert hosts(Cond("rule_groups", Op.IS_NULL, False)) == ["db-1", "web-1", "web-2"]
    svc.rule_groups.delete(ADMIN, "all")
    svc.rule_groups.delete(ADMIN, "dbs")
    for yes in (True, None, "true", "1"):
        assert hosts(Cond("rule_groups", Op.IS_NULL, yes)) == ["db-1"]  # in no group
    assert hosts(Cond("rule_groups", Op.IS_NULL, False)) == ["web-1", "web-2"]
    svc.rule_groups.delete(ADMIN, "web")
    assert hosts(Cond("rule_groups", Op.IS_NULL, True)) == ["db-1", "web-1", "web-2"]
    assert hosts(Cond("rule_groups", Op.IS_NULL, False)) == []
