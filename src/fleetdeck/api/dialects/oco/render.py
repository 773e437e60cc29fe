"""Core values rendered as OCO rows: ids and numbers as integers, flags as 0/1, dates as
``YYYY-MM-DD HH:MM:SS`` (UTC), every field OCO shows, ``null`` where fleetdeck keeps no such
value. The key order follows OCO's documentation.

The row builders produce native values; ``typed`` is the one place that turns a method's whole
answer into the generation of OCO the setting ``oco.value_types`` names (numeric strings, as
OCO on PHP < 8.1, or JSON integers, as OCO on PHP >= 8.1). So a field cannot be a string in one
method and an integer in another. Values that are text in OCO's database (versions, return
code lists, dates) are ``str`` here and stay text in both modes; the ids OCO takes from PDO's
``lastInsertId`` are ``str`` here too (``created_id``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from fleetdeck.core.computers.entities import ComputerDetail, ComputerRow

Row = dict[str, Any]
UserIds = Callable[[str], int | None]

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def ts(value: datetime | None) -> str | None:
    """``DATE_FORMAT`` in UTC. ``isoformat`` cut at the seconds gives the same text as
    ``strftime(DATE_FORMAT)`` for years 1000-9999 at a third of the cost (a list of 10,000
    computers renders 30,000 of these)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    if value.year < 1000:
        return value.strftime(DATE_FORMAT)
    return value.isoformat(" ", "seconds")[:19]


def num(value: int | None) -> int | None:
    """An integer column (id, size, state, sequence...)."""
    return None if value is None else int(value)


def flag(value: bool | None) -> int | None:
    """A TINYINT flag column: 0/1 (``typed`` makes it "0"/"1" for the strings generation)."""
    return None if value is None else (1 if value else 0)


def created_id(value: int) -> str:
    """An id OCO's create-type methods return: PDO's ``lastInsertId`` is a string on every PHP
    version, so it is a string in both modes."""
    return str(value)


def typed(value: Any, native: bool) -> Any:
    """A method's answer as the configured OCO generation sends it: ``native`` leaves integers
    as they are (PHP >= 8.1); otherwise every integer and float becomes its decimal string, as
    PDO handed every column to OCO on PHP < 8.1. Builders never put booleans into rows (flags
    are 0/1), so only numbers change. A list of 10,000 computers passes ~400,000 values
    through here; ``type(x) is`` checks and one comprehension per row keep that to a fraction
    of the list's database time (docs/performance.md)."""
    if native:
        return value
    return _strings(value)


class Rows(list[Row]):
    """Rows of one shape whose only numbers sit under ``numbers``: ``typed`` converts just those
    keys instead of looking at every value. The computer list is the reason: 10,000 rows of 38
    keys with 4 numbers, where the general pass cost 70-100 ms (docs/performance.md).
    ``tests/dialects/oco/test_value_types.py`` walks the answers, so a number added to such a row
    and missing from ``numbers`` fails there."""

    __slots__ = ("numbers",)

    def __init__(self, rows: Iterable[Row], numbers: tuple[str, ...]) -> None:
        super().__init__(rows)
        self.numbers = numbers


def _rows_strings(rows: Rows) -> Rows:
    keys = rows.numbers
    for row in rows:  # fresh dicts, built for this answer: changed in place
        for k in keys:
            v = row[k]
            if v is not None:
                row[k] = str(v)
    return rows


