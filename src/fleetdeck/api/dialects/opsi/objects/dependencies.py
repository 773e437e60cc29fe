"""opsi ``ProductDependency`` over fleetdeck's package dependency rules.

A rule belongs to one package (``productId`` + versions) and one ``productAction``; it names the
required product (stored as one of its packages: the one with ``requiredProductVersion``/
``requiredPackageVersion``, else the newest; the pinned versions are kept as given, null when
not given, as opsi stores them), and either ``requiredAction`` or
``requiredInstallationStatus`` (opsi allows neither, but such a rule can never be acted on, so it
is refused), and ``requirementType`` before/after/none. fleetdeck's own deployments act on the
install rules; the opsi sequencing methods (``methods/sequence.py``) act on all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import BackendMissingDataError, OpsiValueError
from fleetdeck.api.dialects.opsi.objects.products import force_product_id, force_version, newest, packages
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.packages.entities import DependencyRule, PackageInfo

Row = dict[str, Any]
ACTIONS = ("setup", "uninstall", "update", "always", "once", "custom")
STATUSES = ("installed", "not_installed")


def _find(pkgs: list[PackageInfo], product: str, version: Any, package_version: Any) -> PackageInfo | None:
    if version is None and package_version is None:
        return newest(pkgs, product)
    for p in pkgs:
        if (
            p.family_key == product
            and (version is None or p.version == str(version))
            and (package_version is None or p.package_version == str(package_version))
        ):
            return p
    return None


def _choice(obj: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = obj.get(key)
    if value in (None, "", "undefined"):
        return None
    if value not in allowed:
        raise OpsiValueError(f"Bad {key}: '{value}'")
    return str(value)


def _pin(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    value = obj.get(key)
    return None if value in (None, "") else force_version(value, what)


class ProductDependencyAdapter:
    ident: tuple[str, ...] = (
        "productId",
        "productVersion",
        "packageVersion",
        "productAction",
        "requiredProductId",
    )
    attributes: tuple[str, ...] = (
        *ident,
        "requiredProductVersion",
        "requiredPackageVersion",
        "requiredAction",
        "requiredInstallationStatus",
        "requirementType",
    )
    family: Mapping[str, tuple[str, ...]] = {"ProductDependency": ("ProductDependency",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        pkgs = packages(ctx)
        by_id = {p.id: p for p in pkgs}
        rows = []
        for p in pkgs:
            for rule in p.dependency_rules:
                r = by_id.get(rule.requires_id)
                if r is None:
                    continue
                rows.append(
                    {
                        "productId": p.family_key,
                        "productVersion": p.version,
                        "packageVersion": p.package_version,
                        "productAction": rule.action,
                        "requiredProductId": r.family_key,
                        "requiredProductVersion": rule.required_version,
                        "requiredPackageVersion": rule.required_package_version,
                        "requiredAction": rule.required_action,
                        "requiredInstallationStatus": rule.required_status,
                        "requirementType": rule.requirement_type or None,
                        "type": "ProductDependency",
                    }
                )
        return rows

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        out: Row = {
            "type": "ProductDependency",
            "productId": force_product_id(obj.get("productId")),
            "productVersion": force_version(obj.get("productVersion"), "product version"),
            "packageVersion": force_version(obj.get("packageVersion"), "package version"),
            "productAction": _choice(obj, "productAction", ACTIONS),
            "requiredProductId": force_product_id(obj.get("requiredProductId")),
            "requiredProductVersion": _pin(obj, "requiredProductVersion", "product version"),
            "requiredPackageVersion": _pin(obj, "requiredPackageVersion", "package version"),
            "requiredAction": _choice(obj, "requiredAction", ACTIONS),
            "requiredInstallationStatus": _choice(obj, "requiredInstallationStatus", STATUSES),
            "requirementType": _choice(obj, "requirementType", ("before", "after")),
        }
        if out["productAction"] is None:
            raise OpsiValueError("productAction is required")
        if out["requiredAction"] is not None and out["requiredInstallationStatus"] is not None:
            raise OpsiValueError("give requiredAction or requiredInstallationStatus, not both")
        if not partial and out["requiredAction"] is None and out["requiredInstallationStatus"] is None:
            raise OpsiValueError("requiredAction or requiredInstallationStatus is required")
        return out

    def _packages(
        self, ctx: Context, obj: Mapping[str, Any]
    ) -> tuple[list[PackageInfo], PackageInfo, PackageInfo]:
        pkgs = packages(ctx)
        dependent = _find(pkgs, str(obj["productId"]), obj["productVersion"], obj["packageVersion"])
        if dependent is None:
            raise BackendMissingDataError(
                f"Product {obj['productId']} {obj['productVersion']}-{obj['packageVersion']} not found"
            )
        # opsi stores a rule pinning a version the depot does not have (the ordering then leaves
        # it out); the rule is kept against the product's newest package with its pins as given.
        required = _find(
            pkgs,
            str(obj["requiredProductId"]),
            obj.get("requiredProductVersion"),
            obj.get("requiredPackageVersion"),
        ) or newest(pkgs, str(obj["requiredProductId"]))
        if required is None:
            raise BackendMissingDataError(f"Required product '{obj['requiredProductId']}' not found")
        return pkgs, dependent, required

    @staticmethod
    def _same(rule: DependencyRule, action: str, family: str, by_id: Mapping[int, PackageInfo]) -> bool:
        other = by_id.get(rule.requires_id)
        return rule.action == action and other is not None and other.family_key == family

    def _put(self, ctx: Context, obj: Row, create: bool, partial: bool) -> None:
        """``partial`` (the update forms): what ``obj`` leaves null keeps its stored value;
        otherwise (insert) the rule is overwritten, as opsi's insertObject does."""
        pkgs, dependent, required = self._packages(ctx, obj)
        by_id = {p.id: p for p in pkgs}
        action, family = str(obj["productAction"]), required.family_key
        old = next((r for r in dependent.dependency_rules if self._same(r, action, family, by_id)), None)
        if old is None and not create:
            return
        status = obj.get("requiredInstallationStatus")
        wanted = obj.get("requiredAction")
        pins = (obj.get("requiredProductVersion"), obj.get("requiredPackageVersion"))
        if old is not None and partial:
            if status is None and wanted is None:
                status, wanted = old.required_status, old.required_action
            pins = (pins[0] or old.required_version, pins[1] or old.required_package_version)
        rule = DependencyRule(
            requires_id=required.id,
            action=action,
            required_action=wanted,
            required_status=status,
            requirement_type=str(obj.get("requirementType") or ""),
            required_version=pins[0],
            required_package_version=pins[1],
        )
        keep = [r for r in dependent.dependency_rules if not self._same(r, action, family, by_id)]
        ctx.services.packages.set_dependency_rules(ctx.actor, dependent.id, [*keep, rule])

    def insert(self, ctx: Context, obj: Row) -> None:
        self._put(ctx, obj, create=True, partial=False)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        self._put(ctx, obj, create, partial=True)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        pkgs = packages(ctx)
        by_id = {p.id: p for p in pkgs}
        for ident in idents:
            dependent = _find(
                pkgs, str(ident["productId"]).lower(), ident["productVersion"], ident["packageVersion"]
            )
            if dependent is None:
                continue
            action, family = str(ident["productAction"]), str(ident["requiredProductId"]).lower()
            keep = [r for r in dependent.dependency_rules if not self._same(r, action, family, by_id)]
            if len(keep) != len(dependent.dependency_rules):
                ctx.services.packages.set_dependency_rules(ctx.actor, dependent.id, keep)
                done += 1
        return done
