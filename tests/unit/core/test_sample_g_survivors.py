"""Tests for the survivors of the fresh sample of seed 20261208 (docs/testing.md, "Mutation
testing"): each asserts the behaviour the named mutant changed, through core's services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import (
    AuthenticationFailed,
    FleetdeckError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from fleetdeck.core.licenses.service import Contract, License, Pool
from fleetdeck.core.ports import AgentAddress, NullGateway
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock

DOMAIN = "corp.example"


def test_clearing_a_secret_that_was_never_set_changes_nothing(svc: Services, admin: Actor) -> None:
    """computers.service._check_record 11 kept a cleared secret as "" instead of None, which
    differs from "no secret" and so was recorded as a change."""
    svc.computers.put(admin, "pc1.corp.example", default_domain=DOMAIN)
    mark = factories.audit_mark(svc)
    svc.computers.put(admin, "pc1.corp.example", default_domain=DOMAIN, record={"one_time_password": None})
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.detail) == ("computer.update", {})
    svc.computers.put(admin, "pc1.corp.example", default_domain=DOMAIN, record={"one_time_password": "otp"})
    mark = factories.audit_mark(svc)
    svc.computers.put(admin, "pc1.corp.example", default_domain=DOMAIN, record={"one_time_password": None})
    [row] = factories.audit_since(svc, mark)
    assert row.detail == {"record": ["one_time_password"]}
    [rec] = svc.computers.host_records(admin).values()
    assert rec.one_time_password is None


def test_a_recorded_time_must_carry_its_time_zone(svc: Services, admin: Actor) -> None:
    """computers.service._check_record 45 inverted the check: aware times refused, naive ones
    stored."""
    aware = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    got = svc.computers.put(admin, "pc2.corp.example", default_domain=DOMAIN, record={"created_at": aware})
    assert got is not None and got.created_at == aware
    with pytest.raises(ValidationFailed) as err:
        svc.computers.put(
            admin, "pc2.corp.example", default_domain=DOMAIN, record={"last_seen": datetime(2026, 1, 2)}
        )
    assert (err.value.message, err.value.field) == ("last_seen must be a time with a time zone", "last_seen")
    svc.computers.put(admin, "pc2.corp.example", default_domain=DOMAIN, record={"last_seen": None})


def test_a_put_that_changes_the_notes_audits_both(svc: Services, admin: Actor) -> None:
    """computers.service.put 91: the audit detail's key ``notes`` garbled."""
    svc.computers.put(admin, "pc3.corp.example", default_domain=DOMAIN, notes="old")
    mark = factories.audit_mark(svc)
    svc.computers.put(admin, "pc3.corp.example", default_domain=DOMAIN, notes="new")
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.detail) == ("computer.update", {"notes": ["old", "new"]})


class TimeoutsSeen(NullGateway):
    """core's ``AgentGateway`` port whose agents all answer, noting the timeout they were given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def request_many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        self.timeouts.append(timeout)
        return {a.computer_id: {} for a in to}


def test_a_probe_waits_as_long_as_it_was_told(runtime: Runtime, admin: Actor) -> None:
    """computers.service.probe 26 passed no timeout to the gateway (None: wait forever)."""
    gateway = TimeoutsSeen()
    svc = build_services(runtime.db, SECRET, CoreConfig(), gateway=gateway)
    on, off = (svc.computers.create(admin, n).id for n in ("on", "off"))
    svc.computers.set_online(on, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    assert svc.computers.probe(admin, [on, off], 2.5) == {on: True, off: False}
    assert gateway.timeouts == [2.5]


def test_a_deployments_removal_is_audited_with_its_name_and_a_missing_job_is_named(
    svc: Services, admin: Actor
) -> None:
    """deployments.service.remove_container 38 (detail key ``name``), remove_job 35
    (NotFound without the job's id)."""
    cid = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    created = factories.deployment(svc, admin, [cid], [pkg.id], name="roll-out")
    mark = factories.audit_mark(svc)
    svc.deployments.remove_container(admin, created.id)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.detail) == (
        "deployment.delete",
        str(created.id),
        {"name": "roll-out"},
    )
    with pytest.raises(NotFound) as err:
        svc.deployments.remove_job(admin, created.job_ids[0])
    assert (err.value.object_type, err.value.object_id) == ("deployment job", created.job_ids[0])
    assert err.value.message == f"deployment job {created.job_ids[0]} not found"


