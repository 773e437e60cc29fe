"""Write an agent's inventory into the computer's rows, touching only sections that changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from fleetdeck.core.computers.naming import is_qualified
from fleetdeck.protocol.messages import Inventory
from fleetdeck.storage.tables import (
    Computer,
    ComputerFilesystem,
    ComputerInterface,
    ComputerLogin,
    ComputerSoftware,
)

SCALARS = (
    "hostname",
    "fqdn",
    "os",
    "os_version",
    "os_family",
    "kernel",
    "architecture",
    "cpu_model",
    "cpu_cores",
    "cpu_threads",
    "ram_bytes",
    "manufacturer",
    "model",
    "serial",
    "bios_version",
    "machine_id",
    "domain",
    "timezone",
)
_LIMITS = {
    "hostname": 255,
    "fqdn": 255,
    "os": 255,
    "os_version": 100,
    "os_family": 20,
    "kernel": 255,
    "architecture": 50,
    "cpu_model": 255,
    "manufacturer": 255,
    "model": 255,
    "serial": 255,
    "bios_version": 255,
    "machine_id": 64,
    "domain": 255,
    "timezone": 64,
}


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _battery(level: float | None, status: int | None) -> tuple[float | None, int | None]:
    """Charge 0..1 and status 1/2 as stored; anything else (a percentage, NaN, an unknown
    status) is not known rather than wrong."""
    if level is None or not (0.0 <= level <= 1.0):  # NaN fails both comparisons
        level = None
    if status not in (1, 2):
        status = None
    return (round(level, 4) if level is not None else None), status


def apply_inventory(
    session: Session, computer: Computer, inv: Inventory, digest: str, now: datetime
) -> list[str]:
    """Returns the names of the sections that changed."""
    changed: list[str] = []
    for name in SCALARS:
        value: Any = getattr(inv, name)
        if isinstance(value, str):
            value = value[: _LIMITS.get(name, 255)]
        if name == "fqdn" and not is_qualified(value) and is_qualified(computer.fqdn):
            continue  # a qualified name given by an admin stays until the machine reports one
        if getattr(computer, name) != value:
            setattr(computer, name, value)
            changed.append(name)
    battery = _battery(inv.battery_level, inv.battery_status)
    if (computer.battery_level, computer.battery_status) != battery:
        computer.battery_level, computer.battery_status = battery
        changed.append("battery")
    boot = _ts(inv.boot_time)
    if boot is not None and (
        computer.boot_time is None or abs((computer.boot_time - boot).total_seconds()) > 2
    ):
        computer.boot_time = boot
        changed.append("boot_time")
    cid = computer.id

    def replace(table: Any, rows: list[dict[str, Any]], section: str, current: list[dict[str, Any]]) -> None:
        if _canon(rows) == _canon(current):
            return
        session.execute(delete(table).where(table.computer_id == cid))
        if rows:
            session.execute(insert(table), [{"computer_id": cid, **r} for r in rows])
        changed.append(section)

    fs_rows = [
        {
            "mountpoint": f.mountpoint[:1024],
            "fstype": f.fstype[:50],
            "size_bytes": f.size_bytes,
            "free_bytes": f.free_bytes,
            "device": f.device[:255],
        }
        for f in inv.filesystems
    ]
    replace(
        ComputerFilesystem,
        fs_rows,
        "filesystems",
        _current(
            session, ComputerFilesystem, cid, ("mountpoint", "fstype", "size_bytes", "free_bytes", "device")
        ),
    )
    if_rows = [
        {"name": i.name[:255], "mac": i.mac[:64], "addresses": msgspec.to_builtins(i.addresses)}
        for i in inv.network_interfaces
    ]
    replace(
        ComputerInterface,
        if_rows,
        "network_interfaces",
        _current(session, ComputerInterface, cid, ("name", "mac", "addresses")),
    )
    sw_rows = [
        {"name": s.name[:255], "version": s.version[:255], "description": s.description} for s in inv.software
    ]
    replace(
        ComputerSoftware,
        sw_rows,
        "software",
        _current(session, ComputerSoftware, cid, ("name", "version", "description")),
    )
    login_rows = [
        {
            "username": u.name[:255],
            "terminal": u.terminal[:255],
            "host": u.host[:255],
            "started_at": _ts(u.started),
        }
        for u in inv.logged_in_users
    ]
    replace(
        ComputerLogin,
        login_rows,
        "logged_in_users",
        _current(session, ComputerLogin, cid, ("username", "terminal", "host", "started_at")),
    )
    computer.inventory_digest = digest
    computer.inventory_at = now
    return changed


def _current(session: Session, table: Any, cid: int, cols: tuple[str, ...]) -> list[dict[str, Any]]:
    result = session.execute(select(*(getattr(table, c) for c in cols)).where(table.computer_id == cid))
    return [dict(zip(cols, row, strict=True)) for row in result]


def _canon(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(msgspec.json.encode(r, order="sorted").decode() for r in rows)
