"""Behaviour that the third whole-core mutation sample (docs/testing.md, "Mutation testing", seed
20261204) found no test of: which field and text a refusal carries, what the audit log keeps of
a change (object, detail), the boundaries of timeouts and expiries, the free keys made for new
names, and methods only the transports called (a computer's software, a session's login and
logout, a user's tokens). Each test reads back the effect through core's own services, so it
holds for any implementation that behaves the same. (New test functions in a new file: mutmut
traces only tests it has not seen, see docs/testing.md.)"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.audit import AuditRecord
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import AgentUnreachable, Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.housekeeping import Duty, Housekeeping
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.leases import LeaseService
from fleetdeck.core.licenses.service import Contract, License, Pool
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.core.ports import AgentAddress, NullGateway
from fleetdeck.core.query import Cond, Op, Query, apply_query
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config as PropertyConfig
from fleetdeck.core.settings.registry import Kind, SettingDef, coerce
from fleetdeck.core.wol.magic import magic_packet
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Group
from tests import factories
from tests.conftest import BACKEND
from tests.factories import PASSWORD, ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_reads import write_transactions


def _last_audit(svc: Services, mark: int, action: str) -> AuditRecord:
    rows = [r for r in factories.audit_since(svc, mark) if r.action == action]
    assert rows, f"no {action} audited"
    return rows[-1]


# ------------------------------------------------------------------ computers


def test_an_agent_timeout_below_a_second_is_accepted_and_zero_is_refused_as_the_timeout(
    svc: Services, admin: Actor
) -> None:
    """Half a second is a valid wait for an answer (``_check_timeout`` 2 began at 1 s); 0 is
    refused, naming the field (8 dropped it)."""
    cid = svc.computers.create(admin, "pc").id
    assert svc.computers.probe(admin, [cid], 0.5) == {cid: False}  # not connected: no answer
    with pytest.raises(ValidationFailed) as err:
        svc.computers.probe(admin, [cid], 0)
    assert err.value.field == "timeout"


def test_a_plain_delete_goes_through_pending_package_jobs_and_is_audited_as_the_computer(
    svc: Services, admin: Actor
) -> None:
    """Only ``unless_pending`` refuses a computer with a pending deployment job (delete 32 made
    every delete refuse); the audit row names the computer (9 dropped the object type)."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    factories.deployment(svc, admin, [pc], [pkg.id])
    with pytest.raises(Conflict):
        svc.computers.delete(admin, pc, unless_pending=True)
    mark = factories.audit_mark(svc)
    svc.computers.delete(admin, pc)
    assert svc.computers.exists([pc]) == set()
    row = _last_audit(svc, mark, "computer.delete")
    assert (row.object_type, row.object_id, row.result) == ("computer", str(pc), "ok")


def test_a_rules_pending_jobs_do_not_hold_up_a_careful_delete(svc: Services, admin: Actor) -> None:
    """``unless_pending`` waits for deployments' jobs only; a rule's jobs go with the computer."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    gid = factories.group(svc, admin, "g", [pc])
    pgid = factories.package_group(svc, admin, "pg", [pkg.id])
    rule = svc.deployments.create_rule(admin, "r", gid, pgid)
    assert [j.status for j in svc.deployments.rule_jobs(admin, rule.id)] == [JobStatus.QUEUED]
    svc.computers.delete(admin, pc, unless_pending=True)
    assert svc.computers.exists([pc]) == set()


def test_software_is_filtered_in_the_query_and_read_without_the_write_lock(
    runtime: Runtime, svc: Services, admin: Actor
) -> None:
    """``software`` had no test in the subset: its filter (24 dropped it) and its read-only
    transaction (32)."""
    from fleetdeck.core.enrollment.service import agent_actor
    from fleetdeck.protocol import messages as m

    cid = svc.computers.create(admin, "pc").id
    inv = m.Inventory(
        hostname="pc",
        software=[m.Software("editor", "2.1", "an editor"), m.Software("browser", "9", "")],
    )
    svc.computers.record_inventory(agent_actor(cid, "pc", "127.0.0.1"), cid, inv, m.inventory_digest(inv))
    with write_transactions(runtime.db.engine) as writes:
        found = svc.computers.software(admin, Query(where=(Cond("name", Op.EQ, "editor"),)))
    assert [(s.computer_id, s.name, s.version, s.description) for s in found] == [
        (cid, "editor", "2.1", "an editor")
    ]
    if BACKEND == "sqlite":
        assert writes == []


# ------------------------------------------------------------------ deployments


def test_a_deployment_job_keeps_its_post_action_timeout(svc: Services, admin: Actor) -> None:
    """What the agent waits after a post action is read back as given
    (containers.deployment_jobs 133 made it 0)."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    created = factories.deployment(svc, admin, [pc], [pkg.id], restart_timeout_min=7)
    jobs = svc.deployments.container_jobs(admin, created.id)
    assert [j.post_action_timeout_min for j in jobs] == [7]


