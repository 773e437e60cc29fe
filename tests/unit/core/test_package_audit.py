"""Every change to packages, package families and groups, properties, installations,
deployments and deployment rules leaves exactly one audit row saying who did what to which
object, through which transport; and a refused attempt leaves a ``denied`` row.

One case per mutating service method: a method that forgets its ``AuditLog.mutation`` (or
records the wrong action or object) fails its case here, whichever transport calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import PermissionDenied
from fleetdeck.core.packages.entities import DependencyRule, InstallationInfo, PackageFields, PackageInfo
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config
from tests import factories


@dataclass(frozen=True)
class World:
    svc: Services
    pc: int
    pc_group: int
    tool: PackageInfo  # in the package group, deployed and installed on pc
    spare: PackageInfo  # nothing refers to it
    empty_family: int  # a family whose only package was deleted
    package_group: int
    container: int
    container_job: int
    rule: int
    installation: InstallationInfo


@pytest.fixture
def world(runtime: Runtime) -> World:
    svc = runtime.services
    admin = factories.user(svc, Role.ADMIN, "root")
    pc = factories.computer(svc, admin, "pc-1")
    tool = factories.package(svc, admin, "Tool", payload=factories.zip_payload(**{"setup.sh": b"true"}))
    spare = factories.package(svc, admin, "Spare")
    gone = factories.package(svc, admin, "Gone")
    svc.packages.delete(admin, gone.id)
    pgroup = factories.package_group(svc, admin, "Base", [tool.id])
    installation = factories.installed(svc, admin, pc, tool.id)
    pending = factories.deployment(svc, admin, [pc], [spare.id], name="pending")
    rule = svc.deployments.create_rule(admin, "baseline", factories.group(svc, admin, "Lab"), pgroup)
    svc.properties.put(admin, tool.id, Config(key="lang", default_values=["en"]))
    return World(
        svc=svc,
        pc=pc,
        pc_group=rule.computer_group_id,
        tool=tool,
        spare=spare,
        empty_family=gone.family_id,
        package_group=pgroup,
        container=pending.id,
        container_job=pending.job_ids[0],
        rule=rule.id,
        installation=installation,
    )


@dataclass(frozen=True)
class Case:
    action: str
    object_type: str
    run: Callable[[World, Actor], object]  # returns the id of what it created, else None
    target: Callable[[World], object] | None = None  # the object an update or delete names


CASES: dict[str, Case] = {
    "package.create": Case("package.create", "package", lambda w, a: factories.package(w.svc, a, "New").id),
    "package.update": Case(
        "package.update",
        "package",
        lambda w, a: w.svc.packages.update(a, w.tool.id, PackageFields(description="new")) and None,
        lambda w: w.tool.id,
    ),
    "package.delete": Case(
        "package.delete", "package", lambda w, a: w.svc.packages.delete(a, w.spare.id), lambda w: w.spare.id
    ),
    "package.set_dependencies": Case(
        "package.set_dependencies",
        "package",
        lambda w, a: w.svc.packages.set_dependencies(a, w.tool.id, [w.spare.id]) and None,
        lambda w: w.tool.id,
    ),
    "package.set_dependency_rules": Case(
        "package.set_dependencies",
        "package",
        lambda w, a: w.svc.packages.set_dependency_rules(a, w.tool.id, [DependencyRule(w.spare.id)]) and None,
        lambda w: w.tool.id,
    ),
    "package_family.update": Case(
        "package_family.update",
        "package_family",
        lambda w, a: w.svc.packages.update_family(a, w.tool.family_id, notes="n") and None,
        lambda w: w.tool.family_id,
    ),
    "package_family.delete": Case(
        "package_family.delete",
        "package_family",
        lambda w, a: w.svc.packages.delete_family(a, w.empty_family),
        lambda w: w.empty_family,
    ),
    "package_group.create": Case(
        "group.create", "group", lambda w, a: w.svc.packages.create_group(a, "Extra").id
    ),
    "package_group.update": Case(
        "group.update",
        "group",
        lambda w, a: w.svc.packages.update_group(a, w.package_group, description="d") and None,
        lambda w: w.package_group,
    ),
    "package_group.delete": Case(
        "group.delete",
        "group",
        lambda w, a: w.svc.packages.delete_group(a, w.package_group),
        lambda w: w.package_group,
    ),
    "package_group.add_member": Case(
        "package_group.add_member",
        "group",
        lambda w, a: w.svc.packages.add_to_group(a, w.package_group, w.spare.id) and None,
        lambda w: w.package_group,
    ),
    "package_group.remove_member": Case(
        "package_group.remove_member",
        "group",
        lambda w, a: w.svc.packages.remove_from_group(a, w.package_group, w.tool.id),
        lambda w: w.package_group,
    ),
    "package_group.move_member": Case(
        "package_group.move_member",
        "group",
        lambda w, a: w.svc.packages.move_in_group(a, w.package_group, w.tool.id, 1),
        lambda w: w.package_group,
    ),
    "package_property.put": Case(
        "package_property.put",
        "package",
        lambda w, a: w.svc.properties.put(a, w.tool.id, Config(key="mode")) and None,
        lambda w: w.tool.id,
    ),
    "package_property.delete": Case(
        "package_property.delete",
        "package",
        lambda w, a: w.svc.properties.delete(a, w.tool.id, "lang") and None,
        lambda w: w.tool.id,
    ),
    "package_property.set_value": Case(
        "package_property.set_value",
        "computer",
        lambda w, a: w.svc.properties.set_value(a, w.tool.family_id, "lang", w.pc, ["de"]),
        lambda w: w.pc,
    ),
    "package_property.clear_value": Case(
        "package_property.clear_value",
        "computer",
        lambda w, a: w.svc.properties.clear_value(a, w.tool.family_id, "lang", w.pc),
        lambda w: w.pc,
    ),
    "installation.assign": Case(
        "installation.assign",
        "computer",
        lambda w, a: w.svc.packages.assign_installation(a, w.pc, w.spare.id) and None,
        lambda w: w.pc,
    ),
    "installation.remove": Case(
        "installation.remove",
        "installation",
        lambda w, a: w.svc.packages.remove_installation(a, w.installation.id),
        lambda w: w.installation.id,
    ),
    "deployment.create": Case(
        "deployment.create",
        "job_batch",
        # tool, not spare: spare's install is pending on pc, and a deploy does not repeat it
        lambda w, a: factories.deployment(w.svc, a, [w.pc], [w.tool.id], name="roll-out").id,
    ),
    "deployment.uninstall": Case(
        "deployment.uninstall",
        "job_batch",
        lambda w, a: w.svc.deployments.uninstall(a, "removal", installation_ids=[w.installation.id]).id,
    ),
    "deployment.delete": Case(
        "deployment.delete",
        "job_batch",
        lambda w, a: w.svc.deployments.remove_container(a, w.container),
        lambda w: w.container,
    ),
    "deployment.delete_job": Case(
        "deployment.delete_job",
        "job",
        lambda w, a: w.svc.deployments.remove_job(a, w.container_job),
        lambda w: w.container_job,
    ),
    "deployment_rule.create": Case(
        "deployment_rule.create",
        "deployment_rule",
        lambda w, a: w.svc.deployments.create_rule(a, "second", w.pc_group, w.package_group).id,
    ),
    "deployment_rule.update": Case(
        "deployment_rule.update",
        "deployment_rule",
        lambda w, a: w.svc.deployments.update_rule(a, w.rule, enabled=False) and None,
        lambda w: w.rule,
    ),
    "deployment_rule.delete": Case(
        "deployment_rule.delete",
        "deployment_rule",
        lambda w, a: w.svc.deployments.delete_rule(a, w.rule),
        lambda w: w.rule,
    ),
}


def rows_after(svc: Services, mark: int) -> list[tuple[object, ...]]:
    """(action, object type, object id, result, user, user id, via, source) of the audit rows
    written after ``mark``, oldest first."""
    return [
        (r.action, r.object_type, r.object_id, r.result, r.username, r.user_id, r.via, r.source)
        for r in factories.audit_since(svc, mark)
    ]


@pytest.mark.parametrize("name", CASES)
def test_each_change_leaves_one_audit_row(world: World, name: str) -> None:
    case = CASES[name]
    operator = factories.user(world.svc, Role.OPERATOR, "otto", via="some-transport")
    before = factories.audit_mark(world.svc)
    created = case.run(world, operator)
    object_id = created if case.target is None else case.target(world)
    assert object_id is not None
    assert rows_after(world.svc, before) == [
        (
            case.action,
            case.object_type,
            str(object_id),
            "ok",
            "otto",
            operator.user_id,
            "some-transport",
            "127.0.0.1",
        )
    ]


@pytest.mark.parametrize("name", CASES)
def test_a_refused_change_is_audited_as_denied(world: World, name: str) -> None:
    case = CASES[name]
    viewer = factories.user(world.svc, Role.VIEWER, "vic", via="some-transport")
    before = factories.audit_mark(world.svc)
    with pytest.raises(PermissionDenied):
        case.run(world, viewer)
    object_id = "" if case.target is None else str(case.target(world))
    assert rows_after(world.svc, before) == [
        (
            case.action,
            case.object_type,
            object_id,
            "denied",
            "vic",
            viewer.user_id,
            "some-transport",
            "127.0.0.1",
        )
    ]


def test_a_created_packages_audit_row_says_its_family_version_and_payload(runtime: Runtime) -> None:
    """``package.create``'s row details the family and version as stored (trimmed) and the
    payload's digest (None without one)."""
    svc = runtime.services
    admin = factories.user(svc, Role.ADMIN, "root")
    mark = factories.audit_mark(svc)
    with_payload = factories.package(svc, admin, " Tool ", " 2.1 ", payload=factories.zip_payload(a=b"a"))
    bare = factories.package(svc, admin, "Tool", "2.2")
    assert factories.audited(svc, mark) == [
        (
            "package.create",
            "package",
            str(with_payload.id),
            "ok",
            {"family": "Tool", "version": "2.1", "payload": with_payload.payload_sha256},
        ),
        (
            "package.create",
            "package",
            str(bare.id),
            "ok",
            {"family": "Tool", "version": "2.2", "payload": None},
        ),
    ]
    assert with_payload.payload_sha256 is not None
