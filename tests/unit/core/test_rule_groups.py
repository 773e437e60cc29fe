"""Rule groups and the access they give, in core, across services: a non-admin in user groups
reads (``find``, ``find_detailed``, ``get``), tags and runs commands on exactly the computers
their groups may reach (a rule group's or the computer's own ``allowed_user_groups``); users in
no user group keep their role's reach. Real database, both backends."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.groups.rules import check_rules
from fleetdeck.core.jobs.entities import CommandRequest, TagTarget
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config
from fleetdeck.protocol import messages as m
from tests import factories

ADMIN = system_actor("test")


@pytest.fixture
def world(svc: Services, admin: Actor) -> tuple[Actor, Actor, dict[str, int]]:
    """Computers web-1, web-2, db-1; ``dev`` (operator in user group devs), ``plain``
    (operator in no user group); the group ``web`` allows devs."""
    ids = {name: factories.computer(svc, ADMIN, name, os="Linux") for name in ("web-1", "web-2", "db-1")}
    svc.user_groups.put(ADMIN, "devs", {})
    made = svc.users.create(ADMIN, "dev", "dev-password-1", Role.OPERATOR, groups=["devs"])
    dev = Actor(user_id=made.id, username="dev", role=Role.OPERATOR)
    plain = factories.user(svc, Role.OPERATOR)
    svc.rule_groups.create(ADMIN, "web", "", {"name": ["WEB-*"]}, ["devs"])
    return dev, plain, ids


def test_reads_follow_the_groups(svc: Services, world: tuple[Actor, Actor, dict[str, int]]) -> None:
    dev, plain, ids = world
    assert {c.hostname for c in svc.computers.find(dev, Query()).items} == {"web-1", "web-2"}
    assert svc.computers.find_detailed(dev, Query()).total == 2
    assert svc.computers.find_detailed(plain, Query()).total == 3
    with pytest.raises(NotFound):
        svc.computers.get(dev, ids["db-1"])
    uid = svc.computers.get(ADMIN, ids["db-1"]).summary.uid
    svc.attributes.allow(ADMIN, uid, ["devs"])
    assert svc.computers.get(dev, ids["db-1"]).summary.uid == uid
    svc.attributes.allow(ADMIN, uid, [])
    with pytest.raises(NotFound):
        svc.attributes.allow(ADMIN, uid, ["no-such-group"])


def test_commands_only_on_reachable(svc: Services, world: tuple[Actor, Actor, dict[str, int]]) -> None:
    dev, plain, ids = world
    with pytest.raises(NotFound):
        svc.jobs.create_commands(dev, CommandRequest("ls"), computer_ids=[ids["db-1"]])
    made = svc.jobs.create_commands(dev, CommandRequest("ls"), computer_ids=[ids["web-1"]])
    assert len(made.job_ids) == 1
    group = svc.groups.create(ADMIN, "all")
    svc.groups.add_members(ADMIN, group.id, list(ids.values()))
    batch = svc.jobs.create_commands(dev, CommandRequest("ls"), group_ids=[group.id])
    assert len(batch.job_ids) == 2  # db-1 left out
    assert len(svc.jobs.create_commands(plain, CommandRequest("ls"), group_ids=[group.id]).job_ids) == 3


def test_deployments_only_on_reachable(svc: Services, world: tuple[Actor, Actor, dict[str, int]]) -> None:
    """A deployment to a computer group gets jobs only for the members the user's groups
    reach; the others are left out like unknown computers."""
    dev, plain, ids = world
    group = svc.groups.create(ADMIN, "all")
    svc.groups.add_members(ADMIN, group.id, list(ids.values()))
    pkg = factories.package(svc, ADMIN, "tool").id
    made = svc.deployments.deploy(dev, "d", computer_group_ids=[group.id], package_ids=[pkg])
    jobs = svc.deployments.container_jobs(ADMIN, made.id)
    assert sorted(j.computer_id for j in jobs) == sorted([ids["web-1"], ids["web-2"]])
    other = factories.package(svc, ADMIN, "other").id
    made = svc.deployments.deploy(plain, "d2", computer_group_ids=[group.id], package_ids=[other])
    assert len(svc.deployments.container_jobs(ADMIN, made.id)) == 3  # in no user group: all


def test_membership_follows_tags(svc: Services, world: tuple[Actor, Actor, dict[str, int]]) -> None:
    _, _, ids = world
    svc.rule_groups.create(ADMIN, "tagged", "", {"tags": {"or": ["prod", "stag*"]}}, [])
    assert svc.rule_groups.get(ADMIN, "tagged").members == ()
    uid = svc.computers.get(ADMIN, ids["db-1"]).summary.uid
    svc.attributes.put(ADMIN, uid, ["staging"], {"role": "db"})
    assert [m for m, _ in svc.rule_groups.get(ADMIN, "tagged").members] == [uid]
    svc.rule_groups.create(ADMIN, "untagged", "", {"tags": []}, [])
    assert uid not in [m for m, _ in svc.rule_groups.get(ADMIN, "untagged").members]
    assert len(svc.rule_groups.get(ADMIN, "untagged").members) == 2


@pytest.mark.parametrize(
    "rules",
    [
        {"nope": ["x"]},
        {"name": "x"},
        {"name": [1]},
        {"os": {"and": ["x"]}},
        {"tags": {"xor": ["x"]}},
        {"name": ["x" * 256]},
    ],
)
def test_bad_rules(rules: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        check_rules(rules)


def test_writes_need_permission_and_are_audited(
    svc: Services, world: tuple[Actor, Actor, dict[str, int]]
) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.rule_groups.create(viewer, "v", "", {"name": ["*"]}, [])
    with pytest.raises(PermissionDenied):
        svc.agent_secrets.create(viewer, "abc", "abc")
    svc.rule_groups.put(ADMIN, "web", "changed", {"name": ["web-1"]}, [])
    svc.rule_groups.delete(ADMIN, "web")
    entries = svc.audit.find(ADMIN, Query(limit=500)).items
    done = {(e.action, e.result) for e in entries if e.object_type == "rule_group"}
    assert {("rule_group.create", "ok"), ("rule_group.update", "ok"), ("rule_group.delete", "ok")} <= done
    assert any(e.action == "rule_group.create" and e.result != "ok" for e in entries)  # the refused one


def test_other_reads_and_acts_follow_the_groups(
    svc: Services, world: tuple[Actor, Actor, dict[str, int]]
) -> None:
    """Host records, network identities, comments, jobs (list, read, wait, cancel) and batches
    (list, read): ``dev`` sees and acts on web-* only, ``plain`` keeps all three."""
    dev, plain, ids = world
    inside, outside = ids["web-1"], ids["db-1"]
    everyone = list(ids.values())
    assert set(svc.computers.host_records(dev)) == {ids["web-1"], ids["web-2"]}
    assert set(svc.computers.host_records(dev, [outside])) == set()
    assert set(svc.computers.host_records(plain)) == set(everyone)
    for cid, name in ((inside, "web-1"), (outside, "db-1")):
        inv = m.Inventory(
            hostname=name, network_interfaces=[m.NetworkInterface("eth0", f"52:54:00:00:00:0{cid % 10}")]
        )
        svc.computers.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))
    assert set(svc.computers.network_identities(dev)) == {inside}
    assert set(svc.computers.network_identities(plain)) == {inside, outside}

    svc.by_name.comment(ADMIN, "db-1", "outside comment")
    svc.by_name.comment(dev, "web-1", "inside comment")
    with pytest.raises(NotFound):
        svc.by_name.comment(dev, "db-1", "not for you")
    assert set(svc.by_name.latest_comments(dev, everyone)) == {inside}
    assert set(svc.by_name.latest_comments(plain, everyone)) == {inside, outside}

    both = svc.jobs.create_commands(ADMIN, CommandRequest("ls"), computer_ids=[inside, outside])
    mine, theirs = both.job_ids  # in computer order: web-1 was made first
    only_out = svc.jobs.create_commands(ADMIN, CommandRequest("ls"), computer_ids=[outside])
    assert {j.id for j in svc.jobs.find(dev, Query()).items} == {mine}
    assert svc.jobs.find(plain, Query()).total == 3
    assert svc.jobs.get(dev, mine).id == mine
    with pytest.raises(NotFound):
        svc.jobs.get(dev, theirs)
    with pytest.raises(NotFound):
        svc.jobs.wait(dev, [theirs], 0)
    assert [j.id for j in svc.jobs.wait(dev, [mine], 0)] == [mine]
    with pytest.raises(NotFound):
        svc.jobs.cancel(dev, theirs)
    assert svc.jobs.cancel(dev, mine).status == "cancelled"

    assert {b.id for b in svc.jobs.find_batches(dev, Query()).items} == {both.batch_id}
    assert svc.jobs.find_batches(plain, Query()).total == 2
    assert svc.jobs.get_batch(dev, both.batch_id).job_ids == [mine]
    assert svc.jobs.get_batch(plain, both.batch_id).job_ids == [mine, theirs]
    with pytest.raises(NotFound):
        svc.jobs.get_batch(dev, only_out.batch_id)


def test_packages_and_computer_acts_follow_the_groups(
    svc: Services, world: tuple[Actor, Actor, dict[str, int]]
) -> None:
    """Deployments (create, list and read jobs, remove), installation records (list, assign,
    remove) and computer acts (ping, probe, delete): ``dev`` reaches web-* only."""
    dev, plain, ids = world
    inside, outside = ids["web-1"], ids["db-1"]
    pkg = factories.package(svc, ADMIN, "tool").id
    made = factories.deployment(svc, dev, [inside, outside], [pkg], name="mine")
    assert [j.computer_id for j in svc.deployments.container_jobs(ADMIN, made.id)] == [inside]
    both = factories.deployment(svc, ADMIN, [ids["web-2"], outside], [factories.package(svc, ADMIN, "x").id])
    jobs = svc.deployments.container_jobs(ADMIN, both.id)
    theirs = next(j.id for j in jobs if j.computer_id == outside)
    assert {j.computer_id for j in svc.deployments.container_jobs(dev, both.id)} == {ids["web-2"]}
    assert svc.deployments.container_jobs_page(dev, both.id).total == 1
    assert svc.deployments.container_jobs_page(plain, both.id).total == 2
    assert outside not in {j.computer_id for j in svc.deployments.computer_jobs(dev)}
    assert outside in {j.computer_id for j in svc.deployments.computer_jobs(plain)}
    with pytest.raises(NotFound):
        svc.deployments.get_job(dev, theirs)
    with pytest.raises(NotFound):
        svc.deployments.remove_job(dev, theirs)
    with pytest.raises(NotFound):
        svc.deployments.remove_container(dev, both.id)
    svc.deployments.remove_container(dev, made.id)

    svc.packages.assign_installation(ADMIN, outside, pkg)
    mine = svc.packages.assign_installation(dev, inside, pkg)
    with pytest.raises(NotFound):
        svc.packages.assign_installation(dev, outside, pkg)
    assert {i.computer_id for i in svc.packages.list_installations(dev)} == {inside}
    assert {i.computer_id for i in svc.packages.list_installations(plain)} == {inside, outside}
    other = next(i.id for i in svc.packages.list_installations(plain) if i.computer_id == outside)
    with pytest.raises(NotFound):
        svc.packages.remove_installation(dev, other)
    svc.packages.remove_installation(dev, mine.id)

    for act in (
        lambda: svc.computers.ping(dev, outside, 0.1),
        lambda: svc.computers.probe(dev, [inside, outside], 0.1),
        lambda: svc.computers.delete(dev, outside),
    ):
        with pytest.raises(NotFound):
            act()
    assert svc.computers.probe(dev, [inside], 0.1) == {inside: False}  # not connected
    svc.computers.delete(dev, inside)


def test_property_values_follow_the_groups(svc: Services, world: tuple[Actor, Actor, dict[str, int]]) -> None:
    """Package property values per computer: read, set and clear only where ``dev`` reaches."""
    dev, plain, ids = world
    inside, outside = ids["web-1"], ids["db-1"]
    pkg = factories.package(svc, ADMIN, "tool")
    svc.properties.put(ADMIN, pkg.id, Config("channel", possible_values=["a", "b"]))
    svc.properties.set_value(ADMIN, pkg.family_id, "channel", outside, ["a"])
    svc.properties.set_value(dev, pkg.family_id, "channel", inside, ["b"])
    for act in (
        lambda: svc.properties.set_value(dev, pkg.family_id, "channel", outside, ["b"]),
        lambda: svc.properties.clear_value(dev, pkg.family_id, "channel", outside),
    ):
        with pytest.raises(NotFound):
            act()
    assert {v.computer_id for v in svc.properties.values(dev)} == {inside}
    assert {v.computer_id: v.values for v in svc.properties.values(plain)} == {inside: ["b"], outside: ["a"]}
    svc.properties.clear_value(dev, pkg.family_id, "channel", inside)
    assert {v.computer_id for v in svc.properties.values(plain)} == {outside}


def test_deployment_containers_follow_the_groups(
    svc: Services, world: tuple[Actor, Actor, dict[str, int]]
) -> None:
    """Container summaries: ``dev`` lists the containers with a job on web-*, with the status
    and counts of those jobs alone; a container of db-1 only is not found."""
    dev, plain, ids = world
    inside, outside = ids["web-2"], ids["db-1"]
    pkg = factories.package(svc, ADMIN, "tool").id
    both = factories.deployment(svc, ADMIN, [inside, outside], [pkg], name="both")
    only_out = factories.deployment(svc, ADMIN, [outside], [factories.package(svc, ADMIN, "x").id])
    assert {c.id: sum(c.counts.values()) for c in svc.deployments.list_containers(dev)} == {both.id: 1}
    assert {c.id: sum(c.counts.values()) for c in svc.deployments.list_containers(plain)} == {
        both.id: 2,
        only_out.id: 1,
    }
    assert sum(svc.deployments.get_container(dev, both.id).counts.values()) == 1
    assert sum(svc.deployments.get_container(plain, both.id).counts.values()) == 2
    with pytest.raises(NotFound):
        svc.deployments.get_container(dev, only_out.id)
    with pytest.raises(NotFound):
        svc.deployments.container_jobs(dev, only_out.id)


def test_reported_and_inventory_software_follow_the_groups(
    svc: Services, world: tuple[Actor, Actor, dict[str, int]]
) -> None:
    """Software a client reported itself (read, report, set obsolete) and the agent's
    inventory software: ``dev`` reaches web-* only; the catalogue is no computer's."""
    dev, plain, ids = world
    inside, outside = ids["web-1"], ids["db-1"]
    reported = svc.reported_audit
    for cid in (inside, outside):
        reported.report(ADMIN, "software", cid, [(f"app-{cid}", {"name": "app"})])
    reported.report(ADMIN, "software_title", None, [("app", {"name": "app"})])
    assert {r.computer_id for r in reported.find(dev, "software")} == {inside}
    assert {r.computer_id for r in reported.find(plain, "software")} == {inside, outside}
    assert [r.ident for r in reported.find(dev, "software_title")] == ["app"]
    assert reported.report(dev, "software", inside, [("more", {})]) == 1
    for act in (
        lambda: reported.report(dev, "software", outside, [("more", {})]),
        lambda: reported.set_obsolete(dev, "software", outside),
    ):
        with pytest.raises(NotFound):
            act()
    assert reported.set_obsolete(dev, "software", inside) == 2
    for cid, name in ((inside, "web-1"), (outside, "db-1")):
        inv = m.Inventory(hostname=name, software=[m.Software("tool", "1.0")])
        svc.computers.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))
    assert {s.computer_id for s in svc.computers.software(dev, Query())} == {inside}
    assert {s.computer_id for s in svc.computers.software(plain, Query())} == {inside, outside}