def test_jobs_after_an_incompatible_package_keep_counting(svc: Services, admin: Actor) -> None:
    """A skipped (incompatible) package takes its place in the computer's sequence
    (planning.plan_computer 14 restarted the count at 1)."""
    pc = factories.computer(svc, admin, "pc", os="Debian", os_version="12", architecture="x86_64")
    first = factories.package(svc, admin, "first")
    windows = factories.package(svc, admin, "win-only", compatible_os="Windows")
    created = factories.deployment(svc, admin, [pc], [first.id, windows.id])
    jobs = svc.deployments.container_jobs(admin, created.id)
    seqs = {j.package_id: (j.sequence, j.status) for j in jobs}
    assert seqs[first.id][0] != seqs[windows.id][0]
    assert sorted(s for s, _ in seqs.values()) == [1, 2]
    assert seqs[windows.id][1] is JobStatus.SKIPPED


def test_a_rule_made_without_a_post_action_timeout_waits_five_minutes(svc: Services, admin: Actor) -> None:
    """The default of ``create_rule`` (5 minutes; 5 made it 6), as its jobs carry it."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    rule = svc.deployments.create_rule(
        admin,
        "r",
        factories.group(svc, admin, "g", [pc]),
        factories.package_group(svc, admin, "pg", [pkg.id]),
    )
    assert rule.post_action_timeout_min == 5
    assert [j.post_action_timeout_min for j in svc.deployments.rule_jobs(admin, rule.id)] == [5]


def test_reports_see_a_rules_jobs_under_the_rule_kind(runtime: Runtime, svc: Services, admin: Actor) -> None:
    """Reports read ``job_batches``: a rule's batch is of kind ``deployment_rule``, apart from
    deployments and commands (create_rule 48 garbled the kind)."""
    pkg = factories.package(svc, admin, "tool")
    svc.deployments.create_rule(
        admin, "r", factories.group(svc, admin, "g"), factories.package_group(svc, admin, "pg", [pkg.id])
    )
    result = runtime.services.reports.run_sql(admin, "SELECT kind, name FROM job_batches ORDER BY id")
    assert [(r["kind"], r["name"]) for r in result.rows] == [("deployment_rule", "r")]


def test_deleting_a_missing_rule_names_it(svc: Services, admin: Actor) -> None:
    """delete_rule 22 and 25 changed the NotFound's object and id."""
    with pytest.raises(NotFound) as err:
        svc.deployments.delete_rule(admin, 4711)
    assert (err.value.object_type, err.value.object_id, err.value.message) == (
        "deployment rule",
        4711,
        "deployment rule 4711 not found",
    )


def test_a_rule_update_is_audited_with_its_name(svc: Services, admin: Actor) -> None:
    """update_rule 77 renamed the detail's ``name``."""
    pkg = factories.package(svc, admin, "tool")
    rule = svc.deployments.create_rule(
        admin, "r", factories.group(svc, admin, "g"), factories.package_group(svc, admin, "pg", [pkg.id])
    )
    mark = factories.audit_mark(svc)
    svc.deployments.update_rule(admin, rule.id, name="renamed", enabled=False)
    row = _last_audit(svc, mark, "deployment_rule.update")
    assert row.detail == {"name": "renamed", "enabled": False}


