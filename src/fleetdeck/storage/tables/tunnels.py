"""Tunnels (``core.tunnels``): a server port carried to an address a computer's agent reaches.

``short_id`` is the per-computer id people see (a counter, as text), kept in
``tunnel_counters`` so that an id is not given again after its tunnel is deleted. A local port
is held by one tunnel at a time, whichever computer it is for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class Tunnel(Base):
    __tablename__ = "tunnels"
    __table_args__ = (
        UniqueConstraint("computer_id", "short_id"),
        UniqueConstraint("local_port"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(BigId, ForeignKey("computers.id", ondelete="CASCADE"))
    short_id: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    protocol: Mapped[str] = mapped_column(String(10))
    local_host: Mapped[str] = mapped_column(String(64))
    local_port: Mapped[int]
    local_port_random: Mapped[bool]
    remote_host: Mapped[str] = mapped_column(String(255))
    remote_port: Mapped[int]
    scheme: Mapped[str] = mapped_column(String(15))
    acl: Mapped[str] = mapped_column(String(2000))  # comma list of addresses and networks; "" = all
    idle_timeout_minutes: Mapped[int]  # 0 = never closed for idleness
    auto_close_sec: Mapped[int]  # 0 = never closed by age
    expires_at: Mapped[datetime | None]  # created_at + auto_close_sec
    created_at: Mapped[datetime]
    owner: Mapped[str] = mapped_column(String(150))
    # the HTTPS reverse proxy in front of the port (rportd's http_proxy); basic auth's password
    # only as its argon2 hash
    http_proxy: Mapped[bool] = mapped_column(default=False, server_default=false())
    host_header: Mapped[str] = mapped_column(String(255), default="", server_default="")
    auth_user: Mapped[str] = mapped_column(String(150), default="", server_default="")
    auth_password_hash: Mapped[str] = mapped_column(String(255), default="", server_default="")


class TunnelCounter(Base):
    """The last tunnel id given for a computer."""

    __tablename__ = "tunnel_counters"

    computer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("computers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    last_id: Mapped[int]


class StoredTunnel(Base):
    """A saved tunnel preset of a computer (rportd's stored tunnels): what a user fills in to
    make a tunnel later. Named by a uuid; its name is unique among the computer's presets."""

    __tablename__ = "stored_tunnels"
    __table_args__ = (UniqueConstraint("computer_id", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    computer_id: Mapped[int] = mapped_column(BigId, ForeignKey("computers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    scheme: Mapped[str] = mapped_column(String(15))
    remote_ip: Mapped[str] = mapped_column(String(255))
    remote_port: Mapped[int]
    public_port: Mapped[int | None]
    acl: Mapped[str] = mapped_column(String(2000))  # comma list, as ``tunnels.acl``
    further_options: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150))