def test_tag_targets_follow_the_groups(svc: Services, world: tuple[Actor, Actor, dict[str, int]]) -> None:
    """Commands and file pushes by tags (every tag or any, exact text): ``dev`` reaches the
    tagged web-* computers only; none reached is ValidationFailed, as are no tags."""
    dev, plain, ids = world
    uids = {name: svc.computers.get(ADMIN, cid).summary.uid for name, cid in ids.items()}
    svc.attributes.put(ADMIN, uids["web-1"], ["db", "eu"], {})
    svc.attributes.put(ADMIN, uids["db-1"], ["db", "EU"], {})
    svc.attributes.put(ADMIN, uids["web-2"], ["eu"], {})

    def targets(actor: Actor, tags: TagTarget) -> set[int]:
        made = svc.jobs.create_commands(actor, CommandRequest("ls"), tags=tags)
        return {j.computer_id for j in svc.jobs.find(ADMIN, Query(where=(batch(made.batch_id),))).items}

    assert targets(plain, TagTarget(("db", "eu"), match_all=True)) == {ids["web-1"]}
    assert targets(plain, TagTarget(("db", "eu"))) == set(ids.values())
    assert targets(plain, TagTarget(("EU",))) == {ids["db-1"]}
    assert targets(dev, TagTarget(("db",))) == {ids["web-1"]}
    for tags in (TagTarget(("EU",)), TagTarget(()), TagTarget(("e*",))):
        with pytest.raises(ValidationFailed):
            svc.jobs.create_commands(dev, CommandRequest("ls"), tags=tags)
    pushed = svc.jobs.create_file_puts(plain, {"dest": "/tmp/x"}, tags=TagTarget(("eu",), match_all=True))
    assert len(pushed.job_ids) == 2


def batch(batch_id: int) -> Cond:
    return Cond("batch_id", Op.EQ, batch_id)
