"""Tests for survivors of the fresh sample of seed 20261209 (docs/testing.md, "Mutation
testing"): each asserts the behaviour the named mutant changed, through core's services."""

from __future__ import annotations

import pytest

from fleetdeck.core.alerting.service import TemplateInput
from fleetdeck.core.authz import Actor, Perm, Role, system_actor
from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config
from tests import factories

ADMIN = system_actor("test")


def test_deleting_a_property_leaves_the_same_key_of_other_packages(svc: Services, admin: Actor) -> None:
    """packages.properties.delete 19: the package dropped from the lookup, so deleting a key of
    one package deleted the first package's property of that name."""
    first = factories.package(svc, admin, "one").id
    second = factories.package(svc, admin, "two").id
    svc.properties.put(admin, first, Config("lang"))
    svc.properties.put(admin, second, Config("lang"))
    assert svc.properties.delete(admin, second, "lang") is True
    assert [(p.package_id, p.prop.key) for p in svc.properties.find(admin, [first, second])] == [
        (first, "lang")
    ]
    assert svc.properties.delete(admin, second, "lang") is False


def test_a_users_groups_grant_only_their_own_permissions(svc: Services, admin: Actor) -> None:
    """users.groups._store_perms 11: every group's grants copied to a member of one."""
    svc.user_groups.put(ADMIN, "a", {Perm.RUN_COMMANDS: True})
    svc.user_groups.put(ADMIN, "b", {Perm.USE_VAULT: True, Perm.READ_AUDIT: True})
    ann = svc.users.create(ADMIN, "ann", factories.PASSWORD, Role.OPERATOR, groups=["a"]).id
    got = svc.user_groups.memberships(admin, [ann])[ann]
    assert got.granted == {Perm.RUN_COMMANDS}
    assert Perm.USE_VAULT in got.withheld and Perm.READ_AUDIT in got.withheld


def test_a_finished_deployment_job_is_no_longer_pending(svc: Services, admin: Actor) -> None:
    """packages.queries.pending_jobs 10: the status filter dropped, so finished jobs were listed
    as pending on the package."""
    pc = factories.computer(svc, ADMIN, "pc-1")
    pkg = factories.package(svc, admin, "app").id
    created = factories.deployment(svc, admin, [pc], [pkg])
    [pending] = svc.packages.get(admin, pkg).pending_jobs
    assert (pending.id, pending.computer_id, pending.hostname) == (created.job_ids[0], pc, "pc-1")
    for job_id in factories.deliver(svc, pc):
        factories.finish(svc, pc, job_id)
    assert svc.packages.get(admin, pkg).pending_jobs == []


def test_only_settings_managers_delete_notification_templates(svc: Services, admin: Actor) -> None:
    """alerting.service.delete_template 10: the permission dropped: an operator could delete a
    notification template."""
    svc.alerting.create_template(
        admin, TemplateInput("smtp", "s", "b", recipients=("ops@example.org",)), "mail"
    )
    operator = factories.user(svc, Role.OPERATOR)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.alerting.delete_template(operator, "mail")
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.result) == ("notification_template.delete", "mail", "denied")
    assert [t.id for t in svc.alerting.templates(admin)] == ["mail"]
    svc.alerting.delete_template(admin, "mail")
    assert svc.alerting.templates(admin) == []


@pytest.mark.parametrize("name", [".hidden.sh", "..", "a/b", "a\\b", "a\tb"])
def test_a_script_transport_is_a_plain_file_name(svc: Services, admin: Actor, name: str) -> None:
    """alerting.service._check_template 18: ``or`` -> ``and`` let a name starting with a dot
    through (a hidden file, or ``..``)."""
    with pytest.raises(ValidationFailed) as err:
        svc.alerting.create_template(admin, TemplateInput(name, "s", "b"), "t")
    assert (err.value.message, err.value.field) == (
        "a script transport is the name of a file in the alert scripts directory",
        "transport",
    )


def test_a_failed_password_login_is_audited_as_the_user_it_named(svc: Services) -> None:
    """users.service.password_login 75: the failed login's object id dropped."""
    uid = svc.users.create(ADMIN, "alice", factories.PASSWORD, Role.OPERATOR).id
    mark = factories.audit_mark(svc)
    for name in ("alice", "nobody"):
        with pytest.raises(AuthenticationFailed):
            svc.users.password_login(name, "wrong-password-1", "10.0.0.1", "web")
    rows = factories.audit_since(svc, mark)
    assert [(r.object_type, r.object_id, r.result) for r in rows] == [
        ("user", str(uid), "failed"),
        ("user", "nobody", "failed"),
    ]


def test_a_deployments_jobs_page_goes_past_the_124th_job(svc: Services, admin: Actor) -> None:
    """deployments.service.container_jobs_page 9: ``2**62`` -> ``2 * 62``: any offset above 123
    refused."""
    pc = factories.computer(svc, ADMIN, "pc-1")
    pkg = factories.package(svc, admin, "app").id
    created = factories.deployment(svc, admin, [pc], [pkg])
    page = svc.deployments.container_jobs_page(admin, created.id, offset=500, limit=10)
    assert (page.items, page.total) == ([], 1)
    with pytest.raises(ValidationFailed):
        svc.deployments.container_jobs_page(admin, created.id, offset=2**62, limit=10)


def test_a_terminal_opening_is_audited_with_its_size(svc: Services, admin: Actor) -> None:
    """terminals.open 46: the audit detail's key ``rows`` garbled."""
    pc = factories.computer(svc, ADMIN, "pc-1", os="Linux")
    grant = svc.terminals.open(admin, pc, cols=120, rows=40)
    [row] = svc.audit.find(admin, Query((Cond("action", Op.EQ, "terminal.open"),))).items
    assert row.detail == {"session": grant.session_id, "hostname": "pc-1", "cols": 120, "rows": 40}


def test_a_like_on_a_number_is_refused_at_its_field(svc: Services, admin: Actor) -> None:
    """query.to_sql 79: the refusal's field dropped."""
    with pytest.raises(ValidationFailed) as err:
        svc.computers.find(admin, Query(where=(Cond("id", Op.LIKE, "1*"),)))
    assert (err.value.message, err.value.field) == ("field 'id' is not text: like and * need text", "id")


def test_a_property_merge_of_a_missing_package_names_the_package(svc: Services, admin: Actor) -> None:
    """packages.properties.merge 25: NotFound without its object type."""
    with pytest.raises(NotFound) as err:
        svc.properties.merge(admin, 999_999, "lang", lambda old: old)
    assert (err.value.message, err.value.object_type) == ("package 999999 not found", "package")


def test_a_basic_login_keeps_the_transport_it_came_through(svc: Services) -> None:
    """users.service.basic_login 16: the password login's ``via`` dropped."""
    svc.users.create(ADMIN, "alice", factories.PASSWORD, Role.OPERATOR)
    actor, _ = svc.users.basic_login("alice", factories.PASSWORD, "10.0.0.1", "opsi")
    assert (actor.username, actor.via, actor.source) == ("alice", "opsi", "10.0.0.1")


def test_an_enabled_users_creation_is_audited_without_disabled(svc: Services) -> None:
    """users.service._insert 46: ``disabled: true`` in the audit detail of every new user."""
    mark = factories.audit_mark(svc)
    uid = svc.users.create(ADMIN, "bob", factories.PASSWORD, Role.VIEWER).id
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_id, row.detail) == (
        "user.create",
        str(uid),
        {"username": "bob", "role": "viewer"},
    )
