"""Behaviour that the fifth whole-core mutation sample (docs/testing.md, "Mutation testing", seed
20261206) found no test of, mostly in the users service: the limits of a password, what a login
token and a resumed session carry, the throttle's last second, what the audit log keeps of an
unlock or a token revocation, and that disabling the last admin is refused like demoting them.
Each test reads the effect back through core's own services. (New test functions in a new file:
mutmut traces only tests it has not seen, see docs/testing.md.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.audit import AuditRecord
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    Unavailable,
    ValidationFailed,
)
from fleetdeck.core.licenses.service import Pool, PoolSoftware
from fleetdeck.core.packages.entities import PackageFields, PackageImport
from fleetdeck.core.ports import NullJobWatch
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config as PropertyConfig
from tests import factories
from tests.conftest import BACKEND
from tests.factories import PASSWORD, ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_reads import write_transactions


def _last_audit(svc: Services, mark: int, action: str) -> AuditRecord:
    rows = [r for r in factories.audit_since(svc, mark) if r.action == action]
    assert rows, f"no {action} audited"
    return rows[-1]


# ------------------------------------------------------------------ users


def test_a_password_may_be_1024_characters_and_a_short_one_is_refused_as_the_password(
    svc: Services, admin: Actor
) -> None:
    """``_check_password`` 8 refused exactly 1024 characters (the limit is inclusive); 5 dropped
    the field of the too-short refusal, which the API reports as the offending field."""
    made = svc.users.create(admin, "longest", "p" * 1024, Role.VIEWER)
    assert svc.users.authenticate_password("longest", "p" * 1024, "127.0.0.1", "test").user_id == made.id
    with pytest.raises(ValidationFailed) as err:
        svc.users.create(admin, "shorty", "p" * 7, Role.VIEWER)
    assert (err.value.field, err.value.message) == ("password", "password must have at least 8 characters")


def test_a_new_users_email_is_stored(svc: Services, admin: Actor) -> None:
    """``_insert`` 24 stored no e-mail address."""
    made = svc.users.create(admin, "mailer", PASSWORD, Role.VIEWER, email="mailer@example.org")
    assert made.email == "mailer@example.org"
    assert svc.users.get(admin, made.id).email == "mailer@example.org"


def test_a_login_token_says_when_it_was_issued(svc: Services, admin: Actor, clock: ManualClock) -> None:
    """login 39 renamed the ``iat`` claim: the token then carried no issue time."""
    factories.user(svc, Role.VIEWER, "ivy")
    result = svc.users.login("ivy", PASSWORD, "127.0.0.1")
    claims = jwt.decode(result.token, options={"verify_signature": False})
    assert claims["iat"] == int(T0.timestamp())
    assert claims["exp"] == int(result.expires_at.timestamp())


def test_a_locked_out_name_stays_locked_until_its_last_failure_leaves_the_window(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """password_login 7 let a name in while less than a second of its lock-out was left (``wait >
    1`` instead of ``> 0``): even the right password is refused until the window has passed."""
    factories.user(svc, Role.VIEWER, "lock")
    for _ in range(5):  # CoreConfig.login_max_failures
        with pytest.raises(AuthenticationFailed):
            svc.users.authenticate_password("lock", "wrong-password", "10.0.0.9", "test")
    clock.now = T0 + timedelta(seconds=299.5)  # the window is 300 s
    with pytest.raises(TooManyAttempts) as err:
        svc.users.authenticate_password("lock", PASSWORD, "10.0.0.9", "test")
    assert err.value.retry_after == 0.5
    clock.now = T0 + timedelta(seconds=300)
    assert svc.users.authenticate_password("lock", PASSWORD, "10.0.0.9", "test").username == "lock"


def test_a_resumed_session_is_the_same_user_and_takes_no_write_lock(
    runtime: Runtime, svc: Services, admin: Actor
) -> None:
    """resume 47 made the actor without its user id; 2 read the user in a writing transaction
    (resume runs on every request of a web session)."""
    who = factories.user(svc, Role.OPERATOR, "resumer")
    _actor, credential = svc.users.session_login("resumer", PASSWORD, "127.0.0.1", "web")
    with write_transactions(runtime.db.engine) as writes:
        again = svc.users.resume(credential, "127.0.0.2", "web")
    assert (again.user_id, again.username, again.role, again.source) == (
        who.user_id,
        "resumer",
        Role.OPERATOR,
        "127.0.0.2",
    )
    if BACKEND == "sqlite":
        assert writes == []


def test_a_bearer_token_keeps_the_callers_address_and_a_stale_one_is_refused_in_words(
    runtime: Runtime, admin: Actor
) -> None:
    """authenticate_bearer 60 dropped the caller's address (which the audit log records); 56
    garbled the refusal of a token whose user has since been disabled. (On the real clock: the
    JWT library checks the expiry against it.)"""
    users = runtime.services.users
    who = factories.user(runtime.services, Role.VIEWER, "bearer")
    token = users.login("bearer", PASSWORD, "127.0.0.1").token
    actor = users.authenticate_bearer(token, "192.0.2.7", "api")
    assert (actor.user_id, actor.source, actor.via) == (who.user_id, "192.0.2.7", "api")
    users.update(admin, who.user_id or 0, disabled=True)
    with pytest.raises(AuthenticationFailed) as err:
        users.authenticate_bearer(token, "192.0.2.7", "api")
    assert err.value.message == "invalid or expired token"


def test_the_last_enabled_admin_cannot_be_disabled(svc: Services, admin: Actor) -> None:
    """update 54 looked for the change under another key, so disabling the only enabled admin
    went through (demoting them was refused) and nobody could manage the server any more."""
    with pytest.raises(Conflict) as err:
        svc.users.update(admin, admin.user_id or 0, disabled=True)
    assert err.value.message == "at least one enabled admin must remain"
    assert svc.users.get(admin, admin.user_id or 0).disabled is False
    second = factories.user(svc, Role.ADMIN, "second-admin")
    assert svc.users.update(admin, second.user_id or 0, disabled=True).disabled is True


def test_an_unlock_is_audited_with_what_it_cleared(svc: Services, admin: Actor) -> None:
    """unlock 55 and 58 renamed the detail's ``username`` and ``failures_cleared``."""
    factories.user(svc, Role.VIEWER, "forgetful")
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            svc.users.authenticate_password("forgetful", "wrong-password", "10.0.0.8", "test")
    mark = factories.audit_mark(svc)
    assert svc.users.unlock(admin, username="forgetful") == 2
    assert _last_audit(svc, mark, "user.unlock").detail == {
        "username": "forgetful",
        "address": None,
        "failures_cleared": 2,
    }


