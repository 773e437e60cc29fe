from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fleetdeck.core.authz import Role


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    role: Role
    full_name: str
    email: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """Returned exactly once, at creation; the secret is never stored or shown again."""

    info: TokenInfo
    token: str


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    expires_at: datetime
    user: UserInfo
