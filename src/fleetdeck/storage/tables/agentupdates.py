"""Agent releases (self-update, ``core.agentupdates``), their rollout, and each computer's update."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class AgentRelease(Base):
    """A published agent wheel. ``rollout``: none (published only), group (the computers of
    ``group_id``) or all. The newest release a computer is targeted by is the one it runs."""

    __tablename__ = "agent_releases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[str] = mapped_column(String(50), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    signature: Mapped[str] = mapped_column(String(100))  # base64 Ed25519 of release_statement()
    rollout: Mapped[str] = mapped_column(String(10), default="none")
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(255), default="")
    rolled_out_at: Mapped[datetime | None]


class AgentUpdateStatus(Base):
    """How the last update of one computer's agent went, as its agent reported it."""

    __tablename__ = "agent_update_status"

    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(50))  # the release the update was to
    state: Mapped[str] = mapped_column(String(20))
    error: Mapped[str] = mapped_column(Text, default="")
    running: Mapped[str] = mapped_column(String(50), default="")  # the version the agent runs
    updated_at: Mapped[datetime]


class AgentReleaseKeySecret(Base):
    """The server's Ed25519 release signing key (one row): the private key encrypted under the
    server key (``SecretBox``), the public key as agents pin it."""

    __tablename__ = "agent_release_key_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_key: Mapped[str] = mapped_column(String(100))
    private_key_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
