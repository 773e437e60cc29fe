from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base


class SettingValue(Base):
    """Runtime settings (dialect switches and keys), declared in ``core.settings.registry``.

    ``value`` is ``{"v": <json value>}``, or ``{"enc": <Fernet token of the JSON value>}`` for a
    secret setting. Only keys that differ from their default have a row.
    """

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(150), default="")
