"""Login, the current user, personal API tokens and user administration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from fleetdeck.api.v1.schemas.common import Bool, RequestModel, ResponseModel, Str, Str255
from fleetdeck.core.authz import Role


def _utc(value: datetime | None) -> datetime | None:
    """Times without a zone are taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso_only(value: object) -> object:
    """ISO 8601 strings only: pydantic would take a number as a Unix time."""
    if not isinstance(value, (str, datetime)):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


UTCDateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_utc)]
Username = Annotated[Str, Field(min_length=1, max_length=150)]
Password = Annotated[Str, Field(max_length=1024)]


class LoginIn(RequestModel):
    username: Username
    password: Password


class UserOut(ResponseModel):
    id: int
    username: str
    role: Role
    full_name: str
    email: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class LoginOut(ResponseModel):
    token: str = Field(description="JWT; send it as `Authorization: Bearer <token>`.")
    expires_at: datetime
    user: UserOut


class TokenCreate(RequestModel):
    name: Annotated[Str, Field(min_length=1, max_length=250)]
    scope: Literal["read", "read+write"] = "read+write"
    expires_at: UTCDateTime | None = None


class TokenOut(ResponseModel):
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown only in this response; store it now.")


class PasswordChange(RequestModel):
    current_password: Password
    new_password: Password


class PasswordSet(RequestModel):
    password: Password


class Unlock(RequestModel):
    """Which failed logins to forget: a user name's (from every address), an address's (for every
    name), or both together (that name from that address)."""

    username: Username | None = None
    address: Annotated[Str, Field(min_length=1, max_length=64)] | None = None


class Unlocked(ResponseModel):
    failures_cleared: int


class UserCreate(RequestModel):
    username: Username
    password: Password
    role: Role
    full_name: Str255 = ""
    email: Str255 = ""


class UserUpdate(RequestModel):
    """Absent or null fields are left unchanged."""

    role: Role | None = None
    full_name: Str255 | None = None
    email: Str255 | None = None
    disabled: Bool | None = None