def test_a_host_recorded_with_an_upper_case_mac_logs_in_by_it(svc: Services, admin: Actor) -> None:
    """enrollment.service.authenticate_host_by_mac 38 looked for the recorded hardware
    address in lower case only, as given and lowered: one recorded in upper case (as opsi
    writes it) was not found."""
    key = "h" * 32
    got = svc.computers.put(
        admin,
        "desk.corp.example",
        default_domain=DOMAIN,
        record={"mac": "AA:BB:CC:DD:EE:10", "host_key": key},
    )
    assert got is not None
    identity, name = svc.enrollment.authenticate_host_by_mac("aa-bb-cc-dd-ee-10", key, DOMAIN)
    assert (identity.computer_id, name) == (got.id, "desk.corp.example")
    with pytest.raises(AuthenticationFailed):
        svc.enrollment.authenticate_host_by_mac("aa-bb-cc-dd-ee-11", key, DOMAIN)


def test_only_package_managers_assign_licenses(svc: Services, admin: Actor) -> None:
    """licenses.service.put_assignment 7 dropped the permission: a viewer could assign a
    license to a computer."""
    cid = factories.computer(svc, admin, "pc")
    svc.licenses.put_contract(admin, Contract("c1"))
    svc.licenses.put_pool(admin, Pool("office"))
    svc.licenses.put_license(admin, License("vol", "c1", "volume", 5))
    svc.licenses.put_pool_member(admin, "vol", "office", "")
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.licenses.put_assignment(viewer, "vol", "office", cid, "KEY-1")
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.result) == ("license.assign", str(cid), "denied")
    assert svc.licenses.assignments(admin) == []
    operator = factories.user(svc, Role.OPERATOR)
    svc.licenses.put_assignment(operator, "vol", "office", cid, "KEY-1")
    assert [(a.computer_id, a.license_key) for a in svc.licenses.assignments(admin)] == [(cid, "vol")]


