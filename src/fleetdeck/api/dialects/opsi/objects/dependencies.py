"""opsi ``ProductDependency`` over fleetdeck's package dependencies.

fleetdeck's dependency says "this package needs that package installed first"; in opsi's terms
that is ``productAction`` setup, ``requiredInstallationStatus`` installed, ``requirementType``
before, pointing at a package of the required product (its newest package, or the one with the
given ``requiredProductVersion``/``requiredPackageVersion``). Other combinations (required
actions, "after", uninstall dependencies) are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import BackendMissingDataError, NotSupportedError, OpsiValueError
from fleetdeck.api.dialects.opsi.objects.products import force_product_id, force_version, newest, packages
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.packages.entities import PackageInfo

Row = dict[str, Any]


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
            for required_id in p.depends_on:
                r = by_id.get(required_id)
                if r is None:
                    continue
                rows.append(
                    {
                        "productId": p.family_key,
                        "productVersion": p.version,
                        "packageVersion": p.package_version,
                        "productAction": "setup",
                        "requiredProductId": r.family_key,
                        "requiredProductVersion": r.version,
                        "requiredPackageVersion": r.package_version,
                        "requiredAction": None,
                        "requiredInstallationStatus": "installed",
                        "requirementType": "before",
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
            "productAction": str(obj.get("productAction") or ""),
            "requiredProductId": force_product_id(obj.get("requiredProductId")),
            "requiredProductVersion": obj.get("requiredProductVersion"),
            "requiredPackageVersion": obj.get("requiredPackageVersion"),
        }
        if not out["productAction"]:
            raise OpsiValueError("productAction is required")
        supported = (
            out["productAction"] == "setup"
            and obj.get("requiredAction") in (None, "")
            and obj.get("requiredInstallationStatus") in (None, "installed")
            and obj.get("requirementType") in (None, "", "before")
        )
        if not supported:
            raise NotSupportedError(
                "fleetdeck supports one form of dependency: setup requires the other product installed before"
            )
        return out

    def _packages(self, ctx: Context, obj: Mapping[str, Any]) -> tuple[PackageInfo, PackageInfo]:
        pkgs = packages(ctx)
        dependent = _find(pkgs, str(obj["productId"]), obj["productVersion"], obj["packageVersion"])
        if dependent is None:
            raise BackendMissingDataError(
                f"Product {obj['productId']} {obj['productVersion']}-{obj['packageVersion']} not found"
            )
        required = _find(
            pkgs,
            str(obj["requiredProductId"]),
            obj.get("requiredProductVersion"),
            obj.get("requiredPackageVersion"),
        )
        if required is None:
            raise BackendMissingDataError(f"Required product '{obj['requiredProductId']}' not found")
        return dependent, required

    def insert(self, ctx: Context, obj: Row) -> None:
        dependent, required = self._packages(ctx, obj)
        keep = [d for d in dependent.depends_on if d != required.id]
        ctx.services.packages.set_dependencies(ctx.actor, dependent.id, [*keep, required.id])

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        dependent, required = self._packages(ctx, obj)
        if required.id in dependent.depends_on or create:
            self.insert(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        pkgs = packages(ctx)
        for ident in idents:
            dependent = _find(
                pkgs, str(ident["productId"]).lower(), ident["productVersion"], ident["packageVersion"]
            )
            if dependent is None:
                continue
            keep = [
                d
                for d in dependent.depends_on
                if next(
                    (
                        p
                        for p in pkgs
                        if p.id == d and p.family_key == str(ident["requiredProductId"]).lower()
                    ),
                    None,
                )
                is None
            ]
            if len(keep) != len(dependent.depends_on):
                ctx.services.packages.set_dependencies(ctx.actor, dependent.id, keep)
                done += 1
        return done
