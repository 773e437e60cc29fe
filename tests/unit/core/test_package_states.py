"""A package family's state on a computer (opsi's productOnClient) set by an admin or reported by
the computer itself (``DeploymentService.set_package_state``), called directly: the fields kept,
the installation records it corrects, the jobs an action request makes or withdraws, who may do
what, and the refusals. The opsi dialect tests do the same through HTTP; these are the ones the
mutation subset runs (docs/testing.md, "Mutation testing": this method had no test there)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.packages import states
from fleetdeck.core.packages.states import PackageStateInfo
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from fleetdeck.storage.uow import UnitOfWork
from tests import factories


def _set(svc: Services, actor: Actor, cid: int, key: str, **changes: Any) -> PackageStateInfo:
    return svc.deployments.set_package_state(actor, cid, key, changes, name="opsi")


def _jobs(svc: Services, admin: Actor, cid: int) -> list[tuple[str, int | None, JobStatus]]:
    page = svc.jobs.find(admin, Query(where=(Cond("computer_id", Op.EQ, cid),), limit=None))
    return sorted((j.kind, j.spec.get("package_id", None) or None, j.status) for j in page.items)


def _installed(svc: Services, admin: Actor, cid: int) -> list[int]:
    return sorted(i.package_id for i in svc.packages.list_installations(admin, computer_id=cid))


def _host(cid: int) -> Actor:
    return Actor(user_id=None, username=f"pc{cid}", role=Role.VIEWER, computer_id=cid)


def test_fields_are_stored_and_a_correction_records_the_installation_without_a_job(
    svc: Services, admin: Actor
) -> None:
    cid = factories.computer(svc, admin, "pc")
    old = factories.package(svc, admin, "tool", "1")
    new = factories.package(svc, admin, "tool", "2")
    mark = factories.audit_mark(svc)
    info = _set(
        svc,
        admin,
        cid,
        "tool",
        installation_status="installed",
        version="1",
        package_version=old.package_version,
        last_action="setup",
        action_result="successful",
        target_configuration="installed",
        action_progress="done",
    )
    assert (info.computer_id, info.family_key, info.installation_status, info.action_request) == (
        cid,
        "tool",
        "installed",
        "none",
    )
    assert (info.last_action, info.action_result, info.target_configuration, info.action_progress) == (
        "setup",
        "successful",
        "installed",
        "done",
    )
    assert (info.version, info.job_id) == ("1", None)
    assert _installed(svc, admin, cid) == [old.id]  # the versions given pick the package
    assert _jobs(svc, admin, cid) == []
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "package_state.set"]
    assert (row.object_type, row.object_id) == ("computer", str(cid))
    assert row.detail["family_key"] == "tool" and row.detail["changes"]["installation_status"] == "installed"
    assert (row.detail["containers"], row.detail["withdrawn"]) == ([], [])
    assert factories.package_states(svc, admin, [cid], ["tool"]) == [(*info[:10], info.modified_at)]

    _set(svc, admin, cid, "tool", installation_status="installed")  # already recorded: kept
    assert _installed(svc, admin, cid) == [old.id]
    _set(svc, admin, cid, "tool", installation_status="not_installed", action_progress=None)
    assert _installed(svc, admin, cid) == []
    assert factories.package_states(svc, admin, [cid], ["tool"])[0][6] is None  # progress cleared
    _set(svc, admin, cid, "tool", installation_status="installed")  # no versions: the newest
    assert _installed(svc, admin, cid) == [new.id]


def test_an_action_request_makes_a_job_and_none_withdraws_it(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    mark = factories.audit_mark(svc)
    info = _set(svc, admin, cid, "tool", action_request="setup")
    assert info.action_request == "setup" and info.job_id is not None
    [(kind, _pid, status)] = _jobs(svc, admin, cid)
    assert (kind, status) == ("package_install", JobStatus.QUEUED)
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "package_state.set"]
    assert row.detail["changes"] == {"action_request": "setup"} and len(row.detail["containers"]) == 1
    assert _set(svc, admin, cid, "tool", action_request="once").job_id == info.job_id  # pending: kept

    withdrawn = _set(svc, admin, cid, "tool", action_request="none")
    assert (withdrawn.action_request, withdrawn.job_id) == ("none", None)
    assert _jobs(svc, admin, cid) == []  # a job not yet sent is taken back
    assert svc.packages.get(admin, pkg.id).pending_jobs == []


def test_uninstall_is_a_job_only_for_an_installed_family_and_custom_is_only_stored(
    svc: Services, admin: Actor
) -> None:
    cid = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    stored = _set(svc, admin, cid, "tool", action_request="uninstall")
    assert (stored.action_request, stored.job_id) == ("uninstall", None)
    assert _jobs(svc, admin, cid) == []
    assert _set(svc, admin, cid, "tool", action_request="custom").job_id is None
    factories.installed(svc, admin, cid, pkg.id)
    before = len(_jobs(svc, admin, cid))
    job = _set(svc, admin, cid, "tool", action_request="uninstall")
    assert job.action_request == "uninstall" and job.job_id is not None
    kinds = [k for k, _p, s in _jobs(svc, admin, cid) if s == JobStatus.QUEUED]
    assert kinds == ["package_uninstall"] and len(_jobs(svc, admin, cid)) == before + 1


def test_a_finished_uninstall_job_records_its_action_as_uninstall(svc: Services, admin: Actor) -> None:
    """When the uninstall job an action request made succeeds, the state says the last action
    was ``uninstall`` (not ``setup``), successful, the family not installed and the request done."""
    cid = factories.computer(svc, admin, "pc")
    pkg = factories.package(svc, admin, "tool")
    factories.installed(svc, admin, cid, pkg.id)
    job_id = _set(svc, admin, cid, "tool", action_request="uninstall").job_id
    assert job_id is not None
    assert factories.deliver(svc, cid) == [job_id]
    factories.finish(svc, cid, job_id)
    [state] = factories.package_states(svc, admin, [cid], ["tool"])
    assert state[:10] == (
        cid,
        "tool",
        "not_installed",
        "none",
        "uninstall",
        "successful",
        "",
        None,
        None,
        None,
    )
    assert _installed(svc, admin, cid) == []


def test_a_computer_reports_its_own_state_but_may_not_request_actions(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    other = factories.computer(svc, admin, "other")
    factories.package(svc, admin, "tool")
    own = _set(svc, _host(cid), cid, "tool", installation_status="installed", last_action="setup")
    assert (own.installation_status, own.last_action) == ("installed", "setup")
    assert _set(svc, _host(cid), cid, "tool", action_request="none").action_request == "none"
    with pytest.raises(PermissionDenied):
        _set(svc, _host(cid), cid, "tool", action_request="setup")
    with pytest.raises(PermissionDenied):
        _set(svc, _host(other), cid, "tool", last_action="setup")
    operator = factories.user(svc, Role.OPERATOR)
    assert _set(svc, operator, cid, "tool", installation_status="not_installed").installation_status == (
        "not_installed"
    )
    assert _set(svc, operator, cid, "tool", last_action="uninstall").last_action == "uninstall"
    with pytest.raises(PermissionDenied):
        _set(svc, factories.user(svc, Role.VIEWER), cid, "tool", last_action="setup")


def test_bad_changes_are_refused_in_words(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    factories.package(svc, admin, "tool")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"colour": "red"}, "colour", "unknown package state field colour"),
        ({"installation_status": None}, "installation_status", "installation_status cannot be empty"),
        ({"action_request": None}, "action_request", "action_request cannot be empty"),
        ({"version": 3}, "version", "version must be text"),
        (
            {"action_result": "meh"},
            "action_result",
            "action_result 'meh' is not one of none, failed, successful",
        ),
        ({"version": "v" * 256}, "version", "version is too long"),
        ({"package_version": "p" * 65}, "package_version", "package_version is too long"),
        (
            {"last_action": "x" * 17},
            "last_action",
            "last_action 'xxxxxxxxxxxxxxxxx' is not one of "
            "setup, uninstall, update, always, once, custom, none",
        ),
    ]
    for changes, field, message in cases:
        with pytest.raises(ValidationFailed) as err:
            svc.deployments.set_package_state(admin, cid, "tool", changes, name="opsi")
        assert (err.value.field, err.value.message) == (field, message)
    assert _set(svc, admin, cid, "tool", version="v" * 255, package_version="p" * 64).version == "v" * 255
    with pytest.raises(NotFound):
        _set(svc, admin, 10**6, "tool", last_action="setup")
    assert factories.package_states(svc, admin, [cid]) != []


def test_states_are_read_by_computer_then_family(runtime: Runtime, svc: Services, admin: Actor) -> None:
    """``states.read`` gives the states by computer, then family, as it says (the service reads
    one state at a time with it, so only a direct call sees the order; read 4 ordered by the
    family alone: the first family of every computer came before the second)."""
    a, b = factories.computer(svc, admin, "a"), factories.computer(svc, admin, "b")
    factories.package(svc, admin, "one")
    factories.package(svc, admin, "two")
    for cid, key in ((b, "one"), (a, "two"), (a, "one")):
        _set(svc, admin, cid, key, last_action="setup")
    with UnitOfWork(runtime.db, readonly=True) as uow:
        every = states.read(uow.session)
        chosen = states.read(uow.session, [b, a], ["two", "one"])
    assert [(r[0], r[1]) for r in every] == [(a, "one"), (a, "two"), (b, "one")]
    assert chosen == every
