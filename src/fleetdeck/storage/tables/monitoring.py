"""Measurements agents send every ``monitoring.interval_sec`` (core/monitoring)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Double, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class Measurement(Base):
    """One measurement of one computer. ``taken_at`` is unix seconds (the server's clock when it
    arrived): graph buckets are integer divisions of it, the same SQL on every database."""

    __tablename__ = "measurements"
    __table_args__ = (
        Index("ix_measurements_computer_taken", "computer_id", "taken_at"),
        Index("ix_measurements_taken", "taken_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"))
    taken_at: Mapped[int] = mapped_column(BigInteger)
    cpu_usage_percent: Mapped[float] = mapped_column(Double)
    memory_usage_percent: Mapped[float] = mapped_column(Double)
    io_usage_percent: Mapped[float | None] = mapped_column(Double)
    net_lan_in: Mapped[float | None] = mapped_column(Double)  # bytes/s
    net_lan_out: Mapped[float | None] = mapped_column(Double)
    net_wan_in: Mapped[float | None] = mapped_column(Double)
    net_wan_out: Mapped[float | None] = mapped_column(Double)
    net_lan_mbit: Mapped[float | None] = mapped_column(Double)  # the cards' speed, for percentages
    net_wan_mbit: Mapped[float | None] = mapped_column(Double)
    mountpoints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    processes: Mapped[list[Any]] = mapped_column(default=list)
