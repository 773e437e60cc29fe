from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class Group(Base):
    """A static, hierarchical group. ``key`` is unique across every kind (opsi needs that)."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("parent_id", "kind", "name", name="uq_groups_parent_kind_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20), default="computer")  # computer | package
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    # A flat group (root level, computers): a computer is in at most one of them, so adding it
    # to one takes it out of the other (``core.groups.flat``); other groups are unaffected.
    exclusive: Mapped[bool] = mapped_column(default=False, server_default="0")


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    computer_id: Mapped[int] = mapped_column(
        ForeignKey("computers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime]


class RuleGroup(Base):
    """A group of computers defined by rules on their inventory, not by a member list: which
    computers belong is decided at read time (``core.groups.rules``), so membership follows the
    inventory. ``rules`` maps a field to a list of patterns; ``allowed_user_groups`` names the
    user groups whose members may reach the matching computers."""

    __tablename__ = "rule_groups"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allowed_user_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AgentSecret(Base):
    """A credential agents may present when they connect (an id and a password, argon2-hashed;
    the table name marks it secret for reports)."""

    __tablename__ = "agent_secrets"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
