"""opsi ``ProductProperty`` (Unicode/Bool) = a package property (per package version);
``ProductPropertyState`` = a computer's own values for it (per product), or, with the depot as
``objectId``, the property's defaults on the newest package of the product. The effective values
reach the agent with the package job as ``FLEETDECK_PROPERTY_<ID>`` environment variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.objects.configs import build_config
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.objects.products import (
    PRODUCT_ON_DEPOT_SQL,
    force_product_id,
    force_version,
    newest,
    packages,
)
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.packages.entities import PackageInfo
from fleetdeck.core.settings.configs import Config

Row = dict[str, Any]
PROPERTY_ID_RE = re.compile(r"^\S{1,128}$")
TYPES = {
    "UnicodeProductProperty": "UnicodeConfig",
    "BoolProductProperty": "BoolConfig",
    "ProductProperty": "Config",
}


def force_property_id(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not PROPERTY_ID_RE.match(text):
        raise OpsiValueError(f"Bad property id: '{value}'")
    return text


class ProductPropertyAdapter:
    ident: tuple[str, ...] = ("productId", "productVersion", "packageVersion", "propertyId")
    attributes: tuple[str, ...] = (
        *ident,
        "description",
        "possibleValues",
        "defaultValues",
        "editable",
        "multiValue",
    )
    family: Mapping[str, tuple[str, ...]] = {
        "UnicodeProductProperty": ("UnicodeProductProperty", "ProductProperty"),
        "BoolProductProperty": ("BoolProductProperty", "ProductProperty"),
    }

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        # the product keys narrow the packages in SQL, and the properties read are theirs only;
        # ``propertyId`` and the value lists are left to ``matches`` (a handful per package)
        narrowed = any(k in PRODUCT_ON_DEPOT_SQL and flt.get(k) not in (None, []) for k in flt)
        pkgs = {p.id: p for p in packages(ctx, flt, PRODUCT_ON_DEPOT_SQL)}
        rows = []
        for info in ctx.services.properties.find(ctx.actor, list(pkgs) if narrowed else None):
            p, c = pkgs.get(info.package_id), info.prop
            if p is None:
                continue
            boolean = c.kind == "bool"
            rows.append(
                {
                    "productId": p.family_key,
                    "productVersion": p.version,
                    "packageVersion": p.package_version,
                    "propertyId": c.key,
                    "description": c.description,
                    "possibleValues": [False, True] if boolean else c.possible_values,
                    "defaultValues": c.default_values,
                    "editable": False if boolean else c.editable,
                    "multiValue": False if boolean else c.multi_value,
                    "type": "BoolProductProperty" if boolean else "UnicodeProductProperty",
                }
            )
        return rows

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or "UnicodeProductProperty"
        if kind not in TYPES:
            raise OpsiValueError(f"Invalid product property type '{kind}'")
        out: Row = {
            "type": kind,
            "productId": force_product_id(obj.get("productId")),
            "productVersion": force_version(obj.get("productVersion"), "product version"),
            "packageVersion": force_version(obj.get("packageVersion"), "package version"),
            "propertyId": force_property_id(obj.get("propertyId")),
        }
        for key in ("description", "possibleValues", "defaultValues", "editable", "multiValue"):
            if obj.get(key) is not None:
                out[key] = obj[key]
        return out

    def _package(self, ctx: Context, obj: Mapping[str, Any]) -> PackageInfo:
        for p in packages(ctx):
            if (p.family_key, p.version, p.package_version) == (
                str(obj["productId"]).lower(),
                str(obj["productVersion"]),
                str(obj["packageVersion"]),
            ):
                return p
        raise BackendMissingDataError(
            f"Product {obj['productId']} {obj['productVersion']}-{obj['packageVersion']} not found"
        )

    @staticmethod
    def _shaped(obj: Row) -> Row:
        return {**obj, "id": obj["propertyId"], "type": TYPES[obj["type"]]}

    def insert(self, ctx: Context, obj: Row) -> None:
        """insertObject: create or replace the property of that package version."""
        package = self._package(ctx, obj)
        ctx.services.properties.put(ctx.actor, package.id, build_config(self._shaped(obj), None))

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """updateObject(s): merge the given (non-null) attributes into the stored property, in
        core's transaction (a change made in between is not lost); a missing one is created
        from the given attributes by updateObjects (``create``) and left alone otherwise."""
        package = self._package(ctx, obj)
        shaped = self._shaped(obj)

        def change(current: Config | None) -> Config | None:
            if current is None and not create:
                return None
            return build_config(shaped, current)

        ctx.services.properties.merge(ctx.actor, package.id, obj["propertyId"], change)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            package = self._package(ctx, ident)
            done += ctx.services.properties.delete(ctx.actor, package.id, str(ident["propertyId"]).lower())
        return done


class ProductPropertyStateAdapter:
    ident: tuple[str, ...] = ("productId", "propertyId", "objectId")
    attributes: tuple[str, ...] = (*ident, "values")
    family: Mapping[str, tuple[str, ...]] = {"ProductPropertyState": ("ProductPropertyState",)}

    def __init__(self, hosts: HostAdapter, props: ProductPropertyAdapter) -> None:
        self.hosts = hosts
        self.props = props

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        pkgs = packages(ctx)
        family_key = {p.family_id: p.family_key for p in pkgs}
        depot = server_host_id(ctx)
        rows: list[Row] = []
        for prop in self.props.fetch(ctx, {}):
            top = newest(pkgs, prop["productId"])
            if top is not None and (top.version, top.package_version) == (
                prop["productVersion"],
                prop["packageVersion"],
            ):
                rows.append(
                    {
                        "productId": prop["productId"],
                        "propertyId": prop["propertyId"],
                        "objectId": depot,
                        "values": prop["defaultValues"],
                        "type": "ProductPropertyState",
                    }
                )
        _, computers = self.hosts.computers(ctx)
        names = {c.id: hid for hid, c in computers.items()}
        for v in ctx.services.properties.values(ctx.actor):
            if v.computer_id in names and v.family_id in family_key:
                if ctx.is_client and names[v.computer_id] != ctx.host_id:
                    continue
                rows.append(
                    {
                        "productId": family_key[v.family_id],
                        "propertyId": v.key,
                        "objectId": names[v.computer_id],
                        "values": v.values,
                        "type": "ProductPropertyState",
                    }
                )
        return rows

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        values = obj.get("values")
        out: Row = {
            "type": "ProductPropertyState",
            "productId": force_product_id(obj.get("productId")),
            "propertyId": force_property_id(obj.get("propertyId")),
            "objectId": force_host_id(obj.get("objectId")),
        }
        if values is not None or not partial:
            out["values"] = (
                [] if values is None else (list(values) if isinstance(values, list | tuple) else [values])
            )
        return out

    def _target(self, ctx: Context, obj: Row) -> tuple[int, int | None]:
        """(family id, computer id); computer None = the depot (the property's defaults)."""
        top = newest(packages(ctx), obj["productId"])
        if top is None:
            raise BackendMissingDataError(f"Product '{obj['productId']}' not found")
        if obj["objectId"] == server_host_id(ctx):
            if ctx.is_client:
                raise BackendPermissionDeniedError("clients may not change depot defaults")
            return top.family_id, None
        if ctx.is_client and obj["objectId"] != ctx.host_id:
            raise BackendPermissionDeniedError(f"Access to '{obj['objectId']}' denied for {ctx.host_id}")
        _, computers = self.hosts.computers(ctx)
        if obj["objectId"] not in computers:
            raise BackendMissingDataError(f"Host '{obj['objectId']}' not found")
        return top.family_id, computers[obj["objectId"]].id

    def insert(self, ctx: Context, obj: Row) -> None:
        family_id, computer_id = self._target(ctx, obj)
        if computer_id is None:
            top = newest(packages(ctx), obj["productId"])
            assert top is not None
            self.props.update(
                ctx,
                {
                    "type": "ProductProperty",
                    "productId": obj["productId"],
                    "productVersion": top.version,
                    "packageVersion": top.package_version,
                    "propertyId": obj["propertyId"],
                    "defaultValues": obj["values"],
                },
                create=False,
            )
            return
        ctx.services.properties.set_value(ctx.actor, family_id, obj["propertyId"], computer_id, obj["values"])

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """As opsi: only given values change, and updateObject does not create a client's
        missing state (updateObjects, ``create``, does). The depot's state is the property's
        defaults, which exist with the property."""
        if "values" not in obj:
            return
        if not create:
            family_id, computer_id = self._target(ctx, obj)
            if computer_id is not None and not any(
                v.family_id == family_id and v.key == obj["propertyId"]
                for v in ctx.services.properties.values(ctx.actor, [computer_id])
            ):
                return
        self.insert(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            obj = self.coerce(ident, partial=True)
            family_id, computer_id = self._target(ctx, obj)
            if computer_id is not None:
                ctx.services.properties.clear_value(ctx.actor, family_id, obj["propertyId"], computer_id)
                done += 1
        return done
