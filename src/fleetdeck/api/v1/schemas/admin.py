"""Enrollment tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from fleetdeck.api.v1.schemas.common import (
    MAX_EXPIRY_SEC,
    MAX_INT32,
    Int,
    RequestModel,
    ResponseModel,
    Str255,
)


class EnrollTokenOut(ResponseModel):
    id: int
    note: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool


class EnrollTokenCreated(EnrollTokenOut):
    token: str = Field(description="The secret agents enroll with. Shown only in this response.")


class EnrollTokenCreate(RequestModel):
    expires_in_sec: Annotated[Int, Field(ge=1, le=MAX_EXPIRY_SEC)] | None = Field(
        86_400, description="Lifetime in seconds; null = never expires."
    )
    max_uses: Annotated[Int, Field(ge=1, le=MAX_INT32)] | None = Field(None, description="null = unlimited.")
    note: Str255 = ""


class AuditOut(ResponseModel):
    id: int
    at: datetime
    user_id: int | None
    username: str
    source: str
    via: str
    action: str
    object_type: str
    object_id: str
    result: str = Field(description="ok, denied, not_found, invalid, conflict, failed, throttled, ...")
    detail: dict[str, Any]
