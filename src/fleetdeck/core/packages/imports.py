"""Importing a whole package (product, properties, dependency rules and payload) in one
transaction: what a package archive such as opsi's ``.opsi`` file carries. The archive itself is
read by the transports' kit (``api/kit/opsi_package.py``); core gets plain values."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.packages.entities import DependencyRule, ImportedDependency, PackageImport
from fleetdeck.core.packages.properties import check_property, fill_row
from fleetdeck.storage.tables import Package, PackageFamily, PackageProperty

MAX_PROPERTIES = 1000
MAX_DEPENDENCIES = 1000


def check_import(imp: PackageImport) -> None:
    """What can be checked before the transaction: counts, property keys and rules."""
    if len(imp.properties) > MAX_PROPERTIES:
        raise ValidationFailed(f"more than {MAX_PROPERTIES} properties", field="properties")
    if len(imp.dependencies) > MAX_DEPENDENCIES:
        raise ValidationFailed(f"more than {MAX_DEPENDENCIES} dependencies", field="dependencies")
    keys = [p.key for p in imp.properties]
    for prop in imp.properties:
        check_property(prop)
    if len(set(keys)) != len(keys):
        raise ValidationFailed("a property is defined twice", field="properties")


def replace_properties(s: Session, package_id: int, imp: PackageImport) -> None:
    s.execute(delete(PackageProperty).where(PackageProperty.package_id == package_id))
    for prop in imp.properties:
        row = PackageProperty(package_id=package_id, key=prop.key)
        fill_row(row, prop)
        s.add(row)
    s.flush()


def resolve_rules(
    s: Session, family_id: int, deps: tuple[ImportedDependency, ...]
) -> tuple[list[DependencyRule], list[str]]:
    """Each rule's required family key -> that family's newest package (one query); keys with
    no package here are returned apart (their rules are left out)."""
    keys = {d.requires_key for d in deps}
    newest: dict[str, int] = {}
    if keys:
        rows = s.execute(
            select(PackageFamily.key, PackageFamily.id, Package.id)
            .join(Package, Package.family_id == PackageFamily.id)
            .where(PackageFamily.key.in_(keys))
            .order_by(Package.created_at, Package.id)
        ).all()
        for key, fid, pid in rows:
            if fid == family_id:
                raise ValidationFailed("a package cannot depend on its own product", field="dependencies")
            newest[key] = pid  # ordered: the last one is the newest
    rules, unresolved = [], []
    for d in deps:
        if d.requires_key not in newest:
            unresolved.append(d.requires_key)
            continue
        rules.append(
            DependencyRule(
                requires_id=newest[d.requires_key],
                action=d.action,
                required_action=d.required_action,
                required_status=d.required_status,
                requirement_type=d.requirement_type,
                required_version=d.required_version,
                required_package_version=d.required_package_version,
            )
        )
    return rules, sorted(set(unresolved))
