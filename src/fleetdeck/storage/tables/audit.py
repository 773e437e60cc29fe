from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None]
    username: Mapped[str] = mapped_column(String(150), default="", index=True)
    source: Mapped[str] = mapped_column(String(64), default="")
    via: Mapped[str] = mapped_column(String(30), default="")  # api, cli, agent, oco, opsi, ...
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(50), default="", index=True)
    object_id: Mapped[str] = mapped_column(String(100), default="")
    result: Mapped[str] = mapped_column(String(30), default="ok")  # ok | denied | failed | ...
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
