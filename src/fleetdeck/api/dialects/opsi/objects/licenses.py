"""opsi license management over core's licenses: LicenseContract, SoftwareLicense (Retail, OEM,
Volume, Concurrent), LicensePool, SoftwareLicenseToLicensePool and LicenseOnClient.
``licenseOnClient_getOrCreateObject`` uses core's usage rule (``LicenseService.acquire``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.objects.filters import sql_conditions, type_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.api.dialects.opsi.render import opsi_time, parse_time
from fleetdeck.core.licenses.service import Contract, License, Pool, PoolSoftware
from fleetdeck.core.query import Cond, Op, Query

Row = dict[str, Any]
EMPTY = "0000-00-00 00:00:00"
LICENSE_TYPES = {
    "RetailSoftwareLicense": "retail",
    "OEMSoftwareLicense": "oem",
    "VolumeSoftwareLicense": "volume",
    "ConcurrentSoftwareLicense": "concurrent",
}
KIND_TYPES = {v: k for k, v in LICENSE_TYPES.items()}

# opsi attribute -> core field, filtered in SQL (issue #10 §2). Dates, numbers, the decrypted
# license keys, ``productIds`` (a list) and ``boundToHost`` (a computed host id) are left to
# ``matches``, which runs on what the database returned.
CONTRACT_SQL = {"id": "key", "description": "description", "notes": "notes", "partner": "partner"}
POOL_SQL = {"id": "key", "description": "description"}
LICENSE_SQL = {"id": "key", "licenseContractId": "contract_key"}
MEMBER_SQL = {"softwareLicenseId": "license_key", "licensePoolId": "pool_key"}
POOL_SOFTWARE_SQL = {
    "name": "name",
    "version": "version",
    "subVersion": "sub_version",
    "language": "language",
    "architecture": "architecture",
    "licensePoolId": "pool_key",
}


def _query(flt: Mapping[str, Any], columns: Mapping[str, str]) -> Query:
    return Query(where=sql_conditions(flt, columns), limit=None)


ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-_. :]*$")


def force_id(value: Any, what: str) -> str:
    text = str(value or "").strip().lower()
    if not ID_RE.match(text):
        raise OpsiValueError(f"Bad {what} id: '{value}'")
    return text


def show_time(value: datetime | None) -> str:
    return opsi_time(value) or EMPTY


class _Hosts:
    def __init__(self, hosts: HostAdapter) -> None:
        self.hosts = hosts

    def names(self, ctx: Context) -> tuple[dict[int, str], dict[str, int]]:
        _, computers = self.hosts.computers(ctx)
        return {c.id: hid for hid, c in computers.items()}, {hid: c.id for hid, c in computers.items()}

    def computer(self, ctx: Context, host_id: str) -> int:
        _, ids = self.names(ctx)
        if host_id not in ids:
            raise BackendMissingDataError(f"Host '{host_id}' not found")
        return ids[host_id]


class ContractAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = (
        "id",
        "description",
        "notes",
        "partner",
        "conclusionDate",
        "notificationDate",
        "expirationDate",
    )
    family: Mapping[str, tuple[str, ...]] = {"LicenseContract": ("LicenseContract",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        return [
            {
                "id": c.key,
                "description": c.description,
                "notes": c.notes,
                "partner": c.partner,
                "conclusionDate": show_time(c.concluded_at),
                "notificationDate": show_time(c.notify_at),
                "expirationDate": show_time(c.expires_at),
                "type": "LicenseContract",
            }
            for c in ctx.services.licenses.contracts(ctx.actor, _query(flt, CONTRACT_SQL))
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        out: Row = {"type": "LicenseContract", "id": force_id(obj.get("id"), "license contract")}
        for key in (
            "description",
            "notes",
            "partner",
            "conclusionDate",
            "notificationDate",
            "expirationDate",
        ):
            if obj.get(key) is not None:
                out[key] = obj[key]
        return out

    def _put(self, ctx: Context, obj: Row, base: Row | None) -> None:
        merged = {**(base or {}), **obj}
        ctx.services.licenses.put_contract(
            ctx.actor,
            Contract(
                key=obj["id"],
                description=str(merged.get("description") or ""),
                notes=str(merged.get("notes") or ""),
                partner=str(merged.get("partner") or ""),
                concluded_at=parse_time(merged.get("conclusionDate"))
                or (None if base else datetime.now(UTC)),
                notify_at=parse_time(merged.get("notificationDate")),
                expires_at=parse_time(merged.get("expirationDate")),
            ),
        )

    def insert(self, ctx: Context, obj: Row) -> None:
        self._put(ctx, obj, None)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        base = next((r for r in self.fetch(ctx, {}) if r["id"] == obj["id"]), None)
        if base is not None or create:
            self._put(ctx, obj, base)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        return ctx.services.licenses.delete(ctx.actor, "contract", [str(i["id"]) for i in idents])


class SoftwareLicenseAdapter(_Hosts):
    ident: tuple[str, ...] = ("id", "licenseContractId")
    attributes: tuple[str, ...] = (
        "id",
        "licenseContractId",
        "maxInstallations",
        "boundToHost",
        "expirationDate",
    )
    family: Mapping[str, tuple[str, ...]] = {t: (t, "SoftwareLicense") for t in LICENSE_TYPES}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        names, _ = self.names(ctx)
        kinds = [k for t, k in LICENSE_TYPES.items() if type_matches(t, flt.get("type"), self.family)]
        query = _query(flt, LICENSE_SQL)
        if len(kinds) < len(LICENSE_TYPES):  # a type: its kind in SQL too
            query = query.and_(Cond("kind", Op.IN, tuple(kinds)))
        return [
            {
                "id": lic.key,
                "licenseContractId": lic.contract_key,
                "maxInstallations": lic.max_installations,
                "boundToHost": names.get(lic.bound_computer_id) if lic.bound_computer_id else None,
                "expirationDate": show_time(lic.expires_at),
                "type": KIND_TYPES[lic.kind],
            }
            for lic in ctx.services.licenses.licenses(ctx.actor, query)
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or "RetailSoftwareLicense"
        if kind not in LICENSE_TYPES:
            raise OpsiValueError(f"Invalid software license type '{kind}'")
        out: Row = {
            "type": kind,
            "id": force_id(obj.get("id"), "software license"),
            "licenseContractId": force_id(obj.get("licenseContractId"), "license contract"),
        }
        for key in ("maxInstallations", "expirationDate"):
            if obj.get(key) is not None:
                out[key] = obj[key]
        if obj.get("boundToHost"):
            out["boundToHost"] = force_host_id(obj["boundToHost"])
        return out

    def _put(self, ctx: Context, obj: Row, base: Row | None) -> None:
        merged = {**(base or {}), **obj}
        bound = merged.get("boundToHost")
        try:
            max_inst = int(merged.get("maxInstallations", 0 if obj["type"] == "VolumeSoftwareLicense" else 1))
        except (TypeError, ValueError):
            raise OpsiValueError(f"Bad maxInstallations: {merged.get('maxInstallations')!r}") from None
        ctx.services.licenses.put_license(
            ctx.actor,
            License(
                key=obj["id"],
                contract_key=obj["licenseContractId"],
                kind=LICENSE_TYPES[obj["type"]],
                max_installations=max_inst,
                bound_computer_id=self.computer(ctx, bound) if bound else None,
                expires_at=parse_time(merged.get("expirationDate")),
            ),
        )

    def insert(self, ctx: Context, obj: Row) -> None:
        self._put(ctx, obj, None)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        base = next((r for r in self.fetch(ctx, {}) if r["id"] == obj["id"]), None)
        if base is not None or create:
            self._put(ctx, obj, base)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        return ctx.services.licenses.delete(ctx.actor, "license", [str(i["id"]) for i in idents])


class PoolAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = ("id", "description", "productIds")
    family: Mapping[str, tuple[str, ...]] = {"LicensePool": ("LicensePool",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        return [
            {"id": p.key, "description": p.description, "productIds": p.product_keys, "type": "LicensePool"}
            for p in ctx.services.licenses.pools(ctx.actor, _query(flt, POOL_SQL))
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        out: Row = {"type": "LicensePool", "id": force_id(obj.get("id"), "license pool")}
        if obj.get("description") is not None:
            out["description"] = str(obj["description"])
        if obj.get("productIds") is not None:
            ids = obj["productIds"] if isinstance(obj["productIds"], list) else [obj["productIds"]]
            out["productIds"] = [str(i).lower() for i in ids]
        return out

    def insert(self, ctx: Context, obj: Row) -> None:
        ctx.services.licenses.put_pool(
            ctx.actor, Pool(obj["id"], obj.get("description", ""), obj.get("productIds", []))
        )

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        base = next((r for r in self.fetch(ctx, {}) if r["id"] == obj["id"]), None)
        if base is None and not create:
            return
        merged = {**(base or {}), **obj}
        ctx.services.licenses.put_pool(
            ctx.actor, Pool(obj["id"], merged.get("description", ""), merged.get("productIds", []))
        )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        return ctx.services.licenses.delete(ctx.actor, "pool", [str(i["id"]) for i in idents])


class PoolMemberAdapter:
    ident: tuple[str, ...] = ("softwareLicenseId", "licensePoolId")
    attributes: tuple[str, ...] = ("softwareLicenseId", "licensePoolId", "licenseKey")
    family: Mapping[str, tuple[str, ...]] = {
        "SoftwareLicenseToLicensePool": ("SoftwareLicenseToLicensePool",)
    }

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        return [
            {
                "softwareLicenseId": m.license_key,
                "licensePoolId": m.pool_key,
                "licenseKey": m.license_value,
                "type": "SoftwareLicenseToLicensePool",
            }
            for m in ctx.services.licenses.pool_members(ctx.actor, _query(flt, MEMBER_SQL))
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        return {
            "type": "SoftwareLicenseToLicensePool",
            "softwareLicenseId": force_id(obj.get("softwareLicenseId"), "software license"),
            "licensePoolId": force_id(obj.get("licensePoolId"), "license pool"),
            "licenseKey": str(obj.get("licenseKey") or ""),
        }

    def insert(self, ctx: Context, obj: Row) -> None:
        ctx.services.licenses.put_pool_member(
            ctx.actor, obj["softwareLicenseId"], obj["licensePoolId"], obj["licenseKey"]
        )

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        self.insert(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        return sum(
            ctx.services.licenses.delete_pool_member(
                ctx.actor, str(i["softwareLicenseId"]), str(i["licensePoolId"])
            )
            for i in idents
        )


POOL_SOFTWARE_IDENT = ("name", "version", "subVersion", "language", "architecture", "licensePoolId")


class PoolSoftwareAdapter:
    """AuditSoftwareToLicensePool: software of the inventory (AuditSoftware's ident) counted
    against a pool. Only the relation is stored; the software need not be installed anywhere."""

    ident: tuple[str, ...] = POOL_SOFTWARE_IDENT
    attributes: tuple[str, ...] = POOL_SOFTWARE_IDENT
    family: Mapping[str, tuple[str, ...]] = {"AuditSoftwareToLicensePool": ("AuditSoftwareToLicensePool",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        return [
            {
                "name": p.name,
                "version": p.version,
                "subVersion": p.sub_version,
                "language": p.language,
                "architecture": p.architecture,
                "licensePoolId": p.pool_key,
                "type": "AuditSoftwareToLicensePool",
            }
            for p in ctx.services.licenses.pool_software(ctx.actor, _query(flt, POOL_SOFTWARE_SQL))
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OpsiValueError(f"Bad software name: {name!r}")
        out: Row = {"type": "AuditSoftwareToLicensePool", "name": name}
        for key in ("version", "subVersion", "language", "architecture"):
            value = obj.get(key)
            if value is not None and not isinstance(value, str | int | float):
                raise OpsiValueError(f"Bad {key}: {value!r}")
            out[key] = "" if value is None else str(value)
        out["licensePoolId"] = force_id(obj.get("licensePoolId"), "license pool")
        return out

    @staticmethod
    def item(obj: Mapping[str, Any]) -> PoolSoftware:
        return PoolSoftware(
            pool_key=str(obj["licensePoolId"]),
            name=str(obj["name"]),
            version=str(obj.get("version") or ""),
            sub_version=str(obj.get("subVersion") or ""),
            language=str(obj.get("language") or ""),
            architecture=str(obj.get("architecture") or ""),
        )

    def insert(self, ctx: Context, obj: Row) -> None:
        ctx.services.licenses.put_pool_software(ctx.actor, self.item(obj))

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """Every attribute is part of the ident: an update can only (re)create the relation."""
        if create:
            self.insert(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        return sum(ctx.services.licenses.delete_pool_software(ctx.actor, self.item(i)) for i in idents)


class LicenseOnClientAdapter(_Hosts):
    ident: tuple[str, ...] = ("softwareLicenseId", "licensePoolId", "clientId")
    attributes: tuple[str, ...] = ("softwareLicenseId", "licensePoolId", "clientId", "licenseKey", "notes")
    family: Mapping[str, tuple[str, ...]] = {"LicenseOnClient": ("LicenseOnClient",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        names, _ = self.names(ctx)
        return [
            {
                "softwareLicenseId": a.license_key,
                "licensePoolId": a.pool_key,
                "clientId": names[a.computer_id],
                "licenseKey": a.license_value,
                "notes": a.notes,
                "type": "LicenseOnClient",
            }
            for a in ctx.services.licenses.assignments(ctx.actor, None, _query(flt, MEMBER_SQL))
            if a.computer_id in names and (not ctx.is_client or names[a.computer_id] == ctx.host_id)
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        return {
            "type": "LicenseOnClient",
            "softwareLicenseId": force_id(obj.get("softwareLicenseId"), "software license"),
            "licensePoolId": force_id(obj.get("licensePoolId"), "license pool"),
            "clientId": force_host_id(obj.get("clientId")),
            "licenseKey": str(obj.get("licenseKey") or ""),
            "notes": str(obj.get("notes") or ""),
        }

    def insert(self, ctx: Context, obj: Row) -> None:
        if ctx.is_client:
            raise BackendPermissionDeniedError(
                "clients get licenses through licenseOnClient_getOrCreateObject"
            )
        ctx.services.licenses.put_assignment(
            ctx.actor,
            obj["softwareLicenseId"],
            obj["licensePoolId"],
            self.computer(ctx, obj["clientId"]),
            obj["licenseKey"],
            obj["notes"],
        )

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        self.insert(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for i in idents:
            cid = self.computer(ctx, str(i["clientId"]).lower())
            if ctx.is_client and str(i["clientId"]).lower() != ctx.host_id:
                raise BackendPermissionDeniedError(f"Access to '{i['clientId']}' denied")
            done += ctx.services.licenses.release(
                ctx.actor, str(i["softwareLicenseId"]), str(i["licensePoolId"]), cid
            )
        return done
