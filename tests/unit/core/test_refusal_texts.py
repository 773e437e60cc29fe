"""Core's refusals say what is wrong, in words a dialect passes on: each refusal here is
asserted with its type, its exact message, its field and reason, and for audited calls the
audit row of the refusal. Tests elsewhere checked most of these refusals by type only, so a
garbled or emptied message passed them (docs/testing.md, "Mutation testing": string literals
of core that no test of the subset named)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.computers.service import ComputerService
from fleetdeck.core.deployments import validation
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    FleetdeckError,
    NotFound,
    PermissionDenied,
    Reason,
    Unavailable,
    ValidationFailed,
)
from fleetdeck.core.jobs.entities import ActionRequest, CommandRequest
from fleetdeck.core.licenses.service import Contract, License, Pool, PoolSoftware
from fleetdeck.core.packages.entities import DependencyRule, PackageFields, PayloadFile
from fleetdeck.core.ports import NullGateway, NullNotifier
from fleetdeck.core.query import Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.settings.configs import Config
from fleetdeck.core.settings.registry import Kind, SettingDef, coerce
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock


def refused(call: Any, kind: type[FleetdeckError] = ValidationFailed) -> FleetdeckError:
    with pytest.raises(kind) as err:
        call()
    return err.value


def said(err: FleetdeckError) -> tuple[str, Any, Any]:
    return (err.message, err.detail.get("field"), err.detail.get("reason"))


# ------------------------------------------------------------------ computers


def test_computer_refusals(svc: Services, admin: Actor, runtime: Runtime, clock: ManualClock) -> None:
    c = svc.computers
    assert said(refused(lambda: c.create(admin, "pc", fqdn="a." * 128))) == (
        "fqdn is longer than 255 characters",
        "fqdn",
        None,
    )
    assert said(refused(lambda: c.create(admin, "  "))) == ("hostname must not be empty", "hostname", None)
    cid = factories.computer(svc, admin, "pc1")
    for bad in ("pc1", "pc1.lan", "localhost.localdomain.x" + "x" * 250):
        assert said(refused(lambda bad=bad: c.update(admin, cid, fqdn=bad))) == (
            "fqdn must be a qualified name (host.domain.tld)",
            "fqdn",
            None,
        )
    assert c.update(admin, cid, fqdn="PC1.Example.Org.").fqdn == "pc1.example.org"

    pkg = factories.package(svc, admin, "tool")
    factories.deployment(svc, admin, [cid], [pkg.id])
    mark = factories.audit_mark(svc)
    err = refused(lambda: c.delete(admin, cid, unless_pending=True), Conflict)
    assert said(err) == ("the computer has pending package jobs", None, Reason.PENDING_JOBS)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.result, row.detail) == (
        "computer.delete",
        "conflict",
        {"error": "the computer has pending package jobs"},
    )

    # a computer service without the secret key stores and reads no secrets
    keyless = ComputerService(runtime.db, svc.audit, clock, NullGateway(), NullNotifier(), None)
    err = refused(
        lambda: keyless.put(admin, "pc2.example.org", default_domain="", record={"one_time_password": "otp"})
    )
    assert said(err) == ("this server cannot store secrets (no secret key)", None, None)
    c.put(admin, "pc3.example.org", default_domain="", record={"one_time_password": "otp"})
    err = refused(lambda: keyless.host_records(admin))
    assert said(err) == ("this server cannot read secrets (no secret key)", None, None)


# ------------------------------------------------------------------ jobs


def test_job_refusals(svc: Services, admin: Actor) -> None:
    j = svc.jobs
    err = refused(lambda: j.create_commands(admin, CommandRequest("true")))
    assert said(err) == ("give at least one computer or group", "computer_ids", None)
    empty = factories.group(svc, admin, "empty")
    mark = factories.audit_mark(svc)
    err = refused(lambda: j.create_commands(admin, CommandRequest("true"), group_ids=[empty]))
    assert said(err) == ("the groups have no members", "group_ids", None)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.result) == ("command.create", "job_batch", "invalid")
    cid = factories.computer(svc, admin, "pc1")
    for text in ("", "  \n "):
        err = refused(
            lambda text=text: j.create_actions(
                admin, ActionRequest("message", message=text), computer_ids=[cid]
            )
        )
        assert said(err) == ("message must not be empty", "message", None)


# ------------------------------------------------------------------ deployments


def test_deployment_schedule_refusals() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def schedule(**over: Any) -> Any:
        args: dict[str, Any] = {
            "name": "d",
            "start": None,
            "end": None,
            "restart_timeout_min": 5,
            "sequence_mode": 0,
            "priority": 0,
            "agent_ip_ranges": (),
            "time_frames": (),
            "now": now,
        }
        args.update(over)
        return validation.schedule(**args)

    assert said(refused(lambda: schedule(name="  "))) == (
        "the name cannot be empty",
        "name",
        Reason.NAME_EMPTY,
    )
    assert said(refused(lambda: schedule(name="n" * 256))) == (
        "the name is longer than 255 characters",
        "name",
        Reason.INVALID,
    )
    assert schedule(name=" " + "n" * 255 + " ").name == "n" * 255
    for timeout in (None, 0, -1):
        assert said(refused(lambda timeout=timeout: schedule(restart_timeout_min=timeout))) == (
            "restart timeout and start are required",
            "restart_timeout_min",
            Reason.REQUIRED_MISSING,
        )
    naive = datetime(2026, 3, 2, 10, 0)
    for over in ({"start": naive}, {"end": naive}):
        assert said(refused(lambda over=over: schedule(**over))) == (
            "times need a time zone",
            "start",
            Reason.INVALID,
        )
    for end in (now, now - timedelta(seconds=1)):
        assert said(refused(lambda end=end: schedule(end=end))) == (
            "the end time cannot be before the start time",
            "end",
            Reason.END_BEFORE_START,
        )
    for priority in (-101, 101):
        assert said(refused(lambda priority=priority: schedule(priority=priority))) == (
            "priority must be between -100 and 100",
            "priority",
            Reason.INVALID,
        )
    assert (schedule(priority=-100).priority, schedule(priority=100).priority) == (-100, 100)
    got = schedule(end=now + timedelta(seconds=1))
    assert (got.start, got.end, got.restart_timeout_min) == (now, now + timedelta(seconds=1), 5)


def test_a_page_of_a_deployments_jobs_is_refused_outside_its_bounds(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc1")
    pkg = factories.package(svc, admin, "tool")
    created = factories.deployment(svc, admin, [cid], [pkg.id])
    for offset, limit in ((-1, 50), (0, 0), (0, 1001), (2**62, 50)):
        err = refused(
            lambda offset=offset, limit=limit: svc.deployments.container_jobs_page(
                admin, created.id, offset=offset, limit=limit
            )
        )
        assert said(err) == ("offset must be >= 0 and limit 1-1000", "limit", None)
    page = svc.deployments.container_jobs_page(admin, created.id, offset=0, limit=1000)
    assert page.total == 1 and len(page.items) == 1


# ------------------------------------------------------------------ enrollment


def test_enrollment_refusals(svc: Services, admin: Actor) -> None:
    e = svc.enrollment
    assert said(refused(lambda: e.create_token(admin, max_uses=0))) == (
        "uses must be at least 1",
        "uses",
        None,
    )
    token = e.create_token(admin, max_uses=1)
    enroll = {"machine_id": "m1", "agent_version": "1", "source": "10.0.0.1"}
    assert said(refused(lambda: e.enroll(token.token, hostname="  ", **enroll))) == (
        "hostname must not be empty",
        "hostname",
        None,
    )
    creds = e.enroll(token.token, hostname="pc1", **enroll)
    err = refused(lambda: e.enroll(token.token, hostname="pc2", **enroll), AuthenticationFailed)
    assert err.message == "invalid, expired or used-up enrollment token"
    err = refused(lambda: e.authenticate_agent(creds.uid, "wrong key"), AuthenticationFailed)
    assert err.message == "unknown agent or wrong key"
    err = refused(lambda: e.authenticate_agent("no-such-uid", creds.key), AuthenticationFailed)
    assert err.message == "unknown agent or wrong key"
    assert e.authenticate_agent(creds.uid, creds.key).computer_id == creds.computer_id
    for within in (timedelta(0), timedelta(seconds=-1)):
        err = refused(lambda within=within: e.allow_reenroll(admin, creds.computer_id, within))
        assert said(err) == ("the window must be in the future", "within", None)

    mark = factories.audit_mark(svc)
    e.revoke_token(admin, token.info.id)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result) == (
        "enroll_token.revoke",
        "enroll_token",
        str(token.info.id),
        "ok",
    )


# ------------------------------------------------------------------ computer groups


def test_computer_group_refusals(svc: Services, admin: Actor) -> None:
    g = svc.groups
    key_text = "key must be lower case letters, digits, '.', '_' or '-'"
    assert said(refused(lambda: g.create(admin, "Servers", key="Bad Key"))) == (key_text, "key", None)
    assert said(refused(lambda: g.put(admin, "Bad Key"))) == (key_text, "key", None)
    top = factories.group(svc, admin, "top")
    child = g.create(admin, "child", parent_id=top).id
    mark = factories.audit_mark(svc)
    err = refused(lambda: g.delete(admin, top), Conflict)
    assert err.message == "the group has subgroups; delete or move them first"
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.result) == ("group.delete", str(top), "conflict")
    for target in (top, child):
        err = refused(lambda target=target: g.update(admin, top, parent_id=target, move=True))
        assert said(err) == ("a group cannot be moved below itself", "parent_id", None)
    # a chain 33 deep: one more level is refused
    parent = child
    for n in range(31):
        parent = g.create(admin, f"level {n}", parent_id=parent).id
    loose = factories.group(svc, admin, "loose")
    err = refused(lambda: g.update(admin, loose, parent_id=parent, move=True))
    assert said(err) == ("group tree is too deep", "parent_id", None)
    viewer = factories.user(svc, Role.VIEWER)
    refused(lambda: g.delete(viewer, loose), PermissionDenied)


# ------------------------------------------------------------------ packages


def test_package_refusals(svc: Services, admin: Actor, runtime: Runtime) -> None:
    p = svc.packages
    one = factories.package(svc, admin, "tool", "1")
    two = factories.package(svc, admin, "tool", "2")
    err = refused(lambda: p.update_family(admin, one.family_id, name="   "))
    assert said(err) == ("the name cannot be empty", "name", Reason.NAME_EMPTY)
    mark = factories.audit_mark(svc)
    err = refused(lambda: p.delete_family(admin, one.family_id))
    assert said(err) == ("the family still has packages", None, Reason.HAS_DEPENDENTS)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.result) == ("package_family.delete", "package_family", "invalid")
    err = refused(lambda: factories.package(svc, admin, "tool", "1"))
    assert said(err) == (
        "a package with this name already exists with this version",
        "version",
        Reason.VERSION_EXISTS,
    )
    err = refused(lambda: p.update(admin, two.id, PackageFields(), version="1"))
    assert said(err) == (
        "a package with this name already exists with this version",
        None,
        Reason.VERSION_EXISTS,
    )

    cid = factories.computer(svc, admin, "pc1")
    factories.deployment(svc, admin, [cid], [one.id])
    err = refused(lambda: p.delete(admin, one.id, force=False))
    assert said(err) == ("there are active jobs for this package", None, Reason.IN_USE_BY_JOBS)
    err = refused(lambda: p.payload_for_agent(cid, two.id), PermissionDenied)
    assert err.message == "no pending job of this computer needs this package"

    rules = [
        DependencyRule(two.id, "setup", None, "installed"),
        DependencyRule(two.id, "setup", "setup", None),
    ]
    err = refused(lambda: p.set_dependency_rules(admin, one.id, rules))
    assert said(err) == ("one rule per action and required package", "dependencies", Reason.INVALID)
    for rule in (
        DependencyRule(two.id, "setup", None, None),
        DependencyRule(two.id, "setup", "setup", "installed"),
    ):
        err = refused(lambda rule=rule: p.set_dependency_rules(admin, one.id, [rule]))
        assert said(err) == ("give either required_action or required_status", "dependencies", Reason.INVALID)

    for fields, text, field in (
        (PackageFields(priority=101), "priority must be between -100 and 100", "priority"),
        (PackageFields(priority=-101), "priority must be between -100 and 100", "priority"),
        (PackageFields(line_endings="x" * 11), "line_endings is at most 10 characters", "line_endings"),
    ):
        err = refused(lambda fields=fields: p.update(admin, two.id, fields))
        assert said(err) == (text, field, Reason.INVALID)
    assert p.update(admin, two.id, PackageFields(priority=100, line_endings="x" * 10)).id == two.id

    no_store = build_services(runtime.db, SECRET, CoreConfig())
    err = refused(
        lambda: no_store.packages.create(
            admin, "zipped", "1", PackageFields(install_procedure="x"), files=[PayloadFile("a", b"a")]
        ),
        Unavailable,
    )
    assert err.message == "no payload directory is configured"


def test_package_group_refusals(svc: Services, admin: Actor) -> None:
    a = factories.package(svc, admin, "a")
    b = factories.package(svc, admin, "b")
    gid = factories.package_group(svc, admin, "set", [a.id])
    err = refused(lambda: svc.packages.list_packages(admin))
    assert said(err) == (
        "package_family_id or package_group_id is required",
        None,
        Reason.FAMILY_OR_GROUP_REQUIRED,
    )
    err = refused(lambda: svc.packages.move_in_group(admin, gid, b.id, 1), NotFound)
    assert (err.message, err.object_type, err.object_id) == (
        f"package group member {b.id} not found",
        "package group member",
        b.id,
    )


# ------------------------------------------------------------------ licenses


def test_license_refusals_and_a_release_audited_as_the_computer(svc: Services, admin: Actor) -> None:
    lic = svc.licenses
    err = refused(lambda: lic.put_pool_software(admin, PoolSoftware("office", "  ")))
    assert said(err) == ("software name is required", "name", None)
    err = refused(lambda: lic.put_license(admin, License("k1", "c1", "volume", -1)))
    assert said(err) == ("max_installations must be >= 0", "max_installations", None)
    cid = factories.computer(svc, admin, "pc1")
    lic.put_contract(admin, Contract("c1"))
    lic.put_pool(admin, Pool("office"))
    lic.put_license(admin, License("k1", "c1", "volume", 0))
    lic.put_pool_member(admin, "k1", "office", "")
    lic.acquire(admin, cid, "office")
    mark = factories.audit_mark(svc)
    assert lic.release(admin, "k1", "office", cid) == 1
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result) == (
        "license.release",
        "computer",
        str(cid),
        "ok",
    )
    assert lic.release(admin, "k1", "office", cid) == 0


# ------------------------------------------------------------------ reports, settings, configs


def test_report_group_and_query_refusals(svc: Services, admin: Actor) -> None:
    groups = svc.reports.groups
    top = groups.create(admin, "top").id
    groups.create(admin, "child", parent_id=top)
    mark = factories.audit_mark(svc)
    err = refused(lambda: groups.delete(admin, top), Conflict)
    assert err.message == "the report group has subgroups; delete or move them first"
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result) == (
        "report_group.delete",
        "report_group",
        str(top),
        "conflict",
    )
    lone = groups.create(admin, "lone").id
    svc.reports.create(admin, "r", "SELECT 1", group_id=lone)
    err = refused(lambda: groups.delete(admin, lone), Conflict)
    assert err.message == "the report group has reports; delete or move them first"
    err = refused(lambda: svc.reports.create(admin, "nul", "SELECT 1\x00"))
    assert said(err) == ("the query must not contain NUL characters", "query", None)


def test_setting_and_config_refusals(svc: Services, admin: Actor) -> None:
    flag = SettingDef("test.flag", Kind.BOOL, False, "a flag")
    for value, want in (("yes", True), ("0", False), (True, True), ("Off", False)):
        assert coerce(flag, value) is want
    for bad in ("maybe", 2, None):
        err = refused(lambda bad=bad: coerce(flag, bad))
        assert said(err) == ("test.flag: expected true or false (also 1/0, yes/no)", "value", None)
        assert (err.detail["key"], err.detail["type"]) == ("test.flag", "bool")
    err = refused(lambda: svc.settings.set(admin, "polling.event_queries", "[not json"))
    assert said(err) == (
        "polling.event_queries: expected a JSON list of strings or comma-separated values",
        "value",
        None,
    )
    for bad in (5, {"a": 1}, ["x"] * 1001):
        err = refused(lambda bad=bad: svc.settings.set(admin, "polling.event_queries", bad))
        assert said(err) == ("polling.event_queries: expected a list of strings", "value", None)
    svc.configs.put(admin, Config("cfg.one"))
    mark = factories.audit_mark(svc)
    err = refused(lambda: svc.configs.merge(admin, "cfg.one", lambda c: Config("cfg.two")))
    assert said(err) == ("a merge cannot change the config key", "key", None)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.result) == ("config.put", "cfg.one", "invalid")


# ------------------------------------------------------------------ users, queries, reported data


def test_user_refusals(svc: Services, admin: Actor) -> None:
    u = svc.users
    nobody = Actor(user_id=None, username="system", role=Role.ADMIN)
    assert refused(lambda: u.create_token(nobody, "t", "read", None), PermissionDenied).message == (
        "only users have API tokens"
    )
    alice = factories.user(svc, Role.OPERATOR, "alice")
    read_only = Actor(user_id=alice.user_id, username="alice", role=Role.OPERATOR, read_only=True)
    assert refused(lambda: u.create_token(read_only, "t", "read", None), PermissionDenied).message == (
        "a read-only token cannot create tokens"
    )
    for name in ("", "   ", "n" * 251):
        assert said(refused(lambda name=name: u.create_token(alice, name, "read", None))) == (
            "name must be 1-250 characters",
            "name",
            None,
        )
    token = u.create_token(alice, "n" * 250, "read", None)
    assert refused(lambda: u.revoke_token(read_only, token.info.id), PermissionDenied).message == (
        "a read-only token cannot revoke tokens"
    )
    mark = factories.audit_mark(svc)
    err = refused(lambda: u.set_password(read_only, alice.user_id or 0, "new-password-1"), PermissionDenied)
    assert err.message == "a read-only token cannot change passwords"
    err = refused(
        lambda: u.set_password(alice, alice.user_id or 0, "new-password-1", "wrong"), PermissionDenied
    )
    assert err.message == "the current password is wrong"
    assert [(r.action, r.result, r.detail) for r in factories.audit_since(svc, mark)] == [
        ("user.password", "denied", {"error": "a read-only token cannot change passwords"}),
        ("user.password", "denied", {"error": "the current password is wrong"}),
    ]
    root = factories.user(svc, Role.ADMIN, "root")
    assert (
        refused(lambda: u.delete(root, root.user_id or 0), Conflict).message == "you cannot delete yourself"
    )
    assert said(refused(lambda: u.unlock(admin))) == ("name a user, an address or both", "username", None)
    assert said(refused(lambda: u.create(admin, "bad name!", "password-123", Role.VIEWER))) == (
        "user name must be 1-150 characters of letters, digits, '.', '_', '@' or '-'",
        "username",
        None,
    )


def test_query_and_reported_data_refusals(svc: Services, admin: Actor) -> None:
    for offset in (-1, 1.5, "3", True):
        err = refused(lambda offset=offset: Query.from_dict({"offset": offset}))
        assert said(err) == ("offset must be a whole number, not negative", "offset", None)
    assert Query.from_dict({"offset": 0}).offset == 0
    cid = factories.computer(svc, admin, "pc1")
    other = factories.computer(svc, admin, "pc2")
    itself = Actor(user_id=None, username="host:pc1", role=Role.VIEWER, via="agent", computer_id=cid)
    err = refused(lambda: svc.reported_audit.report(itself, "hardware", other, []), PermissionDenied)
    assert err.message == "a computer may report audit data only for itself"
