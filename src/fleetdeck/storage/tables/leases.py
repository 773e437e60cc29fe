from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base


class Lease(Base):
    """Who runs a periodic duty now (``core.leases``): one row per duty, taken over by another
    server process only once ``expires_at`` has passed without the holder renewing it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
