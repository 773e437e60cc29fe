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
    password_expired: bool = False
    two_fa_send_to: str = ""


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


@dataclass(frozen=True, slots=True)
class Credential:
    """Proof that a user logged in (password or API token), without the secret: the user and
    the version of their credentials then. ``UserService.resume`` turns it back into an ``Actor``
    after checking the user's current state (a changed password, disabling or deletion ends it),
    so a transport may keep it (a session, a cache) instead of hashing the password again."""

    user_id: int
    version: int
    token_id: int | None = None  # logged in with an API token (HTTP Basic): it must still exist
    born: int = 0  # the user row's creation time: a later user with a reused id is someone else
