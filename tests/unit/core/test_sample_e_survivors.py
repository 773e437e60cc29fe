"""Behaviour that the fresh mutation sample of seed 20261207 (docs/testing.md, "Mutation
testing") found no test of: who may create report groups, the field and text of refusals, what
audit rows keep, the order of listings, and boundaries of the query language and settings. Each
test reads the effect back through core's own services. (New test functions in a new file:
mutmut traces only tests it has not seen, see docs/testing.md.)"""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.audit import AuditRecord
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.enrollment.identity import normalize_uuid
from fleetdeck.core.errors import (
    AgentIncapable,
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from fleetdeck.core.licenses.service import Contract, License, Pool
from fleetdeck.core.polling.service import PollFacts, Registration
from fleetdeck.core.query import INT_MAX, Cond, Op, Query
from fleetdeck.core.reports.policy import json_safe
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config as PropertyConfig
from fleetdeck.core.settings.registry import Kind, SettingDef, coerce
from fleetdeck.protocol import messages as m
from tests import factories
from tests.conftest import BACKEND
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_polling import Agent
from tests.unit.core.test_reads import write_transactions


def _last_audit(svc: Services, mark: int, action: str) -> AuditRecord:
    rows = [r for r in factories.audit_since(svc, mark) if r.action == action]
    assert rows, f"no {action} audited"
    return rows[-1]


def test_only_report_managers_create_report_groups(svc: Services, admin: Actor) -> None:
    """reports.groups.create 7 dropped the permission: a viewer could create report groups."""
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.reports.groups.create(viewer, "mine")
    assert _last_audit(svc, mark, "report_group.create").result == "denied"
    assert svc.reports.groups.create(admin, "ours").name == "ours"


def test_host_record_and_put_refusals_and_records(svc: Services, admin: Actor) -> None:
    """computers: ``_check_record`` 17 dropped the field of "must be text"; put 105 renamed the
    ``missing`` of a put that may not create."""
    with pytest.raises(ValidationFailed) as err:
        svc.computers.put(admin, "pc.example.org", default_domain="example.org", record={"description": 5})
    assert (err.value.field, err.value.message) == ("description", "description must be text")
    mark = factories.audit_mark(svc)
    assert svc.computers.put(admin, "gone.example.org", default_domain="example.org", create=False) is None
    assert _last_audit(svc, mark, "computer.update").detail == {"name": "gone.example.org", "missing": True}


def test_a_ping_of_a_polling_computer_names_its_agent_kind(svc: Services, admin: Actor) -> None:
    """ping 37 named the wrong column as the agent kind in the refusal."""
    cid = Agent(svc, "oco-ping").hello().computer_id
    with pytest.raises(AgentIncapable) as err:
        svc.computers.ping(admin, cid, 1.0)
    assert "managed by a polling agent, which cannot answer pings" in str(err.value)


def test_a_polling_inventory_is_audited_with_what_changed(svc: Services, admin: Actor) -> None:
    """polling inventory 44 dropped ``changed`` from the audit row."""
    agent = Agent(svc, "oco-inv")
    agent.hello(PollFacts())
    mark = factories.audit_mark(svc)
    svc.polling.inventory(agent.request(), m.Inventory(hostname="oco-inv", os="Windows"))
    assert "os" in _last_audit(svc, mark, "computer.inventory").detail["changed"]


def test_software_lists_computers_in_order(svc: Services, admin: Actor) -> None:
    """software 3 dropped the computer from the order: rows of two computers interleaved."""
    first = factories.computer(svc, admin, "first")
    second = factories.computer(svc, admin, "second")
    for cid, names in ((second, ("a", "c")), (first, ("b", "d"))):
        inv = m.Inventory(hostname="x", software=[m.Software(n, "1") for n in names])
        svc.computers.record_inventory(admin, cid, inv, m.inventory_digest(inv))
    rows = svc.computers.software(admin, Query(limit=None))
    assert [(r.computer_id, r.name) for r in rows] == [
        (first, "b"),
        (first, "d"),
        (second, "a"),
        (second, "c"),
    ]


def test_a_rule_with_a_bad_restart_timeout_names_that_field(svc: Services, admin: Actor) -> None:
    """rules ``_check_timeout`` 11 garbled the field."""
    pkg = factories.package(svc, admin, "tool")
    with pytest.raises(ValidationFailed) as err:
        svc.deployments.create_rule(
            admin,
            "r",
            factories.group(svc, admin, "g"),
            factories.package_group(svc, admin, "pg", [pkg.id]),
            post_action_timeout_min=-1,
        )
    assert err.value.field == "post_action_timeout_min"


def test_a_firmware_placeholder_uuid_is_no_uuid() -> None:
    """``normalize_uuid`` 15 kept the all-F placeholder as a machine's identity."""
    assert normalize_uuid("{FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF}") == ""
    assert normalize_uuid("00000000-0000-0000-0000-000000000000") == ""
    assert (
        normalize_uuid(" {ABCDEF01-0000-0000-0000-000000000000} ") == "abcdef01-0000-0000-0000-000000000000"
    )


def test_enrollment_refusals_and_records(svc: Services, admin: Actor) -> None:
    """allow_reenroll 23 audited without the object type; authenticate_host 71 refused without
    a message."""
    cid = factories.computer(svc, admin, "pc")
    mark = factories.audit_mark(svc)
    svc.enrollment.allow_reenroll(admin, cid)
    rows = [r for r in factories.audit_since(svc, mark) if r.object_id == str(cid)]
    assert rows and all(r.object_type == "computer" for r in rows)
    with pytest.raises(AuthenticationFailed) as err:
        svc.enrollment.authenticate_host("nobody.example.org", "k" * 32, "example.org")
    assert err.value.message == "unknown host or wrong host key"


def test_license_pools_members_and_assignments_are_listed_by_pool(svc: Services, admin: Actor) -> None:
    """pool_members 3 and assignments 3 dropped the pool from the order."""
    lic = svc.licenses
    lic.put_contract(admin, Contract("c1"))
    for pool in ("zeta", "alpha"):
        lic.put_pool(admin, Pool(pool))
    for key, pool in (("a-lic", "zeta"), ("b-lic", "alpha")):
        lic.put_license(admin, License(key, "c1"))
        lic.put_pool_member(admin, key, pool)
    assert [(p.pool_key, p.license_key) for p in lic.pool_members(admin)] == [
        ("alpha", "b-lic"),
        ("zeta", "a-lic"),
    ]
    pc = factories.computer(svc, admin, "pc")
    lic.acquire(admin, pc, "zeta")
    lic.acquire(admin, pc, "alpha")
    assert [a.pool_key for a in lic.assignments(admin)] == ["alpha", "zeta"]


def test_package_group_and_installation_changes_are_audited_by_name(svc: Services, admin: Actor) -> None:
    """packages.groups.remove_family_from_group 39, 41 and installations.set_family_installed 115
    renamed their audit details; remove_installation 25 the NotFound's object type."""
    pkg = factories.package(svc, admin, "tool")
    gid = factories.package_group(svc, admin, "pg", [pkg.id])
    mark = factories.audit_mark(svc)
    svc.packages.remove_family_from_group(admin, gid, "tool")
    assert _last_audit(svc, mark, "package_group.remove_member").detail == {
        "family_key": "tool",
        "package_ids": [pkg.id],
    }
    pc = factories.computer(svc, admin, "pc")
    mark = factories.audit_mark(svc)
    svc.packages.set_family_installed(admin, pc, "tool", True)
    detail = [r for r in factories.audit_since(svc, mark) if "family_key" in r.detail][-1].detail
    assert detail == {"family_key": "tool", "package_ids": [pkg.id]}
    with pytest.raises(NotFound) as err:
        svc.packages.remove_installation(admin, 10**6)
    assert err.value.object_type == "installation"


def test_query_language_boundaries(svc: Services) -> None:
    """``_scalar`` 8 refused the largest integer; ``_expr_from_dict`` 150 dropped the field of an
    ``is_null`` refusal."""
    q = Query.from_dict({"where": [{"field": "id", "op": "eq", "value": INT_MAX}]})
    assert q.where == (Cond("id", Op.EQ, INT_MAX),)
    with pytest.raises(ValidationFailed):
        Query.from_dict({"where": [{"field": "id", "op": "eq", "value": INT_MAX + 1}]})
    with pytest.raises(ValidationFailed) as err:
        Query.from_dict({"where": [{"field": "hostname", "op": "is_null", "value": "yes"}]})
    assert (err.value.field, err.value.message) == ("hostname", "is_null on 'hostname' takes true or false")


def test_a_report_value_of_another_type_is_shown_as_its_text() -> None:
    """``json_safe`` 13 turned every other value into ``"None"``."""

    class Odd:
        def __str__(self) -> str:
            return "odd value"

    assert json_safe(Odd()) == "odd value"


def test_a_list_setting_refuses_what_is_no_list_in_words() -> None:
    """registry ``_list`` 16 let a number through to ``len()`` (a TypeError, not a refusal)."""
    d = SettingDef("x.list", Kind.STR_LIST, [], "a list")
    with pytest.raises(ValidationFailed):
        coerce(d, 5)
    assert coerce(d, "a, b") == ["a", "b"]


def test_user_deletions_and_own_password_changes(svc: Services, admin: Actor) -> None:
    """users.delete 32 renamed the detail's ``username``; set_password 36 made an admin who
    changes their own password give the current one (``can(None)``)."""
    victim = factories.user(svc, Role.VIEWER, "victim")
    mark = factories.audit_mark(svc)
    svc.users.delete(admin, victim.user_id or 0)
    assert _last_audit(svc, mark, "user.delete").detail == {"username": "victim"}
    svc.users.set_password(admin, admin.user_id or 0, "a-new-password-1")
    assert (
        svc.users.authenticate_password("admin", "a-new-password-1", "127.0.0.1", "test").user_id
        == admin.user_id
    )


def test_an_empty_registration_key_lets_no_unknown_host_in(svc: Services, admin: Actor) -> None:
    """polling ``_signed_by`` 4 accepted any signature when no key was set: with registration
    enabled but no registration key, any host could register (and a pre-registered computer be
    taken over)."""
    open_door = Registration(enabled=True, key="")
    for hostname in ("stranger", "pre"):
        agent = Agent(svc, hostname, key="anything")
        with pytest.raises(AuthenticationFailed, match="Invalid agent signature"):
            svc.polling.hello(agent.request(), open_door, PollFacts())
        if hostname == "stranger":
            factories.computer(svc, admin, "pre")  # pre-registered: waits for the registration key
    assert [c.hostname for c in svc.computers.find(admin, Query()).items] == ["pre"]


def test_a_registration_is_audited_as_the_computer(svc: Services, admin: Actor) -> None:
    """polling ``_register`` 44 garbled the object type of the registration's audit row."""
    mark = factories.audit_mark(svc)
    cid = Agent(svc, "newcomer").hello().computer_id
    row = _last_audit(svc, mark, "agent.register")
    assert (row.object_type, row.object_id) == ("computer", str(cid))


def test_an_api_token_is_expired_at_its_expiry_and_listing_tokens_takes_no_write_lock(
    runtime: Runtime, svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """resume 38 let a token through at the exact moment it expired (``<`` for ``<=``);
    list_tokens 5 read in a writing transaction."""
    owner = factories.user(svc, Role.OPERATOR, "tok")
    made = svc.users.create_token(owner, "ci", "read", T0 + timedelta(hours=1))
    _actor, credential = svc.users.basic_login("tok", made.token, "127.0.0.1", "api")
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(AuthenticationFailed, match="API token expired"):
        svc.users.resume(credential, "127.0.0.1", "api")
    with write_transactions(runtime.db.engine) as writes:
        assert [t.name for t in svc.users.list_tokens(owner)] == ["ci"]
    if BACKEND == "sqlite":
        assert writes == []


def test_setting_one_familys_state_answers_with_that_family(svc: Services, admin: Actor) -> None:
    """set_package_state 159 read the computer's states without the family and answered with
    the first one."""
    pc = factories.computer(svc, admin, "pc")
    for family in ("alpha", "beta"):
        factories.package(svc, admin, family)
    svc.deployments.set_package_state(admin, pc, "alpha", {"last_action": "setup"}, name="opsi")
    info = svc.deployments.set_package_state(admin, pc, "beta", {"last_action": "uninstall"}, name="opsi")
    assert (info.family_key, info.last_action) == ("beta", "uninstall")


def test_refusals_of_a_long_command_and_a_self_dependency_say_why(svc: Services, admin: Actor) -> None:
    """``_validate_command`` 11 dropped the message; ``_check_rule`` 8 garbled it."""
    pc = factories.computer(svc, admin, "pc")
    with pytest.raises(ValidationFailed) as err:
        factories.commands(svc, admin, [pc], "x" * (64 * 1024 + 1))
    assert (err.value.field, err.value.message) == ("command", f"command is longer than {64 * 1024} bytes")
    pkg = factories.package(svc, admin, "tool")
    with pytest.raises(ValidationFailed) as err:
        svc.packages.set_dependencies(admin, pkg.id, [pkg.id])
    assert err.value.message == "a package cannot depend on itself"


def test_a_computers_software_is_sorted_by_name_and_version(svc: Services, admin: Actor) -> None:
    """get_many 62 dropped the version from the order."""
    pc = factories.computer(svc, admin, "pc")
    inv = m.Inventory(
        hostname="pc", software=[m.Software("app", "2"), m.Software("app", "10"), m.Software("app", "1")]
    )
    svc.computers.record_inventory(admin, pc, inv, m.inventory_digest(inv))
    assert [s.version for s in svc.computers.get(admin, pc).software] == ["1", "10", "2"]


def test_a_value_for_a_builtin_config_stores_the_entry_first(svc: Services, admin: Actor) -> None:
    """configs.set_value 50, 52 read the entry back wrongly after storing a dialect's built-in
    default (None: NotFound; without its key: another entry got the value)."""
    pc = factories.computer(svc, admin, "pc")
    svc.configs.put(admin, PropertyConfig("aaa.other"))
    mark = factories.audit_mark(svc)
    builtin = PropertyConfig("zzz.builtin", default_values=["off"])
    svc.configs.set_value(admin, "zzz.builtin", pc, ["on"], builtin=builtin)
    assert [(v.key, v.values) for v in svc.configs.values(admin, [pc])] == [("zzz.builtin", ["on"])]
    assert [c.key for c in svc.configs.entries(admin)] == ["aaa.other", "zzz.builtin"]
    assert _last_audit(svc, mark, "config.set_value").detail == {
        "stored_builtin": True,
        "key": "zzz.builtin",
        "values": ["on"],
    }


def test_an_installation_recorded_by_hand_sets_the_package_state(svc: Services, admin: Actor) -> None:
    """packages.states.installed 6 (``is not None``) left the state untouched when an admin
    recorded an installation by hand."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool", "3.1")
    svc.packages.assign_installation(admin, pc, pkg.id)
    [state] = factories.package_states(svc, admin, [pc], ["tool"])
    assert (state[2], state[8]) == ("installed", "3.1")


def test_a_delivered_command_job_carries_its_command(svc: Services, admin: Actor) -> None:
    """delivery.claim 114 sent command jobs without their command line."""
    pc = factories.computer(svc, admin, "pc")
    factories.commands(svc, admin, [pc], "echo hello")
    [(_cid, spec)] = svc.jobs.claim_for_delivery([pc])
    assert spec.kind == "command" and spec.command is not None and spec.command.command == "echo hello"


def test_requests_and_records_of_deployments(svc: Services, admin: Actor) -> None:
    """states.requested 38 garbled an uninstall's request word; deploy 100 the name in the
    deployment's audit row; polling ``_authenticate`` 131 the host name in a pre-registered
    computer's registration row."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    inst = factories.installed(svc, admin, pc, pkg.id)
    svc.deployments.uninstall(admin, "rm", installation_ids=[inst.id])
    [state] = factories.package_states(svc, admin, [pc], ["tool"])
    assert state[3] == "uninstall"
    mark = factories.audit_mark(svc)
    factories.deployment(svc, admin, [pc], [factories.package(svc, admin, "other").id], name="roll-out")
    assert _last_audit(svc, mark, "deployment.create").detail["name"] == "roll-out"
    pre = factories.computer(svc, admin, "Pre-Host")
    mark = factories.audit_mark(svc)
    Agent(svc, "pre-host").hello()
    row = _last_audit(svc, mark, "agent.register")
    assert (row.object_id, row.detail["hostname"]) == (str(pre), "Pre-Host")


def test_computer_and_user_records_and_query_refusals(runtime: Runtime, svc: Services, admin: Actor) -> None:
    """computers ``_insert`` 9 (the Conflict's text), ``package_infos`` 69 (uninstall success
    codes not read back), ``apply_query`` 64 (a negative offset's text), ``to_sql`` 117 (``ne``
    filtered nothing), users ``_insert`` 39 (the audit row's object id), ``password_login`` 45
    (the user read in a writing transaction: two write transactions per login on SQLite)."""
    a = factories.computer(svc, admin, "a")
    b = factories.computer(svc, admin, "b")
    with pytest.raises(Conflict) as taken:
        svc.computers.create(admin, "A")
    assert taken.value.message == "a computer named 'A' already exists"
    pkg = factories.package(svc, admin, "tool", uninstall_success_codes="0,3010")
    assert svc.packages.get(admin, pkg.id).package.uninstall_success_codes == "0,3010"
    with pytest.raises(ValidationFailed) as err:
        svc.computers.find(admin, Query(offset=-1))
    assert (err.value.field, err.value.message) == ("offset", "offset must not be negative")
    others = svc.computers.find(admin, Query(where=(Cond("hostname", Op.NE, "a"),)))
    assert [c.id for c in others.items] == [b] and a != b
    mark = factories.audit_mark(svc)
    made = svc.users.create(admin, "eve", "eve-password-1", Role.VIEWER)
    assert _last_audit(svc, mark, "user.create").object_id == str(made.id)
    with write_transactions(runtime.db.engine) as writes:
        svc.users.authenticate_password("eve", "eve-password-1", "127.0.0.1", "test")
    if BACKEND == "sqlite":
        assert len(writes) == 1  # the last-login update; the password check reads only
