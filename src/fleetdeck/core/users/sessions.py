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

import jwt
from sqlalchemy import and_, delete, or_, select, update

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import AuthenticationFailed, NotFound
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
    last_used_at: datetime | None = None
    source: str = ""
    user_agent: str = ""
    stage: str = ""  # "" | SECOND_FACTOR
    via: str = ""


# A session started by a password whose second factor is still to come: it may only be used
# to present that factor (and to set one up).
SECOND_FACTOR = "second_factor"


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
            row.id,
            row.user_id,
            row.method,
            row.token_id,
            self._csrf(secret) if secret else "",
            row.created_at,
            row.expires_at,
            row.last_used_at,
            row.source,
            row.user_agent,
            row.stage,
            row.via,
        )

    def start(
        self,
        actor: Actor,
        credential: Credential,
        source: str,
        *,
        ends: datetime | None = None,
        lifetime_sec: int | None = None,
        renew_sec: int | None = None,
        stage: str = "",
        user_agent: str = "",
    ) -> StartedSession:
        """A new session for a login that core has just checked (``session_login`` or
        ``token_session_login``, which audit it). ``ends``: an earlier end than the lifetime
        (the API token's expiry). API clients' sessions: ``lifetime_sec`` instead of the
        configured lifetime, and ``renew_sec``: no idle end, each use pushes the end to at least
        that far ahead. ``stage``: ``SECOND_FACTOR`` for a login that still needs one."""
        now = self._clock()
        expires = now + (timedelta(seconds=lifetime_sec) if lifetime_sec is not None else self.lifetime)
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
                renew_sec=renew_sec,
                stage=stage,
                user_agent=user_agent[:255],
            )
            uow.session.add(row)
            uow.session.flush()
            return StartedSession(secret, self._info(row, secret))

    def login(
        self,
        username: str,
        password: str,
        source: str,
        via: str,
        *,
        replaces: str | None = None,
        new_password: str | None = None,
        lifetime_sec: int | None = None,
        renew_sec: int | None = None,
        stage: str = "",
        user_agent: str = "",
    ) -> tuple[Actor, StartedSession]:
        """A user name and password login that starts a session: ``UserService.session_login``
        (throttle, audit), then a new session. ``replaces``: the session secret the browser
        still had, which is forgotten (a session id is never reused across logins). The rest
        as ``start`` (and ``new_password`` as ``UserService.password_login``)."""
        actor, credential = self._users.session_login(
            username, password, source, via, new_password=new_password
        )
        self.discard(replaces)
        started = self.start(
            actor,
            credential,
            source,
            lifetime_sec=lifetime_sec,
            renew_sec=renew_sec,
            stage=stage,
            user_agent=user_agent,
        )
        return actor, started

    def token_login(
        self, token: str, source: str, via: str, *, replaces: str | None = None
    ) -> tuple[Actor, StartedSession]:
        """An API token login that starts a session bound to the token: it ends when the token
        is revoked (``resume`` checks it) or expires (its end is the token's expiry if sooner)."""
        actor, credential = self._users.token_session_login(token, source, via)
        self.discard(replaces)
        return actor, self.start(actor, credential, source, ends=self._users.token_expiry(credential))

    def resume(
        self, secret: str | None, source: str, via: str, *, stage: str = ""
    ) -> tuple[Actor, SessionInfo]:
        """The session's user as they are now; ``AuthenticationFailed`` when there is no such
        session, it has ended, or its login is no longer valid (the row is then deleted), or it
        is not at ``stage`` (a half-finished login is no full one, and the reverse). A renewing
        session's end is pushed forward (written at most every ``TOUCH_SEC``)."""
        if not secret or len(secret) > MAX_SECRET:
            raise AuthenticationFailed("no session")
        now = self._clock()
        renew_to: datetime | None = None
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(select(WebSession).where(WebSession.secret_hash == self._hash(secret)))
            if row is None:
                raise AuthenticationFailed("no session")
            if row.stage != stage:
                raise AuthenticationFailed("this token is not valid here")
            info = self._info(row, secret)
            idle_end = row.last_used_at + self.idle if row.renew_sec is None else row.expires_at
            ended = row.expires_at <= now or idle_end <= now
            if row.renew_sec is not None and row.expires_at < now + timedelta(
                seconds=row.renew_sec - TOUCH_SEC
            ):
                renew_to = now + timedelta(seconds=row.renew_sec)
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
        if touch or renew_to is not None:
            values: dict[str, object] = {"last_used_at": now, "source": source[:64]}
            if renew_to is not None:
                values["expires_at"] = renew_to
            with UnitOfWork(self._db) as uow:
                uow.session.execute(update(WebSession).where(WebSession.id == info.id).values(**values))
        return actor, info

    def promote(
        self,
        actor: Actor,
        pending: SessionInfo,
        *,
        lifetime_sec: int | None = None,
        renew_sec: int | None = None,
    ) -> StartedSession:
        """A full session in place of a ``SECOND_FACTOR`` one whose factor was just checked
        (``SecondFactorService.verify``): the half session ends, a new one with a new secret
        begins (a secret is never promoted in place)."""
        if pending.stage != SECOND_FACTOR or actor.user_id != pending.user_id:
            raise AuthenticationFailed("this token is not valid here")
        with UnitOfWork(self._db) as uow:
            row = uow.session.get(WebSession, pending.id)
            if row is None:
                raise AuthenticationFailed("session ended")
            credential = Credential(row.user_id, row.credential_version, row.token_id, row.user_born)
            uow.session.delete(row)
        return self.start(
            actor,
            credential,
            actor.source,
            lifetime_sec=lifetime_sec,
            renew_sec=renew_sec,
            user_agent=pending.user_agent,
        )

    def of_user(self, actor: Actor, user_id: int) -> list[SessionInfo]:
        """A user's sessions, oldest first: one's own, or anyone's with ``manage_users``."""
        if user_id != actor.user_id:
            actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.scalars(
                select(WebSession).where(WebSession.user_id == user_id).order_by(WebSession.id)
            )
            return [self._info(r, "") for r in rows]

    def revoke(self, actor: Actor, user_id: int, session_id: int | None = None) -> int:
        """End one session of a user (``session_id``) or all of them; returns how many ended.
        Admins (``manage_users``) may end anyone's. Audited ``session.revoke``."""
        target = f"{user_id}/{session_id}" if session_id is not None else str(user_id)
        with self._audit.mutation(actor, "session.revoke", "session", target) as m:
            if user_id != actor.user_id:
                actor.require(Perm.MANAGE_USERS)
            stmt = delete(WebSession).where(WebSession.user_id == user_id)
            if session_id is not None:
                stmt = stmt.where(WebSession.id == session_id)
            ended = int(getattr(m.session.execute(stmt), "rowcount", 0) or 0)
            if session_id is not None and not ended:
                raise NotFound("session", session_id)
            m.detail = {"ended": ended}
            return ended

    def seal(self, claims: dict[str, object]) -> str:
        """A signed token (HS256 JWT with the server's key) carrying ``claims``, for transports
        whose clients expect their session in a JWT; the session's secret goes in as a claim.
        It has no ``exp``: the session row decides when it ends."""
        return jwt.encode(claims, self._box.jwt_key, algorithm="HS256")

    def unseal(self, token: str) -> dict[str, object]:
        """The claims of a ``seal``ed token; ``AuthenticationFailed`` if it is not one of ours."""
        if len(token) > 4096:
            raise AuthenticationFailed("invalid token")
        try:
            claims = jwt.decode(token, self._box.jwt_key, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed("invalid token") from exc
        if not isinstance(claims, dict):
            raise AuthenticationFailed("invalid token")
        return claims

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
                    or_(
                        WebSession.expires_at <= now,
                        and_(WebSession.renew_sec.is_(None), WebSession.last_used_at <= now - self.idle),
                    )
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