def test_a_token_revocation_is_audited_as_one(svc: Services, admin: Actor) -> None:
    """revoke_token 9 garbled the audit action, so a revocation could not be found by it."""
    owner = factories.user(svc, Role.OPERATOR, "owner")
    token = svc.users.create_token(owner, "ci", "read+write", None)
    mark = factories.audit_mark(svc)
    svc.users.revoke_token(owner, token.info.id)
    row = _last_audit(svc, mark, "token.revoke")
    assert (row.object_type, row.object_id, row.result) == ("api_token", str(token.info.id), "ok")
    assert svc.users.list_tokens(owner) == []


# ------------------------------------------------------------------ sample of seed 20261205


def test_a_bad_sort_key_is_refused_as_the_sort(svc: Services) -> None:
    """``Query.from_dict`` 60 dropped the field of the refusal (the API names it to the caller)."""
    with pytest.raises(ValidationFailed) as err:
        Query.from_dict({"sort": ["name; drop table"]})
    assert (err.value.field, err.value.message) == (
        "sort",
        "sort keys are field names, not 'name; drop table'",
    )


def test_computers_own_config_values_are_filtered_by_the_query(svc: Services, admin: Actor) -> None:
    """``ConfigService.values`` 26 built the filter without its condition (a TypeError: every
    filtered read of config values failed)."""
    a, b = factories.computer(svc, admin, "a"), factories.computer(svc, admin, "b")
    svc.configs.put(admin, PropertyConfig("lang"))
    svc.configs.put(admin, PropertyConfig("theme"))
    svc.configs.set_value(admin, "lang", a, ["de"])
    svc.configs.set_value(admin, "theme", a, ["dark"])
    svc.configs.set_value(admin, "lang", b, ["fr"])
    only_lang = Query(where=(Cond("key", Op.EQ, "lang"),))
    found = sorted((v.computer_id, v.key, v.values) for v in svc.configs.values(admin, None, only_lang))
    assert found == [(a, "lang", ["de"]), (b, "lang", ["fr"])]  # ordered by key only
    assert [(v.key, v.values) for v in svc.configs.values(admin, [a], only_lang)] == [("lang", ["de"])]


# ------------------------------------------------------------------ small functions no test ran


