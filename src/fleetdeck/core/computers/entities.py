from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from fleetdeck.core.errors import AgentIncapable

# Which agent manages a computer (``Computer.agent_kind``), and what each kind can do.
NATIVE_AGENT = "fleetdeck"  # our agent: connected, runs everything
POLLING_AGENT = "polling"  # a foreign agent polling over signed HTTP: packages and inventory only
CAPABILITIES: dict[str, tuple[str, ...]] = {
    NATIVE_AGENT: ("inventory", "packages", "commands", "actions", "ping", "live_output", "files"),
    POLLING_AGENT: ("inventory", "packages"),
}


def capabilities(agent_kind: str) -> tuple[str, ...]:
    """What a computer's agent can do: ``commands`` (ad-hoc commands), ``actions`` (reboot,
    shutdown, message), ``ping``, ``live_output`` (output while a job runs), ``packages``
    (package jobs), ``inventory``, ``files`` (files pushed to it, ``core/jobs/files.py``).
    Wake-on-LAN is the server's and needs none of them."""
    return CAPABILITIES.get(agent_kind, CAPABILITIES[NATIVE_AGENT])


def incapable(computer_id: int, hostname: str, agent_kind: str, cannot: str) -> AgentIncapable:
    """The refusal of a request the computer's agent cannot serve (``cannot``: "run commands")."""
    can = capabilities(agent_kind)
    return AgentIncapable(
        f"computer {computer_id} ({hostname}) is managed by a {agent_kind} agent, which cannot {cannot};"
        f" it can do: {', '.join(can)}",
        computer_id=computer_id,
        agent_kind=agent_kind,
        capabilities=list(can),
    )


@dataclass(frozen=True, slots=True)
class ComputerSummary:
    id: int
    uid: str
    hostname: str
    fqdn: str
    os: str
    os_version: str
    architecture: str
    ram_bytes: int
    agent_version: str
    notes: str
    created_at: datetime
    last_seen: datetime | None
    online: bool
    enrolled: bool
    remote_address: str
    agent_kind: str = NATIVE_AGENT

    @property
    def capabilities(self) -> tuple[str, ...]:
        return capabilities(self.agent_kind)


@dataclass(frozen=True, slots=True)
class HostRecord:
    """What an admin recorded about a computer, besides its inventory (description,
    inventory number, addresses, secrets).
    ``mac`` / ``ip``: the addresses given, which the agent's inventory overrides where it
    reports some. The secrets are None for callers who may not manage computers (and when
    none is set); ``host_key`` is the key of a computer without an agent (an enrolled
    computer's host key is its agent key)."""

    computer_id: int
    enrolled: bool
    description: str
    inventory_number: str
    mac: str
    ip: str
    one_time_password: str | None
    host_key: str | None


# What ``ComputerService.put``'s ``record`` may set, and of which type (None clears a secret).
RECORD_TEXT = {"description": 100_000, "inventory_number": 64, "mac": 64, "ip": 64}
RECORD_SECRETS = {"one_time_password": 100, "host_key": 100}  # encrypted into 255 characters
RECORD_TIMES = ("created_at", "last_seen")


@dataclass(frozen=True, slots=True)
class Filesystem:
    mountpoint: str
    fstype: str
    size_bytes: int
    free_bytes: int
    device: str


@dataclass(frozen=True, slots=True)
class NetworkInterface:
    name: str
    mac: str
    addresses: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class InstalledSoftware:
    name: str
    version: str
    description: str


@dataclass(frozen=True, slots=True)
class SoftwareOnComputer:
    """One installed title of one computer, with when that computer's inventory was taken:
    a row of ``ComputerService.software``, for lists of titles across computers."""

    computer_id: int
    name: str
    version: str
    description: str
    inventory_at: datetime | None


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    terminal: str
    host: str
    started_at: datetime | None


@dataclass(frozen=True, slots=True)
class NetworkIdentity:
    macs: list[str]
    ipv4: list[str]


@dataclass(frozen=True, slots=True)
class GroupRef:
    id: int
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class ComputerDetail:
    summary: ComputerSummary
    os_family: str
    kernel: str
    cpu_model: str
    cpu_cores: int
    cpu_threads: int
    boot_time: datetime | None
    manufacturer: str
    model: str
    serial: str
    bios_version: str
    machine_id: str
    domain: str
    timezone: str
    inventory_at: datetime | None
    filesystems: list[Filesystem] = field(default_factory=list)
    network_interfaces: list[NetworkInterface] = field(default_factory=list)
    software: list[InstalledSoftware] = field(default_factory=list)
    logged_in_users: list[Login] = field(default_factory=list)
    groups: list[GroupRef] = field(default_factory=list)
    created_by: str = ""
    battery_level: float | None = None  # 0..1
    battery_status: int | None = None  # 1 on mains power, 2 discharging
    force_update: bool = False  # the inventory is asked for at the agent's next poll
    agent_timestamp: float | None = None  # a polling agent's newest request timestamp

    def row(self) -> ComputerRow:
        """The scalars, as one row of ``ComputerService.find_detailed``."""
        s = self.summary
        return ComputerRow(
            s.id,
            s.uid,
            s.hostname,
            s.fqdn,
            s.os,
            s.os_version,
            s.architecture,
            s.ram_bytes,
            s.agent_version,
            s.notes,
            s.created_at,
            s.last_seen,
            s.online,
            s.enrolled,
            s.remote_address,
            self.os_family,
            self.kernel,
            self.cpu_model,
            self.cpu_cores,
            self.cpu_threads,
            self.boot_time,
            self.manufacturer,
            self.model,
            self.serial,
            self.bios_version,
            self.machine_id,
            self.domain,
            self.timezone,
            self.inventory_at,
            self.created_by,
            s.agent_kind,
            self.battery_level,
            self.battery_status,
            self.force_update,
            self.agent_timestamp,
        )


class ComputerRow(NamedTuple):
    """A computer with every inventory scalar and none of the list sections: one row of a long
    list. A tuple rather than a ``ComputerDetail`` because a list of 10,000 computers is built
    from 10,000 database rows, and two frozen dataclasses per row cost more than the query."""

    id: int
    uid: str
    hostname: str
    fqdn: str
    os: str
    os_version: str
    architecture: str
    ram_bytes: int
    agent_version: str
    notes: str
    created_at: datetime
    last_seen: datetime | None
    online: bool
    enrolled: bool
    remote_address: str
    os_family: str
    kernel: str
    cpu_model: str
    cpu_cores: int
    cpu_threads: int
    boot_time: datetime | None
    manufacturer: str
    model: str
    serial: str
    bios_version: str
    machine_id: str
    domain: str
    timezone: str
    inventory_at: datetime | None
    created_by: str
    agent_kind: str = NATIVE_AGENT
    battery_level: float | None = None
    battery_status: int | None = None
    force_update: bool = False
    agent_timestamp: float | None = None
    updates_status: str = ""  # JSON text: the last pending-updates summary, "" when none


@dataclass(frozen=True, slots=True)
class Presence:
    """An agent connected to this node, from this address, with this version."""

    computer_id: int
    remote_address: str
    agent_version: str


@dataclass(frozen=True, slots=True)
class AgentPing:
    """A connected agent's answer to a ping: its clock, its uptime, and how long the answer took
    (through the bus and whichever server process holds the agent)."""

    computer_id: int
    agent_time: datetime
    uptime_sec: float
    round_trip_ms: float
