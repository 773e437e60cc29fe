"""Behaviour that the whole-core mutation sample (docs/testing.md, "Mutation testing", seed
20261202) found no test of: what a caller is told when something is missing, what the audit log
keeps of a refused or successful change, limits at their exact bounds, and updates that must be
stored. Each test reads back the effect (the error a caller gets, the audit row, the stored
value), so it holds for any implementation that behaves the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import (
    AgentTimeout,
    AuthenticationFailed,
    FleetdeckError,
    NotFound,
    PermissionDenied,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.licenses.service import Contract, License, Pool, PoolSoftware
from fleetdeck.core.packages.entities import DependencyRule, PackageFields, PayloadFile
from fleetdeck.core.ports import AgentAddress, NullGateway
from fleetdeck.core.query import Query
from fleetdeck.core.reports.policy import TIERS, Limits, ReportFailed, json_safe
from fleetdeck.core.reports.sqlite_runner import SqliteRunner
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)


def audited(svc: Services, mark: int, action: str) -> list[tuple[str, str, str, dict[str, object]]]:
    return [
        (r.result, r.object_type, r.object_id, r.detail)
        for r in factories.audit_since(svc, mark)
        if r.action == action
    ]


def not_found(call: object) -> str:
    assert callable(call)
    with pytest.raises(NotFound) as err:
        call()
    return err.value.message


def test_not_found_says_what_and_which_id(svc: Services, admin: Actor) -> None:
    """The message is what every dialect shows a caller who named a missing object."""
    d, c, u, p = svc.deployments, svc.computers, svc.users, svc.packages
    assert not_found(lambda: c.delete(admin, 4242)) == "computer 4242 not found"
    assert not_found(lambda: d.rule_jobs(admin, 4243)) == "deployment rule 4243 not found"
    assert not_found(lambda: d.remove_container(admin, 4244)) == "job container 4244 not found"
    assert not_found(lambda: d.get_container(admin, 4244)) == "job container 4244 not found"
    assert not_found(lambda: p.payload(admin, 4245)) == "package 4245 not found"
    assert not_found(lambda: u.delete(admin, 4246)) == "user 4246 not found"
    assert not_found(lambda: svc.groups.add_members(admin, 4247, [])) == "group 4247 not found"


def test_a_refused_change_is_audited_with_its_object(svc: Services, admin: Actor) -> None:
    report = svc.reports.create(admin, "r", "SELECT 1")
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.reports.update(VIEWER, report.id, name="x")
    assert [(a, t, o) for a, t, o, _ in audited(svc, mark, "report.update")] == [
        ("denied", "report", str(report.id))
    ]


def test_setting_reset_is_audited_under_its_key(svc: Services, admin: Actor) -> None:
    svc.settings.set(admin, "wol.port", 7)
    mark = factories.audit_mark(svc)
    svc.settings.reset(admin, "wol.port")
    ((result, kind, key, detail),) = audited(svc, mark, "setting.reset")
    assert (result, kind, key, detail["old"]) == ("ok", "setting", "wol.port", 7)


def test_license_changes_are_audited_with_pool_and_license(svc: Services, admin: Actor) -> None:
    lic = svc.licenses
    pc = svc.computers.create(admin, "pc").id
    lic.put_contract(admin, Contract("c1"))
    lic.put_pool(admin, Pool("office", "Office", ["Office365"]))
    lic.put_license(admin, License("a", "c1"))
    lic.put_pool_member(admin, "a", "office", "")
    lic.put_pool_software(admin, PoolSoftware("office", "Word"))
    mark = factories.audit_mark(svc)
    lic.acquire(admin, pc, "office")
    lic.acquire(admin, pc, "office")  # the same computer again: its license is reused
    assert audited(svc, mark, "license.acquire") == [
        ("ok", "computer", str(pc), {"pool": "office", "license": "a"}),
        ("ok", "computer", str(pc), {"pool": "office", "license": "a", "reused": True}),
    ]
    assert lic.delete_pool_software(admin, PoolSoftware("Office", "Word")) == 1
    assert lic.delete_pool_member(admin, "a", "Office") == 1
    assert [(a, t, o) for a, t, o, _ in audited(svc, mark, "license_pool.remove_software")] == [
        ("ok", "license_pool", "Office")
    ]
    assert [(a, t, o) for a, t, o, _ in audited(svc, mark, "license_pool.remove_license")] == [
        ("ok", "license_pool", "Office")
    ]


def test_agent_timeouts_are_accepted_up_to_their_limit(svc: Services, admin: Actor) -> None:
    pc = svc.computers.create(admin, "pc").id
    assert svc.computers.probe(admin, [pc], 300) == {pc: False}  # the limit itself is allowed
    with pytest.raises(ValidationFailed, match="at most 300 s"):
        svc.computers.probe(admin, [pc], 300.5)


def test_a_rule_update_stores_name_and_sequence_mode(svc: Services, admin: Actor, clock: ManualClock) -> None:
    pcs = svc.groups.create(admin, "pcs")
    pkgs = svc.packages.create_group(admin, "base")
    rule = svc.deployments.create_rule(admin, "old", pcs.id, pkgs.id)
    clock.now = T0 + timedelta(minutes=5)
    svc.deployments.update_rule(admin, rule.id, name=" new ", sequence_mode=1)
    got = svc.deployments.get_rule(admin, rule.id)
    assert (got.name, got.sequence_mode, got.updated_at) == ("new", 1, T0 + timedelta(minutes=5))


def test_a_package_update_checks_versions_and_stores_dependencies(svc: Services, admin: Actor) -> None:
    one = factories.package(svc, admin, "tool", "1")
    two = factories.package(svc, admin, "tool", "2")
    lib = factories.package(svc, admin, "lib", "1")
    # Its own version and package version again is no clash with itself.
    same = svc.packages.update(admin, one.id, PackageFields(), version="1", package_version="1")
    assert (same.version, same.package_version) == ("1", "1")
    with pytest.raises(ValidationFailed) as err:
        svc.packages.update(admin, two.id, PackageFields(), version="1")
    assert err.value.detail["reason"] is Reason.VERSION_EXISTS
    moved = svc.packages.update(admin, two.id, PackageFields(), version="3", depends_on=[lib.id])
    assert (moved.version, moved.depends_on) == ("3", (lib.id,))
    assert svc.packages.get(admin, two.id).package.depends_on == (lib.id,)


def test_an_uninstall_already_pending_is_left_out_and_audited(svc: Services, admin: Actor) -> None:
    a, b = svc.computers.create(admin, "a").id, svc.computers.create(admin, "b").id
    pkg = factories.package(svc, admin, "tool", "1")
    on_a, on_b = (factories.installed(svc, admin, pc, pkg.id) for pc in (a, b))
    first = svc.deployments.uninstall(admin, "rm", installation_ids=[on_a.id])
    assert [j.sequence for j in svc.deployments.container_jobs(admin, first.id)] == [0]
    mark = factories.audit_mark(svc)
    second = svc.deployments.uninstall(admin, "rm both", installation_ids=[on_a.id, on_b.id])
    assert [j.computer_id for j in svc.deployments.container_jobs(admin, second.id)] == [b]
    ((result, _, _, detail),) = audited(svc, mark, "deployment.uninstall")
    assert result == "ok" and detail["already_pending"] == [[a, pkg.id, "package_uninstall"]]


def test_serialised_queries_take_lists_up_to_their_limit_and_name_bad_operators() -> None:
    assert len(Query.from_dict({"sort": ["id"] * 10}).sort) == 10  # 10 sort keys is the limit
    with pytest.raises(ValidationFailed, match="at most 10 entries"):
        Query.from_dict({"sort": ["id"] * 11})
    with pytest.raises(ValidationFailed, match="unknown operator 'matches'; allowed: eq"):
        Query.from_dict({"where": [{"field": "hostname", "op": "matches", "value": "x"}]})


def test_bad_exit_codes_are_named_in_the_error(svc: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        factories.package(svc, admin, "tool", "1", install_success_codes="0,x")
    assert err.value.message == "install_success_codes must be comma-separated integers"


def test_login_failures_and_stale_credentials_say_why(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    users = svc.users
    users.create(admin, "bob", "bob-password-1", Role.OPERATOR)
    with pytest.raises(AuthenticationFailed) as err:
        users.password_login("bob", "wrong-password", "10.0.0.1", "test")
    assert err.value.message == "invalid user name or password"
    bob, credential = users.password_login("bob", "bob-password-1", "10.0.0.1", "test")
    token = users.create_token(bob, "script", "read", T0 + timedelta(hours=1))
    _, by_token = users.basic_login("bob", token.token, "10.0.0.1", "test")
    assert users.resume(by_token, "10.0.0.1", "test").read_only
    clock.now = T0 + timedelta(hours=2)
    with pytest.raises(AuthenticationFailed) as err:
        users.resume(by_token, "10.0.0.1", "test")
    assert err.value.message == "API token expired"
    assert bob.user_id is not None
    users.set_password(admin, bob.user_id, "bob-password-2")
    with pytest.raises(AuthenticationFailed) as err:
        users.resume(credential, "10.0.0.1", "test")
    assert err.value.message == "invalid user name or password"


class AnsweringGateway(NullGateway):
    """core's ``AgentGateway`` port with agents that answer pings (computer ids in ``alive``)
    or stay silent (``silent``); asked addresses are recorded."""

    def __init__(self, alive: set[int], silent: set[int]) -> None:
        self.alive, self.silent = alive, silent
        self.asked: list[AgentAddress] = []

    def request_many(
        self, to: Sequence[AgentAddress], kind: str, body: Mapping[str, Any], timeout: float
    ) -> dict[int, dict[str, Any] | FleetdeckError]:
        self.asked.extend(to)
        out: dict[int, dict[str, Any] | FleetdeckError] = {}
        for a in to:
            if a.computer_id in self.alive:
                out[a.computer_id] = {"time": 0.0, "uptime": 1.0}
            elif a.computer_id in self.silent:
                out[a.computer_id] = AgentTimeout("no answer")
        return out


def test_probe_asks_the_connected_agents_and_counts_their_answers(
    runtime: Runtime, settings: Settings, admin: Actor
) -> None:
    services = runtime.services
    a, b, c = (services.computers.create(admin, n).id for n in ("a", "b", "c"))
    for pc in (a, b):
        services.computers.set_online(pc, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    gateway = AnsweringGateway(alive={a}, silent={b})
    svc = build_services(runtime.db, SECRET, CoreConfig(), gateway=gateway)
    assert svc.computers.probe(admin, [c, b, a], 5) == {a: True, b: False, c: False}
    assert sorted(x.computer_id for x in gateway.asked) == [a, b]  # c is not connected: not asked


def test_queued_jobs_are_announced_for_connected_computers_only(runtime: Runtime, admin: Actor) -> None:
    notifier = factories.RecordingNotifier()
    svc = build_services(runtime.db, SECRET, CoreConfig(), notifier=notifier)
    on, off = svc.computers.create(admin, "on").id, svc.computers.create(admin, "off").id
    svc.jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[on, off])
    svc.computers.set_online(on, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    notifier.queued.clear()
    assert svc.jobs.computers_with_queued(connected_only=True) == {on}
    assert svc.jobs.computers_with_queued() == {on, off}
    assert svc.jobs.announce_queued() == 1
    assert notifier.queued == [[on]]


def test_a_rule_job_queued_again_is_announced(runtime: Runtime, settings: Settings, admin: Actor) -> None:
    """A rule re-queues a finished install once its installation record is removed; the agent's
    hub must be told, or the job waits for the next reconnect."""
    notifier = factories.RecordingNotifier()
    svc = build_services(
        runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "payloads"), notifier=notifier
    )
    pc = svc.computers.create(admin, "pc").id
    pcs = factories.group(svc, admin, "pcs", [pc])
    pkg = factories.package(svc, admin, "tool", "1")
    rule = svc.deployments.create_rule(
        admin, "keep", pcs, factories.package_group(svc, admin, "base", [pkg.id])
    )
    (job,) = factories.deliver(svc, pc)
    factories.finish(svc, pc, job)
    (inst,) = svc.packages.list_installations(admin, computer_id=pc)
    notifier.queued.clear()
    svc.packages.remove_installation(admin, inst.id)
    assert notifier.queued == [[pc]]
    assert [j.status for j in svc.deployments.rule_jobs(admin, rule.id)] == ["queued"]
    notifier.queued.clear()
    svc.groups.add_members(admin, pcs, [pc])  # re-evaluated, still queued: nothing new to tell
    assert notifier.queued == []


def test_refusals_name_the_field_and_the_rule(svc: Services, admin: Actor) -> None:
    """A dialect puts ``field`` and the message in front of the caller."""
    pc = svc.computers.create(admin, "pc").id
    with pytest.raises(ValidationFailed) as err:
        svc.jobs.create_commands(admin, CommandRequest("ls", interpreter="fish"), computer_ids=[pc])
    assert (err.value.field, err.value.message) == (
        "interpreter",
        "interpreter must be one of sh, bash, zsh, powershell, cmd",
    )
    with pytest.raises(ValidationFailed) as err:
        svc.users.create_token(admin, "t", "everything", None)
    assert (err.value.field, err.value.message) == (
        "scope",
        "scope must be one of read, read+write, credentials",
    )
    with pytest.raises(ValidationFailed) as err:
        svc.users.create_token(admin, "t", "read", T0 - timedelta(seconds=1))
    assert (err.value.field, err.value.message) == ("expires_at", "expires_at must be in the future")
    with pytest.raises(ValidationFailed) as err:
        svc.enrollment.create_token(admin, expires_in=timedelta(seconds=-1))
    assert (err.value.field, err.value.message) == ("expires", "expiry must be in the future")
    lib = factories.package(svc, admin, "lib", "1")
    factories.package(svc, admin, "app", "1", depends_on=[lib.id])
    with pytest.raises(ValidationFailed) as err:
        svc.packages.delete(admin, lib.id, force=False)
    assert (err.value.message, err.value.detail["reason"]) == (
        "other packages depend on this package",
        Reason.HAS_DEPENDENTS,
    )


def test_installation_records_are_audited_with_the_package(svc: Services, admin: Actor) -> None:
    pc = svc.computers.create(admin, "pc").id
    pkg = factories.package(svc, admin, "tool", "1")
    mark = factories.audit_mark(svc)
    svc.packages.assign_installation(admin, pc, pkg.id)
    assert [(a, d) for a, _, _, d in audited(svc, mark, "installation.assign")] == [
        ("ok", {"package_id": pkg.id})
    ]


def test_a_clone_enrolling_is_audited_with_the_computer_it_looks_like(svc: Services, admin: Actor) -> None:
    token = svc.enrollment.create_token(admin, expires_in=None).token
    first = svc.enrollment.enroll(token, hostname="golden", machine_id="m1", agent_version="1", source="")
    mark = factories.audit_mark(svc)
    clone = svc.enrollment.enroll(token, hostname="golden", machine_id="m1", agent_version="1", source="")
    assert clone.clone_of == first.computer_id
    (row,) = [r for r in factories.audit_since(svc, mark) if r.detail.get("clone_of") is not None]
    assert (row.detail["clone_of"], row.detail["clone_hostname"]) == (first.computer_id, "golden")


def test_package_actions_on_one_computer(svc: Services, admin: Actor, clock: ManualClock) -> None:
    """The client-centred requests (install, uninstall, withdraw, forget per family) decided
    from what is pending and installed, in order."""
    deployments = svc.deployments
    pc = svc.computers.create(admin, "pc").id
    factories.package(svc, admin, "tool", "1")
    tool2 = factories.package(svc, admin, "tool", "2")
    lib = factories.package(svc, admin, "lib", "1")
    old = factories.package(svc, admin, "old", "1")
    kept = factories.installed(svc, admin, pc, old.id)

    def jobs(container_id: int) -> list[tuple[int | None, str, str]]:
        return [(j.package_id, j.kind, j.status) for j in deployments.container_jobs(admin, container_id)]

    mark = factories.audit_mark(svc)
    done = deployments.apply_package_actions(
        admin, pc, [("tool", PackageAction.INSTALL), ("lib", PackageAction.INSTALL)], name="client"
    )
    (container,) = done.container_ids
    assert jobs(container) == [(tool2.id, "package_install", "queued"), (lib.id, "package_install", "queued")]
    got = deployments.get_container(admin, container)
    assert (got.name, got.priority, got.shutdown_waked_after_completion) == ("client", 0, False)
    ((result, kind, oid, detail),) = audited(svc, mark, "deployment.create")
    assert (result, kind, oid) == ("ok", "job_batch", str(container))
    assert detail["steps"] == [["tool", "install"], ["lib", "install"]] and detail["containers"] == [
        container
    ]

    again = deployments.apply_package_actions(admin, pc, [("tool", PackageAction.INSTALL)], name="x")
    assert (again.container_ids, again.unchanged) == ((), ("tool",))  # pending already

    mark = factories.audit_mark(svc)
    gone = deployments.apply_package_actions(admin, pc, [("lib", PackageAction.WITHDRAW)], name="x")
    assert gone.withdrawn == (done.job_ids[1],) and jobs(container) == [
        (tool2.id, "package_install", "queued")
    ]
    ((result, kind, oid, detail),) = audited(svc, mark, "deployment.withdraw")
    assert (result, kind, oid, detail["withdrawn"]) == ("ok", "computer", str(pc), [done.job_ids[1]])

    with pytest.raises(ValidationFailed) as err:
        deployments.apply_package_actions(admin, pc, [("lib", PackageAction.UNINSTALL)], name="x")
    assert err.value.detail["reason"] is Reason.NOT_INSTALLED
    assert (
        not_found(
            lambda: deployments.apply_package_actions(admin, 4242, [("lib", PackageAction.INSTALL)], name="x")
        )
        == "computer 4242 not found"
    )
    assert (
        not_found(
            lambda: deployments.apply_package_actions(admin, pc, [("nope", PackageAction.INSTALL)], name="x")
        )
        == "package family nope not found"
    )

    removal = deployments.apply_package_actions(admin, pc, [("old", PackageAction.UNINSTALL)], name="rm")
    (rm,) = removal.container_ids
    assert jobs(rm) == [(old.id, "package_uninstall", "queued")]
    twice = deployments.apply_package_actions(admin, pc, [("old", PackageAction.UNINSTALL)], name="rm")
    assert (twice.container_ids, twice.unchanged) == ((), ("old",))

    forgot = deployments.apply_package_actions(admin, pc, [("old", PackageAction.FORGET)], name="x")
    assert forgot.forgotten == (kept.id,) and forgot.withdrawn == removal.job_ids
    assert svc.packages.list_installations(admin, computer_id=pc) == []
    with pytest.raises(PermissionDenied):
        deployments.apply_package_actions(VIEWER, pc, [("tool", PackageAction.INSTALL)], name="x")


def test_a_package_is_put_by_family_key_and_version(svc: Services, admin: Actor, clock: ManualClock) -> None:
    """Create-or-update addressed by family key, version and package version."""
    put = svc.packages.put_version
    fields = PackageFields(install_procedure="install it", uninstall_procedure="remove it")
    assert put(admin, "tool", "1", "1", PackageFields(), new_fields=None) is None  # missing stays missing
    made = put(admin, "tool", "1", "1", PackageFields(), new_fields=fields, name="The Tool")
    assert made is not None and (made.version, made.package_version) == ("1", "1")
    assert svc.packages.get_family(admin, made.family_id).name == "The Tool"
    clock.now = T0 + timedelta(minutes=1)
    mark = factories.audit_mark(svc)
    changed = put(admin, "tool", "1", "1", PackageFields(description="new"), new_fields=fields)
    assert changed is not None and (changed.id, changed.description) == (made.id, "new")
    assert changed.updated_at == T0 + timedelta(minutes=1)
    assert [(r, o, d) for r, _, o, d in audited(svc, mark, "package.update")] == [
        ("ok", str(made.id), {"fields": ["description"], "payload": False})
    ]
    other = put(admin, "tool", "2", "1", PackageFields(), new_fields=fields)  # the family's name
    assert other is not None and other.family_id == made.family_id and other.id != made.id
    # opsi's meta and uninstall-only products have no setup script: an empty install
    # procedure is stored through put_version (installing runs nothing; issue #13)
    emptied = put(admin, "tool", "1", "1", PackageFields(install_procedure=""), new_fields=None)
    assert emptied is not None and (emptied.id, emptied.install_procedure) == (made.id, "")


def test_installed_families_are_recorded_and_forgotten_by_key(svc: Services, admin: Actor) -> None:
    pc = svc.computers.create(admin, "pc").id
    one = factories.package(svc, admin, "tool", "1")
    two = factories.package(svc, admin, "tool", "2")
    factories.installed(svc, admin, pc, one.id)
    packages = svc.packages

    def installed() -> list[int]:
        return sorted(i.package_id for i in packages.list_installations(admin, computer_id=pc))

    assert packages.set_family_installed(admin, pc, "tool", True) == [two.id]  # the newest
    assert installed() == [one.id, two.id]
    assert packages.set_family_installed(admin, pc, "tool", True) == []  # recorded already
    mark = factories.audit_mark(svc)
    assert sorted(packages.set_family_installed(admin, pc, "tool", False)) == [one.id, two.id]
    assert installed() == []
    ((result, kind, oid, detail),) = audited(svc, mark, "installation.remove")
    assert (result, kind, oid, detail["family_key"]) == ("ok", "computer", str(pc), "tool")
    assert not_found(lambda: packages.set_family_installed(admin, pc, "nope", True)) == (
        "package family nope not found"
    )
    assert not_found(lambda: packages.set_family_installed(admin, 4242, "tool", True)) == (
        "computer 4242 not found"
    )


def test_package_groups_list_their_family_keys(svc: Services, admin: Actor) -> None:
    a1, a2 = factories.package(svc, admin, "alpha", "1"), factories.package(svc, admin, "alpha", "2")
    beta = factories.package(svc, admin, "beta", "1")
    both = factories.package_group(svc, admin, "both", [beta.id, a1.id, a2.id])
    only = factories.package_group(svc, admin, "only", [beta.id])
    factories.package_group(svc, admin, "empty")
    assert svc.packages.group_family_keys(VIEWER) == {both: ["alpha", "beta"], only: ["beta"]}


def test_a_user_reads_their_own_record_only(svc: Services, admin: Actor) -> None:
    bob = factories.user(svc, Role.VIEWER, "bob")
    assert bob.user_id is not None and admin.user_id is not None
    assert svc.users.get(bob, bob.user_id).username == "bob"
    with pytest.raises(PermissionDenied):
        svc.users.get(bob, admin.user_id)
    assert svc.users.get(admin, bob.user_id).username == "bob"
    assert not_found(lambda: svc.users.get(admin, 4242)) == "user 4242 not found"


def test_an_agent_may_report_only_on_its_own_jobs(svc: Services, admin: Actor) -> None:
    mine, other = svc.computers.create(admin, "mine").id, svc.computers.create(admin, "other").id
    (job,) = factories.commands(svc, admin, [mine])
    (foreign,) = factories.commands(svc, admin, [other])
    agent = Actor(user_id=None, username="agent", role=Role.VIEWER, via="agent", computer_id=mine)
    assert svc.jobs.agent_may_report(agent, mine, job, "result")
    assert not svc.jobs.agent_may_report(agent, mine, 4242, "result")  # deleted or stale: dropped
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.jobs.agent_may_report(agent, mine, foreign, "output")
    assert audited(svc, mark, "agent.foreign_job") == [
        ("denied", "job", str(foreign), {"computer_id": mine, "job_computer_id": other, "frame": "output"})
    ]


def test_a_package_is_put_first_in_its_group(svc: Services, admin: Actor) -> None:
    a, b = factories.package(svc, admin, "a", "1"), factories.package(svc, admin, "b", "1")
    group = factories.package_group(svc, admin, "g", [a.id])
    mark = factories.audit_mark(svc)
    assert svc.packages.add_to_group(admin, group, b.id, sequence=1) == 1  # 1 is the first place
    assert [(n, p.id) for n, p in svc.packages.group_packages(admin, group)] == [(1, b.id), (2, a.id)]
    assert [d for _, _, _, d in audited(svc, mark, "package_group.add_member")] == [
        {"package_id": b.id, "sequence": 1}
    ]
    with pytest.raises(ValidationFailed, match="sequence starts at 1"):
        svc.packages.add_to_group(admin, group, b.id, sequence=0)


def test_jobs_aborted_after_a_failure_end_when_it_was_reported(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    pc = svc.computers.create(admin, "pc").id
    p1, p2 = factories.package(svc, admin, "one", "1"), factories.package(svc, admin, "two", "1")
    created = svc.deployments.deploy(
        admin, "d", computer_ids=[pc], package_ids=[p1.id, p2.id], sequence_mode=1
    )
    first, second = created.job_ids
    clock.now = T0 + timedelta(minutes=3)
    factories.finish(svc, pc, first, status="failed", exit_code=1)
    aborted = svc.jobs.get(admin, second)
    assert (aborted.status, aborted.finished_at) == ("failed", T0 + timedelta(minutes=3))


def test_deployments_made_at_the_same_moment_are_delivered_in_the_order_made(
    svc: Services, admin: Actor
) -> None:
    """The clock does not move between the two: the older container still goes first, whole."""
    pc = svc.computers.create(admin, "pc").id
    p1, p2, p3 = (factories.package(svc, admin, n, "1").id for n in ("one", "two", "three"))
    first = svc.deployments.deploy(admin, "first", computer_ids=[pc], package_ids=[p1, p2])
    second = svc.deployments.deploy(admin, "second", computer_ids=[pc], package_ids=[p3])
    assert factories.deliver(svc, pc) == [*first.job_ids, *second.job_ids]
    assert {j.sent_at for j in svc.deployments.container_jobs(admin, first.id)} == {T0}


def test_a_report_on_a_database_file_that_cannot_be_opened_is_an_sql_error(tmp_path: Path) -> None:
    runner = SqliteRunner(str(tmp_path / "missing" / "fleetdeck.db"))
    with pytest.raises(ReportFailed) as err:
        runner.run("SELECT 1", Limits(max_rows=10, max_bytes=10_000, timeout_sec=5), TIERS[0])
    assert err.value.detail["kind"] == "sql_error"
    assert err.value.message.startswith("cannot open the database read-only")


def test_deployment_schedules_keep_their_restart_timeout_and_need_time_zones(
    svc: Services, admin: Actor
) -> None:
    pc = svc.computers.create(admin, "pc").id
    pkg = factories.package(svc, admin, "tool", "1").id
    made = svc.deployments.deploy(admin, "d", computer_ids=[pc], package_ids=[pkg], restart_timeout_min=7)
    assert svc.deployments.get_container(admin, made.id).restart_timeout_min == 7
    with pytest.raises(ValidationFailed) as err:
        svc.deployments.deploy(
            admin, "d", computer_ids=[pc], package_ids=[pkg], start=datetime(2026, 3, 2, 9)
        )
    assert (err.value.field, err.value.detail["reason"]) == ("start", Reason.INVALID)
    with pytest.raises(ValidationFailed) as err:
        svc.deployments.deploy(admin, "d", computer_ids=[pc], package_ids=[pkg], sequence_mode=2)
    assert (err.value.field, err.value.message) == ("sequence_mode", "sequence_mode must be 0 or 1")


def test_a_setting_of_the_wrong_type_says_what_it_expects(svc: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        svc.settings.set(admin, "wol.port", "nine")
    assert err.value.message == "wol.port: expected an integer"
    with pytest.raises(ValidationFailed) as err:
        svc.settings.set(admin, "wol.port", True)  # a bool is an int in Python, not a port
    assert err.value.message == "wol.port: expected an integer"


def test_dependency_rules_are_read_back_by_action_then_package(svc: Services, admin: Actor) -> None:
    """A stable order: clients (opsi's productDependency lists) show the rules as stored."""
    docs = factories.package(svc, admin, "docs", "1").id  # the lower id
    runtime = factories.package(svc, admin, "runtime", "1").id
    app = factories.package(svc, admin, "app", "1").id
    uninstall_docs = DependencyRule(
        docs, action="uninstall", required_action="uninstall", required_status=None
    )
    setup_runtime = DependencyRule(runtime)
    info = svc.packages.set_dependency_rules(admin, app, [uninstall_docs, setup_runtime])
    assert info.dependency_rules == (setup_runtime, uninstall_docs)


def test_setting_changes_are_audited_under_the_setting(svc: Services, admin: Actor) -> None:
    mark = factories.audit_mark(svc)
    svc.settings.set(admin, "wol.port", 7)
    assert [(r, t, o) for r, t, o, _ in audited(svc, mark, "setting.set")] == [("ok", "setting", "wol.port")]


def test_plain_dependencies_replace_only_plain_setup_rules(svc: Services, admin: Actor) -> None:
    lib = factories.package(svc, admin, "lib", "1").id
    app = factories.package(svc, admin, "app", "1").id
    on_uninstall = DependencyRule(lib, action="uninstall", required_action=None, required_status="installed")
    svc.packages.set_dependency_rules(admin, app, [on_uninstall])
    info = svc.packages.set_dependencies(admin, app, [])
    assert info.dependency_rules == (on_uninstall,)  # not a plain setup rule: kept


def test_package_texts_with_nul_are_refused_by_field(svc: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        factories.package(svc, admin, "tool", "1", description="a\x00b")
    assert (err.value.field, err.value.message) == ("description", "description is not valid text")


def test_a_payload_file_given_twice_is_refused_by_field(svc: Services, admin: Actor) -> None:
    files = [PayloadFile("a.sh", b"1"), PayloadFile("a.sh", b"2")]
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(admin, "tool", "1", PackageFields(install_procedure="x"), files=files)
    assert (err.value.field, err.value.message) == ("files", "file 'a.sh' given twice")


def test_deleting_a_rule_leaves_the_other_rules(svc: Services, admin: Actor) -> None:
    pcs = svc.groups.create(admin, "pcs")
    pkgs = svc.packages.create_group(admin, "base")
    gone = svc.deployments.create_rule(admin, "gone", pcs.id, pkgs.id)
    kept = svc.deployments.create_rule(admin, "kept", pcs.id, pkgs.id)
    svc.deployments.delete_rule(admin, gone.id)
    assert [r.name for r in svc.deployments.list_rules(admin)] == ["kept"]
    assert svc.deployments.get_rule(admin, kept.id).created_at == T0


def test_more_refusals_say_what_and_where(svc: Services, admin: Actor) -> None:
    """Found by the fresh sample (seed 20261203): texts and fields a caller is shown."""
    with pytest.raises(NotFound) as err:
        svc.groups.create(admin, "child", parent_id=4242)
    assert err.value.message == "group 4242 not found"
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(
            admin, "tool", "1", PackageFields(install_procedure="x"), files=[PayloadFile("../x", b"1")]
        )
    assert (err.value.field, err.value.message) == ("files", "invalid file name '../x'")
    with pytest.raises(AuthenticationFailed) as err:
        svc.users.authenticate_bearer("not-a-token", "10.0.0.1", "test")
    assert err.value.message == "invalid or expired token"


def test_whole_decimals_from_reports_are_integers() -> None:
    assert json_safe(Decimal("42.000")) == 42 and type(json_safe(Decimal("42"))) is int
    assert json_safe(Decimal("1.5")) == 1.5
