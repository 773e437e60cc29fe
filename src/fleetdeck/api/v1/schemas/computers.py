"""Computers: summary rows, the whole inventory, pre-registration and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from fleetdeck.api.v1.schemas.common import MAX_EXPIRY_SEC, Int, RequestModel, ResponseModel, Str
from fleetdeck.core.computers.entities import ComputerDetail
from fleetdeck.core.enrollment.service import REENROLL_WINDOW

Notes = Annotated[Str, Field(max_length=65_536)]


class ComputerOut(ResponseModel):
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
    agent_kind: str = Field(
        description="Which agent manages it: 'fleetdeck' (ours) or 'polling' (an OCO agent polling"
        " /api-agent.php)."
    )
    capabilities: list[str] = Field(
        description="What its agent can do: inventory, packages, commands, actions, ping,"
        " live_output, files (files pushed to it). Requests needing a missing one are refused"
        " (409 agent_incapable) with the reason."
    )


class FilesystemOut(ResponseModel):
    mountpoint: str
    fstype: str
    size_bytes: int
    free_bytes: int
    device: str


class AddressOut(ResponseModel):
    address: str
    family: str
    netmask: str = ""
    broadcast: str = ""


class NetworkInterfaceOut(ResponseModel):
    name: str
    mac: str
    addresses: list[AddressOut]


class SoftwareOut(ResponseModel):
    name: str
    version: str
    description: str


class LoginOut(ResponseModel):
    username: str
    terminal: str
    host: str
    started_at: datetime | None


class GroupRefOut(ResponseModel):
    id: int
    key: str
    name: str


class ComputerDetailOut(ComputerOut):
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
    battery_level: float | None = Field(
        description="Battery charge 0..1 as the agent last saw it; null: no battery (or unknown)."
    )
    battery_status: int | None = Field(description="1 on mains power, 2 discharging; null: no battery.")
    force_update: bool = Field(description="The inventory is asked for at the agent's next poll.")
    agent_timestamp: float | None = Field(
        description="A polling (OCO) agent's newest accepted request timestamp (replay protection)."
    )
    filesystems: list[FilesystemOut]
    network_interfaces: list[NetworkInterfaceOut]
    software: list[SoftwareOut]
    logged_in_users: list[LoginOut]
    groups: list[GroupRefOut]

    @classmethod
    def of(cls, detail: ComputerDetail) -> ComputerDetailOut:
        summary = ComputerOut.model_validate(detail.summary).model_dump()
        rest = {name: getattr(detail, name) for name in cls.model_fields if name not in summary}
        return cls.model_validate({**summary, **rest})


class ComputerCreate(RequestModel):
    hostname: Annotated[Str, Field(min_length=1, max_length=255)]
    notes: Notes = ""


class ComputerUpdate(RequestModel):
    notes: Notes | None = None
    fqdn: Annotated[Str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="Rename: a qualified name (host.domain.tld), kept until the machine reports one."
    )


class ReenrollAllow(RequestModel):
    within_sec: Annotated[Int, Field(ge=1, le=MAX_EXPIRY_SEC)] = Field(
        int(REENROLL_WINDOW.total_seconds()), description="How long the permission lasts, in seconds."
    )


class ReenrollOut(ResponseModel):
    computer_id: int
    reenroll_until: datetime = Field(
        description="Until then, the next agent enrolling from this same machine replaces the enrolled one."
    )


class ComputerEventOut(ResponseModel):
    id: int
    log: str
    at: datetime = Field(description="When it happened on the computer (UTC).")
    provider: str
    level: str
    event_id: str
    data: dict[str, Any]
    received_at: datetime


class MeasurementOut(ResponseModel):
    """One measurement its agent sent (``monitoring.interval_sec``); rates in bytes/s, null
    when the agent could not measure them."""

    taken_at: int = Field(description="When it arrived, unix seconds (what filter[taken_at] takes).")
    time: datetime = Field(description="The same instant (UTC).")
    cpu_usage_percent: float
    memory_usage_percent: float
    io_usage_percent: float | None
    net_lan_in: float | None
    net_lan_out: float | None
    net_wan_in: float | None
    net_wan_out: float | None
    mountpoints: dict[str, dict[str, int]] = Field(description="Path -> total_bytes, free_bytes.")
    processes: list[dict[str, Any]] = Field(description="The top processes by CPU, then memory.")


class ComputerPasswordOut(ResponseModel):
    id: int
    username: str
    password: str
    created_at: datetime