def test_every_change_of_disabled_ends_the_logins_made_before_it(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """users.service.update 46 set the credential version to 1 instead of counting it up: after
    a second disable and enable, a login made between the first two was valid again."""
    user = factories.user(svc, Role.VIEWER, "vic")
    uid = user.user_id or 0
    svc.users.update(admin, uid, disabled=True)
    svc.users.update(admin, uid, disabled=False)
    _, between = svc.users.session_login("vic", factories.PASSWORD, "10.0.0.1", "web")
    assert svc.users.resume(between, "10.0.0.1", "web").username == "vic"
    svc.users.update(admin, uid, disabled=True)
    svc.users.update(admin, uid, disabled=False)
    with pytest.raises(AuthenticationFailed):
        svc.users.resume(between, "10.0.0.1", "web")
    clock.now += timedelta(seconds=1)
    _, fresh = svc.users.session_login("vic", factories.PASSWORD, "10.0.0.1", "web")
    assert svc.users.resume(fresh, "10.0.0.1", "web").username == "vic"


def test_an_uninstall_keeps_its_description(svc: Services, admin: Actor) -> None:
    """deployments.service.uninstall 84 stored the uninstall's container without the
    description it was given."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    inst = factories.installed(svc, admin, pc, pkg.id)
    created = svc.deployments.uninstall(
        admin, "remove tool", description="licence ended", installation_ids=[inst.id]
    )
    info = svc.deployments.get_container(admin, created.id)
    assert (info.name, info.description) == ("remove tool", "licence ended")


def test_a_clone_is_named_after_the_lookalike_it_was_allowed_to_replace(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """enrollment.service._match_enrolled 62 read the refusal note under a garbled key: an
    agent that looked like two enrolled computers, the second of them allowed to re-enroll
    (but on other hardware), failed to enroll instead of becoming a clone of that second."""
    token = svc.enrollment.create_token(admin, expires_in=None).token

    def enroll(uuid: str) -> Any:
        return svc.enrollment.enroll(
            token,
            hostname="pc",
            machine_id="golden",
            agent_version="1",
            source="10.0.0.1",
            hardware_uuid=uuid,
        )

    a, b = enroll("uuid-a"), enroll("uuid-b")
    svc.enrollment.allow_reenroll(admin, a.computer_id, timedelta(minutes=5))
    clock.now += timedelta(minutes=10)  # a's permission ran out; b's is fresh
    svc.enrollment.allow_reenroll(admin, b.computer_id, timedelta(hours=1))
    mark = factories.audit_mark(svc)
    clone = enroll("uuid-c")  # other hardware than both
    assert clone.computer_id not in (a.computer_id, b.computer_id)
    assert clone.clone_of == b.computer_id and clone.replaced_enrollment is None
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "agent.enroll"]
    assert (row.detail["clone_of"], row.detail["hardware"], row.detail["reenroll_allowed"]) == (
        b.computer_id,
        "different",
        True,
    )


def test_a_payload_of_a_missing_package_names_the_package(svc: Services, admin: Actor) -> None:
    """packages.service.payload_for_agent 18: NotFound's object type garbled."""
    cid = factories.computer(svc, admin, "pc")
    with pytest.raises(NotFound) as err:
        svc.packages.payload_for_agent(cid, 10**9)
    assert (err.value.object_type, err.value.object_id, err.value.message) == (
        "package",
        10**9,
        f"package {10**9} not found",
    )


def test_failures_of_one_name_are_not_another_names(runtime: Runtime, clock: ManualClock) -> None:
    """users.throttle.has_failures 4 dropped the name from the pair: a host's successful login
    then saw another name's failures from its address and wrote to clear them."""
    throttle = LoginThrottle(runtime.db, clock, 5, 20, 600)
    with UnitOfWork(runtime.db) as uow:
        throttle.failed(uow.session, "pc1.corp.example", "10.0.0.7")
    assert throttle.has_failures("pc1.corp.example", "10.0.0.7") is True
    assert throttle.has_failures("PC1.corp.example", "10.0.0.7") is True  # names ignore case
    assert throttle.has_failures("pc2.corp.example", "10.0.0.7") is False
    assert throttle.has_failures("pc1.corp.example", "10.0.0.8") is False


def test_a_user_lists_their_own_tokens_by_id_and_nobody_elses(svc: Services, admin: Actor) -> None:
    """users.service.list_tokens 3 inverted the check: listing one's own tokens by user id
    needed manage_users, and anyone could list another user's tokens."""
    ann = factories.user(svc, Role.VIEWER, "ann")
    bob = factories.user(svc, Role.VIEWER, "bob")
    mine = svc.users.create_token(ann, "mine", "read", None)
    svc.users.create_token(bob, "his", "read", None)
    assert [t.id for t in svc.users.list_tokens(ann, ann.user_id)] == [mine.info.id]
    with pytest.raises(PermissionDenied):
        svc.users.list_tokens(ann, bob.user_id)
    assert [t.name for t in svc.users.list_tokens(admin, bob.user_id)] == ["his"]


def test_deployments_listed_together_count_their_own_jobs(svc: Services, admin: Actor) -> None:
    """deployments.containers.container_infos 18 grouped the job counts without the container:
    two deployments listed together shared one count. 66: a container without jobs."""
    pcs = [factories.computer(svc, admin, f"pc{n}") for n in range(3)]
    pkg = factories.package(svc, admin, "tool")
    one = factories.deployment(svc, admin, pcs[:1], [pkg.id], name="one")
    two = factories.deployment(svc, admin, pcs[1:], [pkg.id], name="two")
    other = factories.package(svc, admin, "other")
    empty = factories.deployment(svc, admin, pcs[:1], [other.id], name="empty")
    svc.deployments.remove_job(admin, empty.job_ids[0])
    infos = {c.id: c for c in svc.deployments.list_containers(admin)}
    assert (infos[one.id].counts, infos[two.id].counts, infos[empty.id].counts) == (
        {"queued": 1},
        {"queued": 2},
        {},
    )
    assert (infos[one.id].status.value, infos[empty.id].status.value) == ("in_progress", "succeeded")


def test_a_rules_jobs_are_listed_by_their_place_in_the_package_group(svc: Services, admin: Actor) -> None:
    """deployments.containers.deployment_jobs 10 dropped the sequence from the order: a rule's
    job for a package put first in its group later came after the older jobs."""
    pc = factories.computer(svc, admin, "pc")
    a, b, c = (factories.package(svc, admin, name) for name in ("a", "b", "c"))
    cg = factories.group(svc, admin, "pcs", [pc])
    pg = factories.package_group(svc, admin, "set", [a.id, b.id])
    rule = svc.deployments.create_rule(admin, "rule", cg, pg)
    svc.packages.add_to_group(admin, pg, c.id)
    svc.packages.move_in_group(admin, pg, c.id, 1)
    jobs = svc.deployments.rule_jobs(admin, rule.id)
    assert [j.package_id for j in jobs] == [c.id, a.id, b.id]


def test_an_unlock_is_audited_as_the_user(svc: Services, admin: Actor) -> None:
    """users.service.unlock 34: the audit row's object type dropped."""
    mark = factories.audit_mark(svc)
    assert svc.users.unlock(admin, username="someone") == 0
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.detail) == (
        "user.unlock",
        "user",
        "someone",
        {"username": "someone", "address": None, "failures_cleared": 0},
    )
