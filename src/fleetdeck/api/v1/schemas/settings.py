"""Runtime settings. Secret values are never shown: they read ``********``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from fleetdeck.api.v1.schemas.common import RequestModel, ResponseModel


class SettingOut(ResponseModel):
    key: str
    value: Any = Field(description='The effective value; "********" for a secret that is set.')
    default: Any
    type: str = Field(examples=["bool", "int", "float", "str", "list[str]"])
    description: str
    secret: bool
    scope: str = Field(examples=["global"])
    is_default: bool = Field(description="True when no value was set (the default applies).")
    updated_at: datetime | None
    updated_by: str


class SettingSet(RequestModel):
    value: Any = Field(description="A JSON value of the setting's type (validated by the server).")