def test_a_deployment_without_a_restart_timeout_names_that_field(svc: Services, admin: Actor) -> None:
    """validation.schedule 16 upper-cased the field name."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    with pytest.raises(ValidationFailed) as err:
        factories.deployment(svc, admin, [pc], [pkg.id], restart_timeout_min=0)
    assert err.value.field == "restart_timeout_min"


def test_a_single_package_action_request_is_applied(svc: Services, admin: Actor) -> None:
    """``request_package_action`` (one step of ``apply_package_actions``) had no test in the
    subset (3 passed no steps)."""
    pc = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    applied = svc.deployments.request_package_action(
        admin, pc, pkg.family_key, PackageAction.INSTALL, name="by hand"
    )
    assert len(applied.job_ids) == 1
    jobs = svc.deployments.computer_jobs(admin, [pc])
    assert [(j.id, j.package_id, j.is_uninstall) for j in jobs] == [(applied.job_ids[0], pkg.id, False)]


# ------------------------------------------------------------------ groups


def test_group_refusals_say_what_is_wrong(svc: Services, admin: Actor) -> None:
    """groups.create 9 dropped the text of an empty name's refusal; put 11 garbled the list of
    kinds."""
    with pytest.raises(ValidationFailed) as err:
        svc.groups.create(admin, "")
    assert (err.value.field, err.value.message) == ("name", "name must be 1-255 characters")
    with pytest.raises(ValidationFailed) as err:
        svc.groups.put(admin, "k", kind="report")
    assert (err.value.field, err.value.message) == ("kind", "kind must be one of computer, package")


def test_a_put_that_may_not_create_audits_the_missing_key(svc: Services, admin: Actor) -> None:
    """groups.put 58 renamed the detail's ``missing``."""
    mark = factories.audit_mark(svc)
    assert svc.groups.put(admin, "nowhere", create=False) is None
    row = _last_audit(svc, mark, "group.update")
    assert row.detail == {"key": "nowhere", "missing": True}


def test_report_groups_of_one_name_get_the_next_free_key(svc: Services, admin: Actor) -> None:
    """Report groups share the key space of groups: a second ``Sales`` (below another parent)
    takes ``report-sales-2``, which a put of that key then finds taken (reports.groups._free_key
    10 counted in twos)."""
    parent = svc.reports.groups.create(admin, "parent")
    svc.reports.groups.create(admin, "Sales")
    svc.reports.groups.create(admin, "Sales", parent_id=parent.id)
    for key in ("report-sales", "report-sales-2"):
        with pytest.raises(Conflict):
            svc.groups.put(admin, key, create=False)
    assert svc.groups.put(admin, "report-sales-3", create=False) is None


def test_a_package_subgroup_stays_where_it_is_when_renamed(svc: Services, admin: Actor) -> None:
    """``update_group`` moves only when asked (1 made ``move`` the default: to the root)."""
    top = svc.packages.create_group(admin, "top")
    sub = svc.packages.create_group(admin, "sub", parent_id=top.id)
    assert svc.packages.update_group(admin, sub.id, name="renamed").parent_id == top.id


def test_package_group_refusals_and_removals_are_audited_with_their_group(
    svc: Services, admin: Actor
) -> None:
    """A refused package group change keeps the reason (packages.groups._require 12 dropped it);
    a family's removal names the group (remove_family_from_group 9 dropped its id)."""
    viewer = factories.user(svc, Role.VIEWER)
    gid = factories.package_group(svc, admin, "pg", [factories.package(svc, admin, "tool").id])
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied) as err:
        svc.packages.update_group(viewer, gid, name="x")
    row = _last_audit(svc, mark, "group.update")
    assert (row.object_type, row.object_id, row.result) == ("group", str(gid), "denied")
    assert row.detail == {"error": err.value.message}
    mark = factories.audit_mark(svc)
    svc.packages.remove_family_from_group(admin, gid, "tool")
    row = _last_audit(svc, mark, "package_group.remove_member")
    assert (row.object_type, row.object_id) == ("group", str(gid))


# ------------------------------------------------------------------ jobs


def test_an_empty_command_is_refused_in_words(svc: Services, admin: Actor) -> None:
    """jobs._validate_command 7 upper-cased the text."""
    from fleetdeck.core.jobs.entities import CommandRequest

    pc = svc.computers.create(admin, "pc").id
    with pytest.raises(ValidationFailed) as err:
        svc.jobs.create_commands(admin, CommandRequest(""), computer_ids=[pc])
    assert (err.value.field, err.value.message) == ("command", "command must not be empty")


