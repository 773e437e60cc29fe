"""Server-side login sessions (the web UI's browser sessions), kept in the database.

In the database, not in one process's memory, so that a server restart does not log browsers
out and every server process behind a load balancer knows every session (issue #19). The
cookie holds a random secret; the table holds only its keyed hash (``SecretBox.keyed_hash``,
as for API tokens), so a copy of the database or a backup lets nobody take a session over.

A session holds the login's ``Credential`` (user, credential version, the API token of a token
login), never a password. Every ``resume`` reads the session and checks the user as they are
now in one read transaction: a changed password, a disabled or deleted user, a revoked or
expired token ends the session at its next request, whichever transport made the change.

A session ends at ``expires_at`` (the login lifetime, or the token's own expiry if sooner), or
after ``idle`` without use. ``last_used_at`` is written at most once a minute per session, so
a busy browser does not make a write per click (SQLite has one writer). Ended sessions are
deleted by the housekeeping duty ``sessions.purge`` under its lease, so one process does it.

The CSRF token of a session is derived from its secret (a keyed hash with its own label), so
it needs no column, changes with every new session, and cannot be computed from the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox, random_token
from fleetdeck.core.users.entities import Credential
from fleetdeck.core.users.service import UserService
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import WebSession
from fleetdeck.storage.uow import UnitOfWork

IDLE_SEC = 8 * 3600
TOUCH_SEC = 60  # last_used_at is written at most this often per session
MAX_SECRET = 200  # a longer cookie is not one of ours: refused before hashing


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    user_id: int
    method: str  # password | api_token
    token_id: int | None
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StartedSession:
    """Returned once, at login: ``secret`` goes into the cookie and is never stored."""

    secret: str
    info: SessionInfo


class SessionService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        users: UserService,
        box: SecretBox,
        clock: Clock,
        lifetime_sec: int,
        idle_sec: int = IDLE_SEC,
    ) -> None:
        self._db = db
        self._audit = audit
        self._users = users
        self._box = box
        self._clock = clock
        self.lifetime = timedelta(seconds=lifetime_sec)
        self.idle = timedelta(seconds=min(idle_sec, lifetime_sec))

    def _hash(self, secret: str) -> str:
        return self._box.keyed_hash(secret)

    def _csrf(self, secret: str) -> str:
        return self._box.keyed_hash("csrf\x00" + secret)

    def _info(self, row: WebSession, secret: str) -> SessionInfo:
        return SessionInfo(
            row.id, row.user_id, row.method, row.token_id, self._csrf(secret), row.created_at, row.expires_at
        )

    def start(
        self, actor: Actor, credential: Credential, source: str, *, ends: datetime | None = None
    ) -> StartedSession:
        """A new session for a login that core has just checked (``session_login`` or
        ``token_session_login``, which audit it). ``ends``: an earlier end than the lifetime
        (the API token's expiry)."""
        now = self._clock()
        expires = now + self.lifetime
        if ends is not None:
            expires = min(expires, ends)
        secret = random_token(32)
        with UnitOfWork(self._db) as uow:
            row = WebSession(
                secret_hash=self._hash(secret),
                user_id=credential.user_id,
                credential_version=credential.version,
                user_born=credential.born,
                token_id=credential.token_id,
                method="api_token" if credential.token_id is not None else "password",
                via=actor.via[:16],
                source=source[:64],
                created_at=now,
                expires_at=expires,
                last_used_at=now,
            )
            uow.session.add(row)
            uow.session.flush()
            return StartedSession(secret, self._info(row, secret))

    def login(
        self, username: str, password: str, source: str, via: str, *, replaces: str | None = None
    ) -> tuple[Actor, StartedSession]:
        """A user name and password login that starts a session: ``UserService.session_login``
        (throttle, audit), then a new session. ``replaces``: the session secret the browser
        still had, which is forgotten (a session id is never reused across logins)."""
        actor, credential = self._users.session_login(username, password, source, via)
        self.discard(replaces)
        return actor, self.start(actor, credential, source)

    def token_login(
        self, token: str, source: str, via: str, *, replaces: str | None = None
    ) -> tuple[Actor, StartedSession]:
        """An API token login that starts a session bound to the token: it ends when the token
        is revoked (``resume`` checks it) or expires (its end is the token's expiry if sooner)."""
        actor, credential = self._users.token_session_login(token, source, via)
        self.discard(replaces)
        return actor, self.start(actor, credential, source, ends=self._users.token_expiry(credential))

    def resume(self, secret: str | None, source: str, via: str) -> tuple[Actor, SessionInfo]:
        """The session's user as they are now; ``AuthenticationFailed`` when there is no such
        session, it has ended, or its login is no longer valid (the row is then deleted)."""
        if not secret or len(secret) > MAX_SECRET:
            raise AuthenticationFailed("no session")
        now = self._clock()
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(select(WebSession).where(WebSession.secret_hash == self._hash(secret)))
            if row is None:
                raise AuthenticationFailed("no session")
            info = self._info(row, secret)
            ended = row.expires_at <= now or row.last_used_at + self.idle <= now
            actor: Actor | None = None
            if not ended:
                credential = Credential(row.user_id, row.credential_version, row.token_id, row.user_born)
                try:
                    actor = self._users.resume_in(uow.session, credential, source, via)
                except AuthenticationFailed:
                    ended = True
            touch = (now - row.last_used_at).total_seconds() >= TOUCH_SEC
        if ended or actor is None:
            self._delete(info.id)
            raise AuthenticationFailed("session ended")
        if touch:
            with UnitOfWork(self._db) as uow:
                uow.session.execute(
                    update(WebSession).where(WebSession.id == info.id).values(last_used_at=now)
                )
        return actor, info

    def end(self, actor: Actor, session: SessionInfo) -> None:
        """Logout: the session is deleted, and the end is audited (``auth.logout``)."""
        self._delete(session.id)
        self._audit.record(actor, "auth.logout", "user", actor.user_id or "", "ok", method=session.method)

    def discard(self, secret: str | None) -> None:
        """Forget a session without an audit record: the id a browser brings to a new login
        (a session id is never reused across logins)."""
        if secret and len(secret) <= MAX_SECRET:
            with UnitOfWork(self._db) as uow:
                uow.session.execute(delete(WebSession).where(WebSession.secret_hash == self._hash(secret)))

    def _delete(self, session_id: int) -> None:
        with UnitOfWork(self._db) as uow:
            uow.session.execute(delete(WebSession).where(WebSession.id == session_id))

    def purge(self) -> int:
        """Delete every ended session (housekeeping duty ``sessions.purge``); returns how many."""
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            result = uow.session.execute(
                delete(WebSession).where(
                    or_(WebSession.expires_at <= now, WebSession.last_used_at <= now - self.idle)
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def count(self, user_id: int | None = None) -> int:
        """Sessions stored now (of one user): for tests and status pages."""
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt = select(WebSession.id)
            if user_id is not None:
                stmt = stmt.where(WebSession.user_id == user_id)
            return len(uow.session.scalars(stmt).all())
