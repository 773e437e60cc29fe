from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Double, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class Computer(Base):
    """A managed computer. Inventory scalars live here; lists live in the child tables."""

    __tablename__ = "computers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    fqdn: Mapped[str] = mapped_column(String(255), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    last_seen: Mapped[datetime | None]
    online: Mapped[bool] = mapped_column(default=False, index=True)
    node_id: Mapped[str | None] = mapped_column(String(64))  # server process holding the connection
    remote_address: Mapped[str] = mapped_column(String(64), default="")
    # Agent credential: encrypted (dialects such as opsi must be able to show it) plus a keyed
    # hash for constant-time verification without decrypting on every connect.
    agent_key_enc: Mapped[str | None] = mapped_column(String(255))
    agent_key_hash: Mapped[str | None] = mapped_column(String(64))
    agent_version: Mapped[str] = mapped_column(String(50), default="")
    enrolled_at: Mapped[datetime | None]
    # Which agent manages the computer: "fleetdeck" (ours, connected) or "polling" (a foreign
    # agent that polls over signed HTTP requests and only runs package jobs; core.polling).
    agent_kind: Mapped[str] = mapped_column(String(16), default="fleetdeck", server_default="fleetdeck")
    # A polling agent's protocol state: the key the server signs its answers with (encrypted:
    # it must be used, not only compared), and the newest request timestamp accepted (replay).
    agent_server_key_enc: Mapped[str | None] = mapped_column(String(255))
    agent_timestamp: Mapped[float | None] = mapped_column(Double)
    # The agent's pending-updates summary (rportd's ``updates_status``) as JSON text, the last
    # one it answered a refresh with; "" until asked.
    updates_status: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Firmware (SMBIOS) UUID the agent reported when it enrolled; "" when it could not read it.
    # With the machine id and the MACs it tells a re-install of this machine from a clone.
    hardware_uuid: Mapped[str] = mapped_column(String(64), default="")
    # Until when a new agent on this same machine may replace the enrolled one (an admin's
    # explicit "allow re-enrollment"); None: never, a second agent becomes its own computer.
    reenroll_until: Mapped[datetime | None]
    # Keyed hash of (enrollment token id, the agent's attempt id) of the enrollment that issued
    # the current key: a retry of that attempt (its answer was lost) gets this computer back
    # without using the token again. Unique: two copies of one attempt cannot both enroll.
    enroll_attempt_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # What an admin records about the machine: shown as given, except
    # that the agent's inventory wins for the addresses of an agent-managed computer.
    description: Mapped[str] = mapped_column(Text, default="")
    inventory_number: Mapped[str] = mapped_column(String(64), default="")
    given_mac: Mapped[str] = mapped_column(String(64), default="")
    given_ip: Mapped[str] = mapped_column(String(64), default="")
    # Secrets recorded for the machine before (or besides) its agent, encrypted: a one-time
    # password, and the host key of a computer pre-registered without an agent (an enrolled
    # computer's host key is its agent key).
    one_time_password_enc: Mapped[str | None] = mapped_column(String(255))
    host_key_enc: Mapped[str | None] = mapped_column(String(255))
    # Inventory scalars
    os: Mapped[str] = mapped_column(String(255), default="")
    os_version: Mapped[str] = mapped_column(String(100), default="")
    os_family: Mapped[str] = mapped_column(String(20), default="")
    kernel: Mapped[str] = mapped_column(String(255), default="")
    architecture: Mapped[str] = mapped_column(String(50), default="")
    cpu_model: Mapped[str] = mapped_column(String(255), default="")
    cpu_cores: Mapped[int] = mapped_column(default=0)
    cpu_threads: Mapped[int] = mapped_column(default=0)
    ram_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    boot_time: Mapped[datetime | None]
    manufacturer: Mapped[str] = mapped_column(String(255), default="")
    model: Mapped[str] = mapped_column(String(255), default="")
    serial: Mapped[str] = mapped_column(String(255), default="")
    bios_version: Mapped[str] = mapped_column(String(255), default="")
    machine_id: Mapped[str] = mapped_column(String(64), default="")
    domain: Mapped[str] = mapped_column(String(255), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    inventory_digest: Mapped[str] = mapped_column(String(64), default="")
    inventory_at: Mapped[datetime | None]
    # Battery as the agent last saw it: charge 0..1 (OCO's scale), status 1 = on mains power,
    # 2 = discharging; None: no battery (or not known). Refreshed by every poll/inventory.
    battery_level: Mapped[float | None] = mapped_column(Double)
    battery_status: Mapped[int | None]
    # An admin asked for the inventory at the agent's next poll (OCO's "force update");
    # cleared when the inventory arrives.
    force_update: Mapped[bool] = mapped_column(default=False, server_default="0")


class ComputerEvent(Base):
    """An entry of a computer's local event log that its agent was asked for (OCO's event
    query rules) and sent. Bounded per computer and purged by age (housekeeping)."""

    __tablename__ = "computer_events"
    __table_args__ = (
        Index("ix_computer_events_computer_at", "computer_id", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"))
    log: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]  # when it happened on the computer (UTC)
    provider: Mapped[str] = mapped_column(String(255), default="")
    level: Mapped[str] = mapped_column(String(32), default="")
    event_id: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]


class ComputerPassword(Base):
    """A local account password the computer's agent rotated and handed over (OCO's password
    rotation), encrypted at rest; the newest ones per user name are kept (the rule's history)."""

    __tablename__ = "computer_passwords"
    __table_args__ = (
        Index("ix_computer_passwords_computer_user", "computer_id", "username"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(255))
    password_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ComputerFilesystem(Base):
    __tablename__ = "computer_filesystems"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    device: Mapped[str] = mapped_column(String(255), default="")
    mountpoint: Mapped[str] = mapped_column(String(1024))
    fstype: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    free_bytes: Mapped[int] = mapped_column(BigInteger)


class ComputerInterface(Base):
    __tablename__ = "computer_interfaces"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    mac: Mapped[str] = mapped_column(String(64), default="", index=True)
    # [{"address", "family", "netmask", "broadcast"}]
    addresses: Mapped[list[Any]] = mapped_column(default=list)


class ComputerSoftware(Base):
    __tablename__ = "computer_software"
    __table_args__ = (Index("ix_computer_software_name", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")


class ComputerLogin(Base):
    __tablename__ = "computer_logins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(255))
    terminal: Mapped[str] = mapped_column(String(255), default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    started_at: Mapped[datetime | None]


class ReportedAudit(Base):
    """Audit data a client reported itself through a dialect (opsi's hwaudit/swaudit), beside
    the agent's inventory: ``kind`` is ``software`` / ``hardware`` (per computer) or
    ``software_title`` / ``hardware_device`` (the catalogue, ``computer_id`` NULL); ``ident`` is
    the row's key within its kind and computer, ``data`` its attributes; ``state`` 1 = current,
    0 = obsolete (opsi's setObsolete)."""

    __tablename__ = "reported_audit"
    __table_args__ = (UniqueConstraint("kind", "computer_key", "ident"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    computer_id: Mapped[int | None] = mapped_column(
        ForeignKey("computers.id", ondelete="CASCADE"), index=True, nullable=True
    )
    computer_key: Mapped[int] = mapped_column(BigId, default=0)  # computer_id or 0: the unique key
    ident: Mapped[str] = mapped_column(String(1024))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class ComputerTag(Base):
    """A word or a key/value describing a computer, set by people (not by its inventory): a
    tag (``kind`` "tag", ``name``) or a label (``kind`` "label", ``name`` = ``value``). Rule
    groups match tags (``core.groups.rules``)."""

    __tablename__ = "computer_tags"
    __table_args__ = (
        UniqueConstraint("computer_id", "kind", "name", name="uq_computer_tags_computer_kind_name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text, default="")
