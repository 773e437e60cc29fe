"""Behaviour that the whole-core mutation sample (docs/testing.md, "Mutation testing", seed
20261202) found no test of: what a caller is told when something is missing, what the audit log
keeps of a refused or successful change, limits at their exact bounds, and updates that must be
stored. Each test reads back the effect (the error a caller gets, the audit row, the stored
value), so it holds for any implementation that behaves the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.licenses.service import Contract, License, Pool, PoolSoftware
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.core.query import Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    return build_services(
        runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "payloads"), clock=clock
    )


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


def test_a_rule_update_stores_name_and_sequence_mode(svc: Services, admin: Actor) -> None:
    pcs = svc.groups.create(admin, "pcs")
    pkgs = svc.packages.create_group(admin, "base")
    rule = svc.deployments.create_rule(admin, "old", pcs.id, pkgs.id)
    svc.deployments.update_rule(admin, rule.id, name=" new ", sequence_mode=1)
    got = svc.deployments.get_rule(admin, rule.id)
    assert (got.name, got.sequence_mode) == ("new", 1)


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
