from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class Report(Base):
    """A saved read-only SQL query, optionally filed in a report group (``groups.kind='report'``)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    query: Mapped[str] = mapped_column(Text)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime]