def test_a_deployment_that_only_repeats_pending_jobs_is_refused_saying_so(
    svc: Services, admin: Actor
) -> None:
    """``validation.all_pending`` had no test in the subset."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    factories.deployment(svc, admin, [pc], [pkg.id])
    with pytest.raises(ValidationFailed) as err:
        factories.deployment(svc, admin, [pc], [pkg.id])
    assert err.value.message == "the request produced no jobs: every one of them is pending already"
    assert err.value.detail.get("reason") == "all_pending"


def test_a_query_narrowed_with_and_keeps_its_sort_and_page() -> None:
    """``Query.and_`` had no test in the subset."""
    q = Query(where=(Cond("a", Op.EQ, 1),), limit=5, offset=10).and_(Cond("b", Op.EQ, 2), Cond("c", Op.EQ, 3))
    assert q.to_dict() == {
        "where": [
            {"field": "a", "op": "eq", "value": 1},
            {"field": "b", "op": "eq", "value": 2},
            {"field": "c", "op": "eq", "value": 3},
        ],
        "sort": [],
        "limit": 5,
        "offset": 10,
    }


def test_a_process_without_a_message_bus_cannot_wait_for_jobs() -> None:
    """``NullJobWatch`` had no test in the subset: both waits refuse in words."""
    watch = NullJobWatch()
    with pytest.raises(Unavailable, match="cannot wait for jobs"):
        watch.wait_final([1], 1.0, lambda ids: set())
    with pytest.raises(Unavailable, match="cannot wait for jobs"):
        asyncio.run(watch.await_final([1], 1.0, lambda ids: set()))


# ------------------------------------------------------------------ seed 20261206 on today's core


def test_a_login_answers_with_the_user_it_logged_in(svc: Services, admin: Actor) -> None:
    """login 27 answered without the user (``LoginResult.user`` None)."""
    who = factories.user(svc, Role.OPERATOR, "dora")
    user = svc.users.login("dora", PASSWORD, "127.0.0.1").user
    assert (user.id, user.username, user.role) == (who.user_id, "dora", Role.OPERATOR)


def test_a_refused_unlock_naming_nobody_is_audited_without_an_object(svc: Services, admin: Actor) -> None:
    """unlock 20 wrote ``"XXXX"`` as the object of a refused unlock that named no user."""
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.users.unlock(viewer)
    row = _last_audit(svc, mark, "user.unlock")
    assert (row.result, row.object_type, row.object_id) == ("denied", "user", "")


def test_an_import_of_another_package_version_is_a_new_package(svc: Services, admin: Actor) -> None:
    """``_locked_version`` 11 matched a package by family and version only: importing 1.0-2
    replaced 1.0-1 instead of adding the new package version beside it."""
    fields = PackageFields(install_procedure="setup")
    first = svc.packages.import_package(admin, PackageImport("tool", "Tool", "1.0", "1", fields)).package
    second = svc.packages.import_package(admin, PackageImport("tool", "Tool", "1.0", "2", fields))
    assert second.replaced is False and second.package.id != first.id
    assert svc.packages.get(admin, first.id).package.package_version == "1"


def test_package_refusals_and_renames_say_what_happened(svc: Services, admin: Actor) -> None:
    """update 42 dropped the message of a refusal for an emptied install procedure;
    update_family 58 the old and new name from the rename's audit row; move_in_group 41
    garbled the refusal of sequence 0."""
    pkg = factories.package(svc, admin, "tool")
    with pytest.raises(ValidationFailed) as err:
        svc.packages.update(admin, pkg.id, PackageFields(install_procedure=""))
    assert err.value.message == "please fill the required fields"
    mark = factories.audit_mark(svc)
    svc.packages.update_family(admin, pkg.family_id, name="Tool Two")
    assert _last_audit(svc, mark, "package_family.update").detail["name"] == ["tool", "Tool Two"]
    group = factories.package_group(svc, admin, "pg", [pkg.id])
    with pytest.raises(ValidationFailed) as err:
        svc.packages.move_in_group(admin, group, pkg.id, 0)
    assert (err.value.field, err.value.message) == ("sequence", "sequence starts at 1")


def test_computer_group_refusals_name_what_is_wrong(svc: Services, admin: Actor) -> None:
    """groups: member_ids 21 (the NotFound's object type), put 48 (the field of a key taken by a
    group of another kind), update 52 (the message of a bad name), remove_members 17 (the
    object type of the audit row)."""
    with pytest.raises(NotFound) as missing:
        svc.groups.member_ids([10**6])
    assert (missing.value.object_type, missing.value.object_id) == ("group", 10**6)
    svc.reports.groups.create(admin, "rg")
    with pytest.raises(Conflict) as taken:
        svc.groups.put(admin, "report-rg")
    assert (taken.value.detail.get("field"), taken.value.message) == ("key", "group key 'report-rg' is taken")
    pc = factories.computer(svc, admin, "pc")
    gid = factories.group(svc, admin, "g", [pc])
    with pytest.raises(ValidationFailed) as err:
        svc.groups.update(admin, gid, name="")
    assert (err.value.field, err.value.message) == ("name", "name must be 1-255 characters")
    mark = factories.audit_mark(svc)
    svc.groups.remove_members(admin, gid, [pc])
    row = _last_audit(svc, mark, "group.remove_members")
    assert (row.object_type, row.object_id, row.detail) == ("group", str(gid), {"removed": [pc]})


def test_report_changes_are_audited_as_the_report_and_a_group_has_no_description_by_default(
    svc: Services, admin: Actor
) -> None:
    """reports.service.update 28 audited without the report's id; reports.groups.create 1 gave a
    new group the description ``"XXXX"``."""
    report = svc.reports.create(admin, "r", "SELECT 1")
    mark = factories.audit_mark(svc)
    svc.reports.update(admin, report.id, notes="n")
    row = _last_audit(svc, mark, "report.update")
    assert (row.object_type, row.object_id) == ("report", str(report.id))
    assert svc.reports.groups.create(admin, "plain").description == ""


def test_config_entries_are_found_by_a_query_and_an_announcement_audits_its_defaults(
    svc: Services, admin: Actor
) -> None:
    """configs.entries 7 failed every query; announce 51 audited no default values."""
    svc.configs.put(admin, PropertyConfig("motd", default_values=["hello"]))
    svc.configs.put(admin, PropertyConfig("other"))
    assert [c.key for c in svc.configs.entries(admin, Query(where=(Cond("key", Op.EQ, "motd"),)))] == ["motd"]
    mark = factories.audit_mark(svc)
    svc.jobs.announce(
        admin, [PropertyConfig("banner", default_values=["hi"])], None, expires_in=timedelta(hours=1)
    )
    assert _last_audit(svc, mark, "config.put").detail == {"default_values": {"banner": ["hi"]}}


def test_an_uninstall_through_package_actions_is_audited_as_its_container(
    svc: Services, admin: Actor
) -> None:
    """apply_package_actions 16 audited an uninstall as the computer, not as the container it
    made (``deployment.uninstall`` is a container's action, as ``deployment.create`` is)."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    factories.installed(svc, admin, pc, pkg.id)
    mark = factories.audit_mark(svc)
    done = svc.deployments.apply_package_actions(admin, pc, [("tool", PackageAction.UNINSTALL)], name="opsi")
    row = _last_audit(svc, mark, "deployment.uninstall")
    assert row.object_type == "job_batch" and row.object_id == str(done.container_ids[0])


def test_software_of_a_license_pool_is_listed_by_name(svc: Services, admin: Actor) -> None:
    """pool_software 4 dropped the name from the order."""
    svc.licenses.put_pool(admin, Pool("office"))
    for name in ("Writer", "Calc", "Impress"):
        svc.licenses.put_pool_software(admin, PoolSoftware("office", name))
    assert [p.name for p in svc.licenses.pool_software(admin)] == ["Calc", "Impress", "Writer"]


def test_listing_package_group_families_takes_no_write_lock(
    runtime: Runtime, svc: Services, admin: Actor
) -> None:
    """group_family_keys 5 read in a writing transaction."""
    pkg = factories.package(svc, admin, "tool")
    gid = factories.package_group(svc, admin, "pg", [pkg.id])
    with write_transactions(runtime.db.engine) as writes:
        assert svc.packages.group_family_keys(admin) == {gid: ["tool"]}
    if BACKEND == "sqlite":
        assert writes == []


def test_a_rules_job_carries_the_packages_install_procedure_to_the_agent(svc: Services, admin: Actor) -> None:
    """evaluation ``_upsert`` 30 made a rule's jobs without their procedure: the agent was sent
    an empty one and ran nothing (deployments made directly were not affected)."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(
        svc, admin, "tool", install_procedure="setup.sh --quiet", install_success_codes="0"
    )
    svc.deployments.create_rule(
        admin,
        "r",
        factories.group(svc, admin, "g", [pc]),
        factories.package_group(svc, admin, "pg", [pkg.id]),
    )
    [(_cid, spec)] = svc.jobs.claim_for_delivery([pc])
    assert (spec.kind, spec.params["procedure"], spec.params["success_codes"]) == (
        "package_install",
        "setup.sh --quiet",
        "0",
    )
