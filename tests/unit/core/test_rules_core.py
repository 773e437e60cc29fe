"""Rule groups in core (``core/groups/rules.py``), asserting effects: what each kind of rule
matches (patterns, case, ``*``, literal ``%`` and ``_``, empty lists, tags with and/or, the
connection state, fields with no data), the checks with their fields and texts, create/put/delete
with their audit rows, lists with members and paging, ``keys_of``, and the access rule groups
and computers' own ``access`` rows give users in user groups (``access``, ``reach``,
``reaches``). Real database, both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from fleetdeck.core.authz import Actor, Perm, Role, system_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.groups.rules import access, check_rules, condition, keys_of, reach, reaches
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.protocol import messages as m
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import Computer, Job
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    cheap = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)
    return build_services(runtime.db, SECRET, CoreConfig(argon2=cheap), clock=clock)


@pytest.fixture
def hosts(svc: Services, admin: Actor) -> dict[str, int]:
    """Computers with inventory: web-1 (Linux, x86_64, fqdn web-1.example.org), Web_2 (Linux
    arm64), db%1 (Windows), bare (no inventory at all)."""
    made: dict[str, int] = {}
    for name, os, arch in (
        ("web-1", "Linux", "x86_64"),
        ("Web_2", "Linux", "arm64"),
        ("db%1", "Windows", ""),
    ):
        made[name] = factories.computer(svc, ADMIN, name, os=os, architecture=arch)
    inv = m.Inventory(hostname="web-1", fqdn="web-1.example.org", os="Linux", architecture="x86_64")
    svc.computers.record_inventory(ADMIN, made["web-1"], inv, m.inventory_digest(inv))
    made["bare"] = factories.computer(svc, ADMIN, "bare")
    return made


def members(runtime: Runtime, rules: dict[str, Any]) -> set[str]:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        return set(uow.session.scalars(select(Computer.hostname).where(condition(check_rules(rules)))))


def test_what_rules_match(runtime: Runtime, hosts: dict[str, int]) -> None:
    everyone = {"web-1", "Web_2", "db%1", "bare"}
    assert members(runtime, {}) == set()  # no rules: no members
    assert members(runtime, {"name": ["*"]}) == everyone
    assert members(runtime, {"name": ["WEB*"]}) == {"web-1", "Web_2"}  # case ignored
    assert members(runtime, {"name": [" web-1 "]}) == {"web-1"}  # patterns are trimmed
    assert members(runtime, {"name": ["web_2"]}) == {"Web_2"}
    assert members(runtime, {"name": ["web_1"]}) == set()  # "_" is no wildcard
    assert members(runtime, {"name": ["db%1"]}) == {"db%1"}
    assert members(runtime, {"name": ["d%"]}) == set()  # nor is "%"
    assert members(runtime, {"name": ["web-1", "db*"]}) == {"web-1", "db%1"}  # OR within a field
    assert members(runtime, {"name": ["web*"], "architecture": ["arm*"]}) == {"Web_2"}  # AND across
    assert members(runtime, {"os": ["windows"]}) == {"db%1"}
    assert members(runtime, {"hostname": ["*.example.org"]}) == {"web-1"}  # hostname or fqdn
    assert members(runtime, {"hostname": ["web_2"]}) == {"Web_2"}
    assert members(runtime, {"architecture": []}) == {"db%1", "bare"}  # empty list: no value
    assert members(runtime, {"os": []}) == {"bare"}
    assert members(runtime, {"ipv4": ["*"]}) == set()  # no data kept: no pattern matches
    assert members(runtime, {"ipv4": []}) == everyone  # ... and every computer has no value
    assert members(runtime, {"credential": []}) == everyone
    assert members(runtime, {"state": ["disconnected"]}) == everyone  # none connected
    assert members(runtime, {"state": ["connected"]}) == set()
    assert members(runtime, {"uid": ["*"], "name": ["bare"]}) == {"bare"}


def test_tags_with_and_and_or(svc: Services, runtime: Runtime, hosts: dict[str, int]) -> None:
    uids = {n: svc.computers.get(ADMIN, cid).summary.uid for n, cid in hosts.items()}
    svc.attributes.put(ADMIN, uids["web-1"], ["Prod", "web"], {"prod": "label, not a tag"})
    svc.attributes.put(ADMIN, uids["Web_2"], ["staging", "web"], {})
    assert members(runtime, {"tags": ["prod"]}) == {"web-1"}
    assert members(runtime, {"tags": ["prod", "staging"]}) == {"web-1", "Web_2"}
    assert members(runtime, {"tags": {"or": ["prod", "stag*"]}}) == {"web-1", "Web_2"}
    assert members(runtime, {"tags": {"and": ["web", "stag*"]}}) == {"Web_2"}
    assert members(runtime, {"tags": {"and": ["prod", "staging"]}}) == set()
    assert members(runtime, {"tags": {"and": []}}) == {"web-1", "Web_2", "db%1", "bare"}
    assert members(runtime, {"tags": []}) == {"db%1", "bare"}  # no tag at all
    assert members(runtime, {"tags": ["we_"]}) == set()
    svc.attributes.allow(ADMIN, uids["db%1"], [])
    assert members(runtime, {"tags": ["*"]}) == {"web-1", "Web_2"}


@pytest.mark.parametrize(
    ("rules", "field", "text"),
    [
        ({"nope": ["x"]}, "nope", "unsupported group parameter: nope"),
        ({"name": "x"}, "name", "name: a list of text patterns is expected"),
        ({"name": [1]}, "name", "name: a list of text patterns is expected"),
        ({"name": ["x", None]}, "name", "name: a list of text patterns is expected"),
        ({"os": {"and": ["x"]}}, "os", "os: only a list of patterns, or for tags one of 'and' / 'or'"),
        ({"tags": {"xor": ["x"]}}, "tags", "tags: only a list of patterns, or for tags one of 'and' / 'or'"),
        (
            {"tags": {"and": ["x"], "or": ["y"]}},
            "tags",
            "tags: only a list of patterns, or for tags one of 'and' / 'or'",
        ),
        ({"tags": {}}, "tags", "tags: only a list of patterns, or for tags one of 'and' / 'or'"),
        ({"tags": {"and": "x"}}, "tags", "tags: a list of text patterns is expected"),
        ({"name": ["x" * 256]}, "name", "name: too many or too long patterns"),
        ({"name": ["x\x00"]}, "name", "name: too many or too long patterns"),
        ({"name": ["x"] * 1001}, "name", "name: too many or too long patterns"),
    ],
)
def test_bad_rules(rules: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_rules(rules)
    assert (err.value.message, err.value.detail["field"]) == (text, field)


def test_rules_as_stored() -> None:
    assert check_rules({"name": [" a ", "b"], "tags": {"or": [" x"]}}) == {
        "name": ["a", "b"],
        "tags": {"or": ["x"]},
    }
    assert check_rules({"name": ["x" * 255] * 1000})["name"][0] == "x" * 255
    assert check_rules({"tags": {"and": []}}) == {"tags": {"and": []}}


def test_create_put_delete_and_their_audit_rows(
    svc: Services, hosts: dict[str, int], clock: ManualClock
) -> None:
    mark = factories.audit_mark(svc)
    svc.rule_groups.create(ADMIN, "Web_*-1", "the web", {"name": [" web* "]}, [" devs ", "ops", "devs", " "])
    got = svc.rule_groups.get(ADMIN, "Web_*-1")
    assert (got.key, got.description, got.rules, got.allowed_user_groups) == (
        "Web_*-1",
        "the web",
        {"name": ["web*"]},
        ("devs", "ops"),
    )
    assert got.created_at.replace(tzinfo=None) == T0.replace(tzinfo=None)
    assert [uid for uid, _ in got.members] == sorted(
        svc.computers.get(ADMIN, hosts[n]).summary.uid for n in ("web-1", "Web_2")
    )
    assert all(online is False for _, online in got.members)
    with pytest.raises(Conflict, match="rule group 'Web_\\*-1' already exists") as err:
        svc.rule_groups.create(ADMIN, "Web_*-1", "", {"name": ["x"]}, [])
    assert err.value.detail == {"reason": "exists"}
    svc.rule_groups.put(ADMIN, "Web_*-1", "dbs now", {"os": ["windows"]}, [])
    got = svc.rule_groups.get(ADMIN, "Web_*-1")
    assert (got.description, got.rules, got.allowed_user_groups, len(got.members)) == (
        "dbs now",
        {"os": ["windows"]},
        (),
        1,
    )
    svc.rule_groups.put(ADMIN, "new", "", {}, [])  # put also creates
    assert svc.rule_groups.get(ADMIN, "new").members == ()
    svc.rule_groups.delete(ADMIN, "new")
    with pytest.raises(NotFound, match="rule group new not found"):
        svc.rule_groups.get(ADMIN, "new")
    with pytest.raises(NotFound):
        svc.rule_groups.delete(ADMIN, "new")
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result) for r in rows] == [
        ("rule_group.create", "rule_group", "Web_*-1", "ok"),
        ("rule_group.create", "rule_group", "Web_*-1", "conflict"),
        ("rule_group.update", "rule_group", "Web_*-1", "ok"),
        ("rule_group.create", "rule_group", "new", "ok"),
        ("rule_group.delete", "rule_group", "new", "ok"),
        ("rule_group.delete", "rule_group", "new", "not_found"),
    ]
    assert rows[0].detail == {"rules": {"name": ["web*"]}, "allowed_user_groups": ["devs", "ops"]}
    assert rows[2].detail == {"rules": {"os": ["windows"]}, "allowed_user_groups": []}
    assert svc.rule_groups.find(ADMIN, Query()).total == 1


@pytest.mark.parametrize("key", ["", "x" * 31, "a b", "ä", "a/b", "a.b"])
def test_bad_keys(svc: Services, key: str) -> None:
    with pytest.raises(ValidationFailed, match="invalid group id: 1 to 30 characters") as err:
        svc.rule_groups.create(ADMIN, key, "", {"name": ["x"]}, [])
    assert err.value.detail["field"] == "id"
    with pytest.raises(ValidationFailed):
        svc.rule_groups.put(ADMIN, key, "", {"name": ["x"]}, [])
    assert svc.rule_groups.find(ADMIN, Query()).total == 0


def test_bad_rules_are_refused_by_the_service(svc: Services) -> None:
    with pytest.raises(ValidationFailed, match="unsupported group parameter"):
        svc.rule_groups.create(ADMIN, "g", "", {"nope": []}, [])
    svc.rule_groups.create(ADMIN, "x" * 30, "", {"name": ["x"]}, [])  # the longest key
    assert [g.key for g in svc.rule_groups.find(ADMIN, Query()).items] == ["x" * 30]


def test_who_may_read_and_change_rule_groups(svc: Services, hosts: dict[str, int]) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    svc.rule_groups.create(ADMIN, "g", "", {"name": ["*"]}, [])
    assert svc.rule_groups.get(viewer, "g").key == "g"
    assert svc.rule_groups.find(viewer, Query()).total == 1
    mark = factories.audit_mark(svc)
    for act in (
        lambda: svc.rule_groups.create(viewer, "h", "", {}, []),
        lambda: svc.rule_groups.put(viewer, "g", "", {}, []),
        lambda: svc.rule_groups.delete(viewer, "g"),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("rule_group.create", "denied"),
        ("rule_group.create", "denied"),
        ("rule_group.delete", "denied"),
    ]
    assert svc.rule_groups.get(ADMIN, "g").rules == {"name": ["*"]}
    end_user = Actor(user_id=None, username="nobody", role=Role.END_USER)
    with pytest.raises(PermissionDenied):
        svc.rule_groups.find(end_user, Query())


def test_find_pages_with_and_without_members(svc: Services, hosts: dict[str, int]) -> None:
    svc.rule_groups.create(ADMIN, "b", "second", {"name": ["web*"]}, [])
    svc.rule_groups.create(ADMIN, "a", "first", {"os": ["windows"]}, [])
    svc.rule_groups.create(ADMIN, "c", "none", {"name": ["zzz"]}, [])
    page = svc.rule_groups.find(ADMIN, Query(sort=(SortKey.parse("id"),), limit=2))
    assert ([g.key for g in page.items], page.total) == (["a", "b"], 3)
    assert [g.members for g in page.items] == [(), ()]  # not asked for
    page = svc.rule_groups.find(ADMIN, Query(sort=(SortKey.parse("-id"),)), members=True)
    assert [(g.key, len(g.members)) for g in page.items] == [("c", 0), ("b", 2), ("a", 1)]
    page = svc.rule_groups.find(ADMIN, Query(where=(Cond("description", Op.EQ, "first"),)), members=True)
    assert ([g.key for g in page.items], page.total) == (["a"], 1)
    assert svc.rule_groups.find(ADMIN, Query(where=(Cond("id", Op.EQ, "zz"),)), members=True).items == []


def test_keys_of(svc: Services, runtime: Runtime, hosts: dict[str, int]) -> None:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert keys_of(uow.session, list(hosts.values())) == {}  # no groups yet
    svc.rule_groups.create(ADMIN, "z-web", "", {"name": ["web*"]}, [])
    svc.rule_groups.create(ADMIN, "a-linux", "", {"os": ["linux"]}, [])
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert keys_of(uow.session, []) == {}
        got = keys_of(uow.session, [hosts["web-1"], hosts["db%1"]])
    assert got == {hosts["web-1"]: ["a-linux", "z-web"], hosts["db%1"]: []}


@pytest.fixture
def dev(svc: Services, hosts: dict[str, int]) -> Actor:
    """An operator in user groups devs and qa; rule group ``web`` allows devs, ``dbs`` allows
    ops only."""
    svc.user_groups.put(ADMIN, "devs", {})
    svc.user_groups.put(ADMIN, "qa", {})
    svc.user_groups.put(ADMIN, "ops", {})
    made = svc.users.create(ADMIN, "dev", "dev-password-1", Role.OPERATOR, groups=["devs", "qa"])
    svc.rule_groups.create(ADMIN, "web", "", {"name": ["web*"]}, ["devs"])
    svc.rule_groups.create(ADMIN, "dbs", "", {"os": ["windows"]}, ["ops"])
    return Actor(user_id=made.id, username="dev", role=Role.OPERATOR)


def reached(runtime: Runtime, actor: Actor) -> set[str] | None:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        cond = access(uow.session, actor)
        if cond is None:
            return None
        return set(uow.session.scalars(select(Computer.hostname).where(cond)))


def test_access_through_rule_groups_and_computers_own_rows(
    svc: Services, runtime: Runtime, hosts: dict[str, int], dev: Actor
) -> None:
    assert reached(runtime, dev) == {"web-1", "Web_2"}
    uid = svc.computers.get(ADMIN, hosts["bare"]).summary.uid
    svc.attributes.allow(ADMIN, uid, ["qa"])
    assert reached(runtime, dev) == {"web-1", "Web_2", "bare"}
    svc.attributes.allow(ADMIN, uid, ["ops"])
    assert reached(runtime, dev) == {"web-1", "Web_2"}
    svc.rule_groups.put(ADMIN, "web", "", {"name": ["web*"]}, ["ops"])
    assert reached(runtime, dev) == set()  # in user groups, allowed nothing
    # not narrowed: admins, the system, end users, users in no user group
    assert reached(runtime, factories.user(svc, Role.OPERATOR)) is None
    assert reached(runtime, Actor(user_id=dev.user_id, username="dev", role=Role.ADMIN)) is None
    assert reached(runtime, Actor(user_id=dev.user_id, username="dev", role=Role.END_USER)) is None
    assert reached(runtime, Actor(user_id=None, username="x", role=Role.OPERATOR)) is None


def test_a_rule_group_with_no_allowed_groups_gives_no_access(
    svc: Services, runtime: Runtime, hosts: dict[str, int], dev: Actor
) -> None:
    svc.rule_groups.put(ADMIN, "web", "", {"name": ["web*"]}, [])
    assert reached(runtime, dev) == set()


def test_reach_and_reaches(svc: Services, runtime: Runtime, hosts: dict[str, int], dev: Actor) -> None:
    plain = factories.user(svc, Role.OPERATOR)
    job_ids = svc.jobs.create_commands(ADMIN, CommandRequest("ls"), computer_ids=list(hosts.values())).job_ids
    with UnitOfWork(runtime.db, readonly=True) as uow:
        s = uow.session
        assert reach(s, plain, Perm.READ, Computer.id) is None
        assert reaches(s, plain, Perm.READ, hosts["db%1"]) is True
        assert reaches(s, dev, Perm.READ, hosts["web-1"]) is True
        assert reaches(s, dev, Perm.READ, hosts["db%1"]) is False
        assert reaches(s, dev, Perm.READ, None) is True  # no computer named: nothing to narrow
        assert reaches(s, dev, Perm.READ, 10_000) is False
        scope = reach(s, dev, Perm.READ, Job.computer_id)  # another table's column
        assert scope is not None
        jobs = set(s.scalars(select(Job.computer_id).where(Job.id.in_(job_ids), scope)))
        assert jobs == {hosts["web-1"], hosts["Web_2"]}
        scope = reach(s, dev, Perm.READ, Computer.id)
        assert scope is not None
        assert set(s.scalars(select(Computer.hostname).where(scope))) == {"web-1", "Web_2"}


def test_members_shown_are_those_the_caller_reaches(svc: Services, hosts: dict[str, int], dev: Actor) -> None:
    svc.rule_groups.create(ADMIN, "all", "", {"name": ["*"]}, [])
    uids = {n: svc.computers.get(ADMIN, cid).summary.uid for n, cid in hosts.items()}
    assert {u for u, _ in svc.rule_groups.get(dev, "all").members} == {uids["web-1"], uids["Web_2"]}
    assert len(svc.rule_groups.get(ADMIN, "all").members) == 4
    page = svc.rule_groups.find(dev, Query(where=(Cond("id", Op.EQ, "all"),)), members=True)
    assert {u for u, _ in page.items[0].members} == {uids["web-1"], uids["Web_2"]}
