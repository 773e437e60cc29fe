from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    role: Mapped[str] = mapped_column(String(20))  # admin | operator | viewer
    full_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(default=False)
    # Bumped on password change / disable so existing JWTs stop working.
    token_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # Set by an admin: the next login must choose a new password (core/users/service.py).
    password_expired: Mapped[bool] = mapped_column(default=False)
    # Where second-factor codes are sent (an e-mail address), when that kind of 2FA is on.
    two_fa_send_to: Mapped[str] = mapped_column(String(150), default="")
    # What the user's groups grant and withhold ({"granted": [...], "withheld": [...]}), kept
    # here by core/users/groups.py in the transaction that changes a membership or a group, so
    # that building an Actor costs no query more; None = the user is in no group (role only).
    group_perms: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class ApiToken(Base):
    """Personal API token. Only a keyed SHA-256 of the random secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(20))  # read | read+write
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class LoginFailure(Base):
    """A failed login, kept for the throttling window: in the database, so that every server
    process counts the same failures and ``fleetdeck user unlock`` (another process) can clear
    them. The user name is kept as typed (lower case), whether or not such a user exists."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_pair", "username", "address", "at"),
        Index("ix_login_failures_address", "address", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class WebSession(Base):
    """A browser session of the web UI. Kept in the database so that a restart does not log
    browsers out and every server process behind a load balancer knows every session. The
    cookie's random secret is stored only as a keyed SHA-256 (like API tokens): a copy of the
    database does not let anyone take over a session. The user's credential version (and, for
    a token login, the token) are checked against the user on every request, as for any login."""

    __tablename__ = "web_sessions"
    __table_args__ = {"sqlite_autoincrement": True}  # a deleted session's id is never given again

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_version: Mapped[int]
    user_born: Mapped[int] = mapped_column(BigInteger)
    # Logged in with an API token: the session ends with the token (revoked rows cascade).
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # password | api_token
    via: Mapped[str] = mapped_column(String(16))  # the transport that made it (web)
    source: Mapped[str] = mapped_column(String(64))  # the address that logged in
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)  # absolute end, whatever the use
    last_used_at: Mapped[datetime] = mapped_column(index=True)  # idle expiry counts from here
    # A session that lives by use instead of idling out: each use pushes expires_at to at
    # least now + renew_sec (API clients' bearer sessions); None = the idle rule applies.
    renew_sec: Mapped[int | None] = mapped_column(default=None)
    # "" = a full login; "second_factor" = a password was checked and only the second factor
    # may be presented with it.
    stage: Mapped[str] = mapped_column(String(16), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")


class UserGroup(Base):
    """A named group of users and what its members may do (``permissions``: core/users/groups.py's
    names -> bool), with restrictions kept as data for transports that enforce them. A group may
    be named in memberships without a row here: it then grants nothing."""

    __tablename__ = "user_groups"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    permissions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    restrictions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class UserGroupMember(Base):
    """A user's membership of a group, by the group's name (memberships may name a group that
    has no ``user_groups`` row, as they may in the systems fleetdeck imitates)."""

    __tablename__ = "user_group_members"
    __table_args__ = (UniqueConstraint("user_id", "group_name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_name: Mapped[str] = mapped_column(String(150), index=True)


class UserTotpSecret(Base):
    """A user's authenticator-app secret, encrypted with the server key. A table of its own
    whose name marks it secret: no report may read it (core/reports/policy.py)."""

    __tablename__ = "user_totp_secrets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_enc: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # The time step of the last code accepted: a code is accepted once, by whichever process.
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class UserMailCodeSecret(Base):
    """The second-factor code mailed for one half login (a ``web_sessions`` row awaiting its
    second factor): only a keyed hash, an absolute end and the wrong tries so far. One row per
    half login, deleted when the code is used, used up, or the session ends. The name marks the
    table secret: no report may read it (core/reports/policy.py)."""

    __tablename__ = "user_mail_code_secrets"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("web_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(default=0)


class OidcLoginSecret(Base):
    """One OpenID Connect login under way (``core/users/oidc.py``): the keyed hashes of its
    ``state`` and ``nonce``, its PKCE verifier encrypted, and when it stops being valid. Deleted
    when the provider's answer comes back (single use) or, once expired, by the next login that
    begins. The name marks the table secret: no report may read it (core/reports/policy.py)."""

    __tablename__ = "oidc_login_secrets"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce_hash: Mapped[str] = mapped_column(String(64))
    verifier_enc: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
