from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class EnrollToken(Base):
    __tablename__ = "enroll_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    revoked: Mapped[bool] = mapped_column(default=False)