def _strings(value: Any) -> Any:
    t = type(value)
    if t is Rows:
        return _rows_strings(value)
    if t is dict:
        # Most values are text or null: kept without a call; only the others go to _scalar.
        return {k: v if v is None or type(v) is str else _scalar(v) for k, v in value.items()}
    if t is list:
        return [_strings(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    t = type(value)
    if t is int or t is float:
        return str(value)
    if t is dict or t is list or t is Rows:
        return _strings(value)
    if t is bool:
        return "1" if value else "0"
    return value


def computer(d: ComputerDetail, user_id: UserIds) -> Row:
    """``computer.get``'s ``general``: the list row of that computer."""
    return computer_row(d.row(), user_id)


def created_by(username: str, user_id: UserIds) -> tuple[int | None, str | None]:
    """``created_by_system_user_id`` and OCO's joined ``created_by_system_user_username``: both
    null when the creator is no user account (an agent, the system)."""
    uid = user_id(username)
    return uid, (username if uid is not None else None)


def uptime(r: ComputerRow) -> int | None:
    """OCO's ``uptime`` is the seconds since boot the agent reported at its last contact."""
    if r.boot_time is None or r.last_seen is None:
        return None
    return max(0, int((r.last_seen - r.boot_time).total_seconds()))


# the numbers of ``computer_row`` (for ``Rows``)
COMPUTER_NUMBERS = (
    "id",
    "uptime",
    "force_update",
    "created_by_system_user_id",
    "battery_level",
    "battery_status",
    "agent_timestamp",
)


def computer_rows(rows: Iterable[ComputerRow], user_id: UserIds) -> Rows:
    """``computer.list``'s rows, marked with their numbers for ``typed``."""
    return Rows((computer_row(r, user_id) for r in rows), COMPUTER_NUMBERS)


def computer_row(r: ComputerRow, user_id: UserIds) -> Row:
    """``computer.list`` rows and ``computer.get``'s ``general``: the union of the seed's fields
    and current OCO's whole ``Computer`` object (issue #14), in current OCO's order, the seed's
    joined fields after. Agent credentials are never disclosed through this API:
    ``agent_key``/``server_key`` are empty. Facts fleetdeck has no source for are null."""
    creator_id, creator = created_by(r.created_by, user_id)
    return {
        "id": r.id,
        "uid": r.uid or None,
        "hostname": r.hostname,
        "os": r.os,
        "os_version": r.os_version,
        "os_license": None,
        "os_locale": None,
        "kernel_version": r.kernel,
        "architecture": r.architecture,
        "cpu": r.cpu_model,
        "gpu": None,
        "ram": None if r.ram_bytes is None else str(r.ram_bytes),  # a TEXT column in OCO
        "agent_version": r.agent_version,
        "remote_address": r.remote_address or None,
        "serial": r.serial,
        "manufacturer": r.manufacturer,
        "model": r.model,
        "bios_version": r.bios_version,
        "battery_level": r.battery_level,
        "battery_status": r.battery_status,
        "uptime": uptime(r),
        "boot_type": None,
        "domain": r.domain,
        "secure_boot": None,
        "last_ping": ts(r.last_seen),
        "last_update": ts(r.inventory_at),
        "force_update": 1 if r.force_update else 0,
        "notes": r.notes,
        "agent_key": "",
        "server_key": "",
        "agent_timestamp": r.agent_timestamp,
        "created": ts(r.created_at),
        "created_by_system_user_id": creator_id,
        "software_id": None,
        "software_name": None,
        "software_version": None,
        "computer_network_mac": None,
        "created_by_system_user_username": creator,
    }


class TreeNode(Protocol):
    """Any group: computer, package or report group."""

    @property
    def id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def name(self) -> str: ...


def computer_group(g: TreeNode) -> Row:
    return {"id": num(g.id), "parent_computer_group_id": num(g.parent_id), "name": g.name}


def package_group(g: TreeNode) -> Row:
    return {"id": num(g.id), "parent_package_group_id": num(g.parent_id), "name": g.name}


def networks(d: ComputerDetail) -> list[Row]:
    """One row per address (OCO's computer_network); an interface without addresses still
    gives a row, because its MAC matters for Wake-on-LAN."""
    rows: list[Row] = []
    for number, nic in enumerate(d.network_interfaces):
        addresses = nic.addresses or [{}]
        for a in addresses:
            rows.append(
                {
                    "id": None,
                    "nic_number": number,
                    "address": str(a.get("address", "")),
                    "netmask": str(a.get("netmask", "")),
                    "broadcast": str(a.get("broadcast", "")),
                    "mac": nic.mac,
                    "interface": nic.name,
                }
            )
    return rows


def filesystems(d: ComputerDetail) -> list[Row]:
    cid = num(d.summary.id)
    return [
        {
            "id": None,
            "computer_id": cid,
            "device": f.device,
            "mountpoint": f.mountpoint,
            "filesystem": f.fstype,
            "size": num(f.size_bytes),
            "free": num(f.free_bytes),
            "name": None,
            "uuid": None,
            "encrypted": None,
        }
        for f in d.filesystems
    ]


def recognised_software(d: ComputerDetail) -> list[Row]:
    return [
        {
            "id": None,
            "software_id": None,
            "version": s.version,
            "installed": None,
            "software_name": s.name,
            "software_version": s.version,
            "software_description": s.description,
        }
        for s in d.software
    ]


def logins(d: ComputerDetail) -> list[Row]:
    """OCO aggregates logins per user: the latest one and how many there were."""
    per_user: dict[str, list[Any]] = {}
    for login in d.logged_in_users:
        entry = per_user.setdefault(login.username, [None, 0, login.terminal])
        if login.started_at is not None and (entry[0] is None or login.started_at > entry[0]):
            entry[0] = login.started_at
            entry[2] = login.terminal
        entry[1] += 1
    return [
        {
            "id": None,
            "domain_user_id": None,
            "console": terminal or None,
            "timestamp": ts(latest),
            "logon_amount": count,
            "computer_hostname": None,
            "domain_user_username": username,
        }
        for username, (latest, count, terminal) in per_user.items()
    ]


def cell(value: Any) -> Any:
    """A report cell as PDO hands it to OCO: numbers as numbers (``typed`` makes them strings
    for the strings generation), booleans as the 0/1 MySQL has, NULL as null, anything else
    (dates) as text."""
    if value is None or isinstance(value, str | list | dict):
        return value
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return value
    return str(value)