def test_a_reconnecting_agent_requeues_only_its_own_jobs(svc: Services, admin: Actor) -> None:
    """on_hello 29 dropped the computer from the query: one agent's reconnect put every
    computer's delivered jobs back in the queue."""
    a, b = svc.computers.create(admin, "a").id, svc.computers.create(admin, "b").id
    [ja], [jb] = factories.commands(svc, admin, [a]), factories.commands(svc, admin, [b])
    assert factories.deliver(svc, a) == [ja]
    assert factories.deliver(svc, b) == [jb]
    svc.jobs.on_hello(a, [])  # a's agent lost what it held
    assert factories.deliver(svc, a) == [ja]  # queued again, and delivered again
    assert factories.deliver(svc, b) == []  # b's job is still with b's agent


# ------------------------------------------------------------------ leases, licenses, gateway


def test_looking_for_expired_leases_takes_no_write_lock(
    runtime: Runtime, svc: Services, clock: ManualClock
) -> None:
    """leases.expired 5 opened a writing transaction for a read."""
    assert svc.leases.acquire("node:a", "me", timedelta(seconds=10))
    clock.now = T0 + timedelta(minutes=5)
    with write_transactions(runtime.db.engine) as writes:
        gone = svc.leases.expired("node:")
    assert [(g.name, g.holder) for g in gone] == [("node:a", "me")]
    if BACKEND == "sqlite":
        assert writes == []


def test_a_second_acquire_returns_the_held_license_with_its_notes(svc: Services, admin: Actor) -> None:
    """acquire 70 dropped the notes of a license the computer holds already."""
    pc = svc.computers.create(admin, "pc").id
    svc.licenses.put_contract(admin, Contract("c"))
    svc.licenses.put_pool(admin, Pool("p"))
    svc.licenses.put_license(admin, License("l", "c"))
    svc.licenses.put_pool_member(admin, "l", "p")
    svc.licenses.put_assignment(admin, "l", "p", pc, value="KEY-1", notes="bought for pc")
    held = svc.licenses.acquire(admin, pc, "p")
    assert (held.license_key, held.pool_key, held.computer_id, held.notes) == ("l", "p", pc, "bought for pc")


def test_the_null_gateway_answers_async_requests_as_sync_ones() -> None:
    """ports.NullGateway.arequest 7 passed the timeout as the body."""
    to = AgentAddress(7, "n1")
    with pytest.raises(AgentUnreachable) as err:
        asyncio.run(NullGateway().arequest(to, "ping", {}, 1.0))
    assert err.value.message == "computer 7: this process reaches no agents"


# ------------------------------------------------------------------ packages


def test_families_of_one_slug_get_numbered_keys_and_install_counts_start_at_zero(
    svc: Services, admin: Actor
) -> None:
    """Two family names with one slug: the second family's key is ``-2``
    (packages.service._free_key 4 ignored the taken key, 7 restarted the count); a package
    nobody installed counts 0 installations (queries.package_infos 118 read None)."""
    first = factories.package(svc, admin, "Office Suite")
    second = factories.package(svc, admin, "office-suite")
    third = factories.package(svc, admin, "OFFICE suite!")
    assert [first.family_key, second.family_key, third.family_key] == [
        "office-suite",
        "office-suite-2",
        "office-suite-3",
    ]
    assert first.install_count == 0


def test_a_put_by_key_may_share_another_familys_name(svc: Services, admin: Actor) -> None:
    """packages.service._insert 28 stopped looking for the name. Since issue #13 a family's
    name is a display name (opsi's products may share one): the new family is made under its
    own key with the same name, and the first family keeps its own."""
    first = factories.package(svc, admin, "Editor")
    made = svc.packages.put_version(
        admin,
        "editor-ng",
        "1",
        "1",
        PackageFields(),
        new_fields=PackageFields(install_procedure="x"),
        name="Editor",
    )
    assert made is not None and made.family_id != first.family_id
    names = {svc.packages.get_family(admin, f).name for f in (first.family_id, made.family_id)}
    assert names == {"Editor"}


def test_put_version_audits_a_missing_version_and_a_creation(svc: Services, admin: Actor) -> None:
    """put_version 85 turned ``missing`` False; 87 garbled the action of a creation."""
    mark = factories.audit_mark(svc)
    assert svc.packages.put_version(admin, "tool", "1", "1", PackageFields(), new_fields=None) is None
    assert _last_audit(svc, mark, "package.update").detail == {
        "family_key": "tool",
        "version": "1",
        "missing": True,
    }
    mark = factories.audit_mark(svc)
    made = svc.packages.put_version(
        admin, "tool", "1", "1", PackageFields(), new_fields=PackageFields(install_procedure="x")
    )
    assert made is not None
    actions = [r.action for r in factories.audit_since(svc, mark)]
    assert actions == ["package.create"]


