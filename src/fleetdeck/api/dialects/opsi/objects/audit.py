"""opsi's software and hardware audit = the agent's live inventory, read-only.

``AuditSoftwareOnClient`` rows are the software the agent found on a computer, ``AuditSoftware``
the distinct titles across all computers, ``AuditHardwareOnHost`` a few hardware classes built
from the inventory (COMPUTER_SYSTEM, BIOS, PROCESSOR, NETWORK_CONTROLLER). The inventory belongs
to the agent: writes through opsi's object methods are refused with a clear error, except the
software a client reports from its own login (``auditSoftwareOnClient_createObjects`` and
``updateObjects``, as opsi's swaudit sends it), stored like ``*_create``. What a client
reports itself (``methods/audit_reports.py``: opsi's ``*_create``/``*_setObsolete``) is stored by
core beside it and shown here for computers whose agent has reported no inventory.
A filter on ``clientId``/``hostId`` with plain ids reads only those computers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import BackendPermissionDeniedError, OpsiValueError
from fleetdeck.api.dialects.opsi.objects.filters import plain_values, sql_conditions
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.api.dialects.opsi.render import opsi_time
from fleetdeck.core.computers.entities import ComputerDetail
from fleetdeck.core.computers.reported import ReportedRow
from fleetdeck.core.query import Query

Row = dict[str, Any]
SOFTWARE_SQL = {"name": "name", "version": "version"}  # opsi attribute -> core software field
READ_ONLY = "the audit data is the agent's inventory and is read-only in fleetdeck"
SOFTWARE_IDENT = ("name", "version", "subVersion", "language", "architecture")


def opsi_arch(arch: str) -> str:
    return "x86" if arch.lower() in {"x86", "i386", "i486", "i586", "i686", "armv7l"} else "x64"


def reported_rows(
    reported: Iterable[ReportedRow],
    hid_of: Mapping[int, str],
    attributes: tuple[str, ...],
    host_key: str,
    kind: str,
    *,
    keep_all: bool = False,
) -> list[Row]:
    """The rows a client reported itself (core's ``reported_audit``), as opsi objects of
    ``kind``: ``attributes`` (null when not reported; ``keep_all``: the other reported ones
    too, as hardware classes have their own), its host, times and state."""
    keep = (lambda k: k not in ("type", "ident")) if keep_all else attributes.__contains__
    return [
        {
            **dict.fromkeys(attributes),
            **{k: v for k, v in r.data.items() if keep(k)},
            host_key: hid_of[r.computer_id],
            "firstseen": opsi_time(r.first_seen),
            "lastseen": opsi_time(r.last_seen),
            "state": r.state,
            "type": kind,
        }
        for r in reported
        if r.computer_id is not None and r.computer_id in hid_of
    ]


class _ReadOnly:
    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        raise BackendPermissionDeniedError(READ_ONLY)

    def insert(self, ctx: Context, obj: Row) -> None:  # pragma: no cover - coerce refuses first
        raise BackendPermissionDeniedError(READ_ONLY)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:  # pragma: no cover
        raise BackendPermissionDeniedError(READ_ONLY)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        raise BackendPermissionDeniedError(READ_ONLY)


class _Inventory(_ReadOnly):
    host_key = "clientId"

    def __init__(self, hosts: HostAdapter) -> None:
        self.hosts = hosts

    def details(self, ctx: Context, flt: Mapping[str, Any]) -> Iterable[tuple[str, ComputerDetail]]:
        wanted = plain_values(flt.get(self.host_key))
        _, computers = self.hosts.computers(ctx, wanted)
        shown = {hid: c.id for hid, c in computers.items() if not ctx.is_client or hid == ctx.host_id}
        details = ctx.services.computers.get_many(ctx.actor, shown.values())  # not one read per host
        for hid, cid in shown.items():
            if cid in details:
                yield hid, details[cid]


class SoftwareOnClientAdapter(_Inventory):
    ident: tuple[str, ...] = (*SOFTWARE_IDENT, "clientId")
    attributes: tuple[str, ...] = (
        *ident,
        "uninstallString",
        "binaryName",
        "firstseen",
        "lastseen",
        "state",
        "usageFrequency",
        "lastUsed",
        "licenseKey",
    )
    family: Mapping[str, tuple[str, ...]] = {"AuditSoftwareOnClient": ("AuditSoftwareOnClient",)}

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        """What opsi's swaudit sends (``auditSoftwareOnClient_createObjects``/``updateObjects``):
        stored as ``auditSoftwareOnClient_create`` stores it (core's reported audit data)."""
        if obj.get("type", "AuditSoftwareOnClient") != "AuditSoftwareOnClient":
            raise OpsiValueError(f"Invalid type: '{obj.get('type')}'")
        unknown = sorted(set(obj) - {*self.attributes, "type", "ident"})
        if unknown:
            raise OpsiValueError(f"Invalid attribute '{unknown[0]}' for AuditSoftwareOnClient")
        return {a: obj.get(a) for a in self.attributes}

    def insert(self, ctx: Context, obj: Row) -> None:
        # the method module imports this one: imported here, when a request runs
        from fleetdeck.api.dialects.opsi.methods.audit_reports import audit_software_on_client_create

        audit_software_on_client_create(ctx, **obj)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        self.insert(ctx, obj)  # a report replaces what the client reported before under that ident

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        """Only the hosts a ``clientId`` filter names (a client: itself), and of their software
        only what the ``name``/``version`` filters keep, chosen by the database (one query for
        the software, no other inventory section). ``architecture`` is computed from the
        computer's and the other attributes are constants: ``matches`` applies those."""
        wanted = plain_values(flt.get(self.host_key))
        _, computers = self.hosts.computers(ctx, wanted)
        shown = {c.id: (hid, c) for hid, c in computers.items() if not ctx.is_client or hid == ctx.host_id}
        where = sql_conditions(flt, SOFTWARE_SQL)
        titles = ctx.services.computers.software(
            ctx.actor,
            Query(where=where, limit=None),
            None if wanted is None and not ctx.is_client else list(shown),
        )
        rows = []
        for sw in titles:
            if sw.computer_id not in shown:
                continue
            hid, c = shown[sw.computer_id]
            seen = opsi_time(sw.inventory_at)
            arch = opsi_arch(c.architecture)
            rows.append(
                {
                    "name": sw.name,
                    "version": sw.version,
                    "subVersion": "",
                    "language": "",
                    "architecture": arch,
                    "clientId": hid,
                    "uninstallString": "",
                    "binaryName": "",
                    "firstseen": seen,
                    "lastseen": seen,
                    "state": 1,
                    "usageFrequency": -1,
                    "lastUsed": "0000-00-00 00:00:00",
                    "licenseKey": None,
                    "type": "AuditSoftwareOnClient",
                }
            )
        hid_of = {cid: hid for cid, (hid, _) in shown.items()}
        reported = ctx.services.reported_audit.find(
            ctx.actor, "software", None if wanted is None and not ctx.is_client else list(shown), shown=True
        )
        rows += reported_rows(reported, hid_of, self.attributes, self.host_key, "AuditSoftwareOnClient")
        return rows


class SoftwareAdapter(_ReadOnly):
    ident: tuple[str, ...] = SOFTWARE_IDENT
    attributes: tuple[str, ...] = (
        *SOFTWARE_IDENT,
        "windowsSoftwareId",
        "windowsDisplayName",
        "windowsDisplayVersion",
        "installSize",
    )
    family: Mapping[str, tuple[str, ...]] = {"AuditSoftware": ("AuditSoftware",)}

    def __init__(self, on_client: SoftwareOnClientAdapter) -> None:
        self.on_client = on_client

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        titles: dict[tuple[str, ...], Row] = {}
        # name and version narrow the installations read, in SQL; a title's rows are all kept
        # or all dropped, so the first-seen order of the titles left is unchanged
        narrow = {k: flt[k] for k in SOFTWARE_SQL if k in flt}
        # titles the clients reported (with their Windows ids and sizes) first, then the rest
        for t in ctx.services.reported_audit.find(ctx.actor, "software_title"):
            titles.setdefault(
                tuple(str(t.data.get(a) or "") for a in SOFTWARE_IDENT),
                {
                    **dict.fromkeys(self.attributes),
                    **{k: v for k, v in t.data.items() if k in self.attributes},
                    "type": "AuditSoftware",
                },
            )
        for r in self.on_client.fetch(ctx, narrow):
            key = tuple(str(r[a]) for a in SOFTWARE_IDENT)
            titles.setdefault(
                key,
                {
                    **{a: r[a] for a in SOFTWARE_IDENT},
                    "windowsSoftwareId": None,
                    "windowsDisplayName": None,
                    "windowsDisplayVersion": None,
                    "installSize": 0,
                    "type": "AuditSoftware",
                },
            )
        return list(titles.values())


class HardwareOnHostAdapter(_Inventory):
    host_key = "hostId"
    ident: tuple[str, ...] = ("hostId", "hardwareClass")
    attributes: tuple[str, ...] = (
        "hostId",
        "hardwareClass",
        "firstseen",
        "lastseen",
        "state",
        "name",
        "vendor",
        "model",
        "serialNumber",
        "version",
        "numberOfCores",
        "macAddress",
        "ipAddress",
        "totalPhysicalMemory",
    )
    family: Mapping[str, tuple[str, ...]] = {"AuditHardwareOnHost": ("AuditHardwareOnHost",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = []
        hid_of: dict[int, str] = {}
        for hid, d in self.details(ctx, flt):
            hid_of[d.summary.id] = hid
            if d.inventory_at is None:
                continue  # no inventory from an agent: what the client reported stands for it
            seen = opsi_time(d.inventory_at)
            base: Row = dict.fromkeys(self.attributes)
            base.update(
                {
                    "hostId": hid,
                    "firstseen": seen,
                    "lastseen": seen,
                    "state": 1,
                    "type": "AuditHardwareOnHost",
                }
            )
            rows.append(
                {
                    **base,
                    "hardwareClass": "COMPUTER_SYSTEM",
                    "name": d.summary.hostname,
                    "vendor": d.manufacturer,
                    "model": d.model,
                    "serialNumber": d.serial,
                    "totalPhysicalMemory": d.summary.ram_bytes,
                }
            )
            rows.append(
                {**base, "hardwareClass": "BIOS", "version": d.bios_version, "vendor": d.manufacturer}
            )
            rows.append(
                {**base, "hardwareClass": "PROCESSOR", "name": d.cpu_model, "numberOfCores": d.cpu_cores}
            )
            for nic in d.network_interfaces:
                if nic.mac:
                    ipv4 = [a.get("address") for a in nic.addresses if a.get("family") == "ipv4"]
                    rows.append(
                        {
                            **base,
                            "hardwareClass": "NETWORK_CONTROLLER",
                            "name": nic.name,
                            "macAddress": nic.mac,
                            "ipAddress": ipv4[0] if ipv4 else None,
                        }
                    )
        if hid_of:
            reported = ctx.services.reported_audit.find(ctx.actor, "hardware", list(hid_of), shown=True)
            rows += reported_rows(
                reported, hid_of, self.attributes, self.host_key, "AuditHardwareOnHost", keep_all=True
            )
        return rows


HARDWARE_ATTRS = ("hardwareClass", "name", "vendor", "model", "version", "numberOfCores")


class HardwareAdapter(_ReadOnly):
    """AuditHardware: the distinct devices behind AuditHardwareOnHost, without what belongs to
    one host (serial number, addresses, memory size, timestamps)."""

    ident: tuple[str, ...] = HARDWARE_ATTRS
    # A device has only some of the attributes (a BIOS has no cores): null is part of its ident.
    nullable_ident: tuple[str, ...] = HARDWARE_ATTRS[1:]
    attributes: tuple[str, ...] = HARDWARE_ATTRS
    family: Mapping[str, tuple[str, ...]] = {"AuditHardware": ("AuditHardware",)}

    def __init__(self, on_host: HardwareOnHostAdapter) -> None:
        self.on_host = on_host

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        seen: dict[tuple[Any, ...], Row] = {}
        for r in self.on_host.fetch(ctx, {}):
            row = {a: r.get(a) for a in HARDWARE_ATTRS}
            seen.setdefault(tuple(row.values()), {**row, "type": "AuditHardware"})
        for device in ctx.services.reported_audit.find(ctx.actor, "hardware_device"):
            row = {a: device.data.get(a) for a in HARDWARE_ATTRS}
            seen.setdefault(tuple(row.values()), {**row, "type": "AuditHardware"})
        return list(seen.values())


def _value(opsi: str, kind: str, scope: str, description: str) -> Row:
    return {"Opsi": opsi, "Type": kind, "Scope": scope, "UI": description}


# The hardware classes fleetdeck reports, in opsi's hwaudit configuration format (what
# auditHardware_getConfig returns and configed reads to show hardware).
HARDWARE_CONFIG: list[Row] = [
    {
        "Class": {"Type": "STRUCTURAL", "Opsi": "COMPUTER_SYSTEM", "UI": "Computer"},
        "Values": [
            _value("name", "varchar(100)", "i", "Name"),
            _value("vendor", "varchar(50)", "g", "Vendor"),
            _value("model", "varchar(100)", "g", "Model"),
            _value("serialNumber", "varchar(50)", "i", "Serial number"),
            _value("totalPhysicalMemory", "bigint", "i", "Physical memory"),
        ],
    },
    {
        "Class": {"Type": "STRUCTURAL", "Opsi": "BIOS", "UI": "BIOS"},
        "Values": [
            _value("vendor", "varchar(50)", "g", "Vendor"),
            _value("version", "varchar(100)", "g", "Version"),
        ],
    },
    {
        "Class": {"Type": "STRUCTURAL", "Opsi": "PROCESSOR", "UI": "Processor"},
        "Values": [
            _value("name", "varchar(100)", "g", "Name"),
            _value("numberOfCores", "int", "i", "Number of cores"),
        ],
    },
    {
        "Class": {"Type": "STRUCTURAL", "Opsi": "NETWORK_CONTROLLER", "UI": "Network controller"},
        "Values": [
            _value("name", "varchar(100)", "g", "Name"),
            _value("macAddress", "varchar(20)", "i", "MAC address"),
            _value("ipAddress", "varchar(60)", "i", "IP address"),
        ],
    },
]
