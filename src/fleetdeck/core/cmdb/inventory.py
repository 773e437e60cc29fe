"""The categories of a computer's object that are the agent's live inventory, rendered from
the computer's own rows (no copy): model, CPU, memory, drives, network ports, IP addresses,
operating system and installed applications. They are read-only through the CMDB; the next
inventory changes them.

Entry ids: single-value categories use the object id; multi-value ones the id of the inventory
row they come from (IP addresses: the interface's id times 1000 plus the address's position),
so an entry keeps its id as long as its inventory row stays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleetdeck.core.cmdb.catalog import catalog
from fleetdeck.core.cmdb.values import DialogRef, Entry, ObjectRef
from fleetdeck.storage.tables import Computer

MODEL = "C__CATG__MODEL"
CPU = "C__CATG__CPU"
MEMORY = "C__CATG__MEMORY"
DRIVE = "C__CATG__DRIVE"
NETWORK_PORT = "C__CATG__NETWORK_PORT"
IP = "C__CATG__IP"
OPERATING_SYSTEM = "C__CATG__OPERATING_SYSTEM"
APPLICATION = "C__CATG__APPLICATION"

INVENTORY_CATEGORIES = frozenset({MODEL, CPU, MEMORY, DRIVE, NETWORK_PORT, IP, OPERATING_SYSTEM, APPLICATION})
# which inventory rows each category needs beyond the computer row
NEEDS_SOFTWARE = frozenset({APPLICATION})
NEEDS_INTERFACES = frozenset({NETWORK_PORT, IP})
NEEDS_FILESYSTEMS = frozenset({DRIVE})

GIB = 1024**3
NORMAL = 2


def dialog(table: str, item_id: int) -> DialogRef:
    for item in catalog().dialogs.get(table, ()):
        if item.id == item_id:
            return DialogRef(item.id, item.title, item.const)
    return DialogRef(item_id, "")


def dialog_by_title(table: str, title: str) -> DialogRef | None:
    """The built-in item of that title (case-insensitive), else a value without an id."""
    if not title:
        return None
    for item in catalog().dialogs.get(table, ()):
        if item.title.lower() == title.lower():
            return DialogRef(item.id, item.title, item.const)
    return DialogRef(None, title)


def _cpu_maker(model: str) -> DialogRef | None:
    lowered = model.lower()
    for maker in ("Intel", "AMD", "IBM", "Motorola"):
        if maker.lower() in lowered:
            return dialog_by_title("isys_catg_cpu_manufacturer", maker)
    return None


def yes_no(flag: bool) -> DialogRef:
    return DialogRef(1, "Yes") if flag else DialogRef(0, "No")


def _gib(n: int) -> float:
    return round(n / GIB, 2)


def _software(title: str, type_const: str) -> ObjectRef:
    t = catalog().types_by_const[type_const]
    return ObjectRef(None, title, "", t.const, t.title)


def render(
    category: str,
    object_id: int,
    c: Computer,
    software: Sequence[Any] = (),
    interfaces: Sequence[Any] = (),
    filesystems: Sequence[Any] = (),
) -> list[Entry]:
    """The entries of ``category`` for computer ``c`` (object ``object_id``); the inventory rows
    are rows of ``computer_software``/``_interfaces``/``_filesystems`` (columns by name)."""

    def entry(entry_id: int, values: Mapping[str, Any]) -> Entry:
        return Entry(entry_id, object_id, category, NORMAL, dict(values), inventory=True)

    if category == MODEL:
        return [
            entry(
                object_id,
                {
                    "manufacturer": dialog_by_title("isys_model_manufacturer", c.manufacturer),
                    "title": DialogRef(None, c.model) if c.model else None,
                    "productid": None,
                    "service_tag": None,
                    "serial": c.serial or None,
                    "firmware": c.bios_version or None,
                    "description": None,
                },
            )
        ]
    if category == CPU:
        if not c.cpu_model and not c.cpu_cores:
            return []
        return [
            entry(
                object_id,
                {
                    "title": c.cpu_model or None,
                    "manufacturer": _cpu_maker(c.cpu_model),
                    "type": None,
                    "frequency": None,
                    "frequency_unit": None,
                    "cores": c.cpu_cores or None,
                    "description": None,
                },
            )
        ]
    if category == MEMORY:
        if not c.ram_bytes:
            return []
        return [
            entry(
                object_id,
                {
                    "title": None,
                    "manufacturer": None,
                    "type": None,
                    "capacity": _gib(c.ram_bytes),
                    "unit": dialog("isys_memory_unit", 3),
                    "description": None,
                },
            )
        ]
    if category == DRIVE:
        gb = dialog("isys_memory_unit", 3)
        return [
            entry(
                f.id,
                {
                    "mount_point": f.mountpoint,
                    "title": f.device or f.mountpoint,
                    "filesystem": dialog_by_title("isys_filesystem_type", f.fstype),
                    "capacity": _gib(f.size_bytes),
                    "unit": gb,
                    "free_space": _gib(f.free_bytes),
                    "free_space_unit": gb,
                    "used_space": _gib(max(0, f.size_bytes - f.free_bytes)),
                    "used_space_unit": gb,
                    "description": None,
                },
            )
            for f in filesystems
        ]
    if category == NETWORK_PORT:
        return [
            entry(i.id, {"title": i.name, "mac": i.mac or None, "active": yes_no(True), "description": None})
            for i in interfaces
        ]
    if category == IP:
        found: list[Entry] = []
        first = True
        for i in interfaces:
            for n, a in enumerate(i.addresses or []):
                address = str(a.get("address", ""))
                v6 = a.get("family") == "ipv6" or ":" in address
                found.append(
                    entry(
                        i.id * 1000 + n,
                        {
                            "net_type": dialog("isys_net_type", 1000 if v6 else 1),
                            "primary": yes_no(first),
                            "active": yes_no(True),
                            "ipv4_address": None if v6 else address,
                            "ipv6_address": address if v6 else None,
                            "hostaddress": address,
                            "hostname": c.hostname,
                            "domain": c.domain or None,
                            "assigned_port": i.name,
                            "description": None,
                        },
                    )
                )
                first = False
        return found
    if category == OPERATING_SYSTEM:
        if not c.os:
            return []
        return [
            entry(
                object_id,
                {
                    "application": _software(c.os, "C__OBJTYPE__OPERATING_SYSTEM"),
                    "application_type": dialog("isys_catg_application_type", 2),
                    "application_priority": dialog("isys_catg_application_priority", 1),
                    "assigned_version": DialogRef(None, c.os_version) if c.os_version else None,
                    "description": c.kernel or None,
                },
            )
        ]
    if category == APPLICATION:
        # what every row shares is looked up once: a list of 10,000 computers' applications
        # renders hundreds of thousands of these
        software_type = dialog("isys_catg_application_type", 1)
        app = catalog().types_by_const["C__OBJTYPE__APPLICATION"]
        return [
            Entry(
                s.id,
                object_id,
                category,
                NORMAL,
                {
                    "application": ObjectRef(None, s.name, "", app.const, app.title),
                    "application_type": software_type,
                    "application_priority": None,
                    "assigned_version": DialogRef(None, s.version) if s.version else None,
                    "description": s.description or None,
                },
                inventory=True,
            )
            for s in software
        ]
    return []


SERVER_WORDS = ("server",)


def default_type(c: Computer | None) -> str:
    """Workstation or server, from the machine's facts: a server operating system (Windows
    Server, Ubuntu Server, ...) makes a server; everything else a client."""
    if c is not None and any(w in f"{c.os} {c.os_version} {c.model}".lower() for w in SERVER_WORDS):
        return "C__OBJTYPE__SERVER"
    return "C__OBJTYPE__CLIENT"