def test_a_missing_package_is_named_in_the_refusal(svc: Services, admin: Actor) -> None:
    """set_dependencies 21 and update 26 lost the package's id."""
    with pytest.raises(NotFound) as err:
        svc.packages.set_dependencies(admin, 4711, [])
    assert (err.value.object_id, err.value.message) == (4711, "package 4711 not found")
    with pytest.raises(NotFound) as err:
        svc.packages.update(admin, 4711, PackageFields())
    assert (err.value.object_id, err.value.message) == (4711, "package 4711 not found")


def test_an_upgrade_behaviour_out_of_range_is_refused_in_words(svc: Services, admin: Actor) -> None:
    """validation.clean_fields 45 dropped the text, 47 the reason."""
    from fleetdeck.core.errors import Reason

    with pytest.raises(ValidationFailed) as err:
        factories.package(svc, admin, "tool", upgrade_behavior=3)
    assert (err.value.field, err.value.message) == ("upgrade_behavior", "upgrade_behavior must be 0, 1 or 2")
    assert err.value.detail.get("reason") == Reason.INVALID


def test_a_merge_that_changes_the_key_is_refused_in_words(svc: Services, admin: Actor) -> None:
    """properties.merge 52 and 59: the text and the field of the refusal."""
    pkg = factories.package(svc, admin, "tool")
    with pytest.raises(ValidationFailed) as err:
        svc.properties.merge(admin, pkg.id, "lang", lambda current: PropertyConfig("other"))
    assert (err.value.field, err.value.message) == ("key", "a merge cannot change the property key")


def test_a_payload_is_written_beside_its_place_not_in_the_system_temp_dir(
    svc: Services, admin: Actor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The upload is renamed into place, which works only within one file system: its temporary
    file is made in the payload's own directory (payloads.PayloadStore.put 16 made it in the
    system's temporary directory, here one that does not exist)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    pkg = factories.package(svc, admin, "tool", payload=factories.zip_payload(a=b"x"))
    assert pkg.id


# ------------------------------------------------------------------ query, reports, settings


def test_a_query_with_too_many_conditions_is_refused_at_where() -> None:
    """query._expr_from_dict 9 dropped the field."""
    conds = [{"field": "name", "op": "eq", "value": str(n)} for n in range(200)]
    with pytest.raises(ValidationFailed) as err:
        Query.from_dict({"where": [{"any": conds}]})
    assert err.value.field == "where"


def test_fields_without_an_id_are_sorted_by_their_own_keys_only(runtime: Runtime) -> None:
    """``apply_query`` adds the id tie-break only when the fields have an id (35 added it
    whenever the sort did not name the id, and failed on fields without one)."""
    stmt, _ = apply_query(select(Group.name), None, Query(), {"name": Group.name}, default_sort="name")
    assert "ORDER BY" in str(stmt) and "groups.id" not in str(stmt).split("ORDER BY")[1]


def test_a_report_deletion_is_audited_as_the_report(svc: Services, admin: Actor) -> None:
    """reports.delete 14 upper-cased the object type."""
    rid = svc.reports.create(admin, "r", "SELECT 1").id
    mark = factories.audit_mark(svc)
    svc.reports.delete(admin, rid)
    row = _last_audit(svc, mark, "report.delete")
    assert (row.object_type, row.object_id) == ("report", str(rid))


def test_a_text_setting_takes_up_to_its_limit_and_says_when_it_is_no_text() -> None:
    """settings.registry._text 11 refused a text of exactly the limit; 6 garbled the message."""
    from fleetdeck.core.settings.registry import MAX_TEXT

    d = SettingDef("x.text", Kind.STR, "", "a text")
    assert coerce(d, "a" * MAX_TEXT) == "a" * MAX_TEXT
    with pytest.raises(ValidationFailed):
        coerce(d, "a" * (MAX_TEXT + 1))
    with pytest.raises(ValidationFailed) as err:
        coerce(d, 5)
    assert err.value.message == "x.text: expected a string"


def test_a_mac_of_the_wrong_length_is_refused_in_words() -> None:
    """wol.magic.magic_packet 4 garbled the text."""
    with pytest.raises(ValueError, match=r"^a MAC address has 6 bytes$"):
        magic_packet(b"\x01\x02")


# ------------------------------------------------------------------ users


def test_user_refusals_and_records(svc: Services, admin: Actor) -> None:
    """_check_password 11 dropped the field of a long password's refusal; create 37 dropped
    the full name; _insert 48 renamed the detail ``disabled``."""
    with pytest.raises(ValidationFailed) as err:
        svc.users.create(admin, "long", "x" * 5000, Role.VIEWER)
    assert (err.value.field, err.value.message) == ("password", "password is too long")
    made = svc.users.create(admin, "named", PASSWORD, Role.VIEWER, full_name="Named Person")
    assert made.full_name == "Named Person"
    mark = factories.audit_mark(svc)
    svc.users.put(admin, "off", PASSWORD, Role.VIEWER, disabled=True)
    assert _last_audit(svc, mark, "user.create").detail == {
        "username": "off",
        "role": "viewer",
        "disabled": True,
    }


def test_only_user_managers_delete_users_and_the_deletion_names_the_user(svc: Services, admin: Actor) -> None:
    """users.delete 5 dropped the permission (an operator could delete accounts); 3 the
    object type of the audit row."""
    operator = factories.user(svc, Role.OPERATOR)
    victim = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.users.delete(operator, victim.user_id or 0)
    mark = factories.audit_mark(svc)
    svc.users.delete(admin, victim.user_id or 0)
    row = _last_audit(svc, mark, "user.delete")
    assert (row.object_type, row.object_id) == ("user", str(victim.user_id))


def test_a_session_login_and_logout_are_audited_as_the_user(svc: Services, admin: Actor) -> None:
    """session_login 18 and session_logout 4, 17 had no test in the subset (web UI only)."""
    alice = factories.user(svc, Role.OPERATOR, "alice")
    mark = factories.audit_mark(svc)
    actor, _credential = svc.users.session_login("alice", PASSWORD, "127.0.0.1", "web")
    svc.users.session_logout(actor)
    rows = [
        (r.action, r.object_type, r.object_id, r.result, r.username) for r in factories.audit_since(svc, mark)
    ]
    assert rows == [
        ("auth.login", "user", str(alice.user_id), "ok", "alice"),
        ("auth.logout", "user", str(alice.user_id), "ok", "alice"),
    ]


def test_a_user_lists_their_own_tokens_and_counting_users_takes_no_write_lock(
    runtime: Runtime, svc: Services, admin: Actor
) -> None:
    """list_tokens 6 and count 2 had no test in the subset."""
    alice = factories.user(svc, Role.OPERATOR, "alice")
    bob = factories.user(svc, Role.OPERATOR, "bob")
    mine = svc.users.create_token(alice, "ci", "read", None)
    svc.users.create_token(bob, "other", "read", None)
    assert [(t.id, t.name) for t in svc.users.list_tokens(alice)] == [(mine.info.id, "ci")]
    with write_transactions(runtime.db.engine) as writes:
        assert svc.users.count() >= 2
    if BACKEND == "sqlite":
        assert writes == []


# ------------------------------------------------------------------ housekeeping's log


def _unreachable_leases(tmp_path: Path, clock: ManualClock) -> LeaseService:
    """Leases in a database that cannot be opened (its directory does not exist)."""
    return LeaseService(Database(f"sqlite:///{tmp_path / 'gone' / 'x.db'}"), clock)


def test_housekeeping_logs_what_it_takes_over_and_what_fails(
    svc: Services, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator reads in the log which process runs a duty and why a lease could not be
    taken or given back (run_once 35, 12 and stop 17 changed or dropped those texts)."""
    duty = Duty("tidy", 60.0, lambda: None)
    with caplog.at_level(logging.INFO, logger="fleetdeck.housekeeping"):
        assert asyncio.run(Housekeeping(svc.leases, [duty], "node:1").run_once(duty))
        broken = Housekeeping(_unreachable_leases(tmp_path, clock), [duty], "node:2")
        assert not asyncio.run(broken.run_once(duty))
        broken.held.add("tidy")  # it held the duty when its database went away
        asyncio.run(broken.stop())
    assert "running tidy here (node:1)" in caplog.messages
    assert "taking the lease of tidy failed" in caplog.messages
    assert "releasing the lease of tidy failed" in caplog.messages
