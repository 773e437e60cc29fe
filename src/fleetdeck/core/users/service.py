"""Users, passwords, login tokens and personal API tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import jwt
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog, Mutation
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    ValidationFailed,
)
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import Passwords, SecretBox, random_token
from fleetdeck.core.users.entities import Credential, LoginResult, NewToken, TokenInfo, UserInfo
from fleetdeck.core.users.groups import perms_of, set_memberships
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import ApiToken, User, WebSession
from fleetdeck.storage.uow import UnitOfWork

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,149}$")
TOKEN_PREFIX = "fdt_"
# The name token logins are throttled and audited under: a token names no user until it is checked.
TOKEN_LOGIN_NAME = "(api token)"
MIN_PASSWORD = 8
# "credentials": a token confined by its transport to managing agents' credentials (core
# treats it as read-only but for Perm.MANAGE_ENROLLMENT, see Actor.can); only admins make one.
SCOPES = ("read", "read+write", "credentials")
READ_ONLY_SCOPES = frozenset({"read", "credentials"})


def _user_info(u: User) -> UserInfo:
    return UserInfo(
        id=u.id,
        username=u.username,
        role=Role(u.role),
        full_name=u.full_name,
        email=u.email,
        disabled=u.disabled,
        created_at=u.created_at,
        last_login_at=u.last_login_at,
        password_expired=u.password_expired,
        two_fa_send_to=u.two_fa_send_to,
    )


def _token_info(t: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        scope=t.scope,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
    )


def _actor(user: User, source: str, via: str, token_scope: str = "") -> Actor:
    """The actor a user's login makes: role, what their groups grant and withhold, and the
    API token's scope when logged in with one."""
    granted, withheld = perms_of(user.group_perms)
    return Actor(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        source=source,
        via=via,
        read_only=token_scope in READ_ONLY_SCOPES,
        granted=granted,
        withheld=withheld,
        token_scope=token_scope,
    )


def _born(user: User) -> int:
    """When the user row was made, in microseconds: tokens and credentials carry it, so one made
    for a deleted user can never pass for a later user who got the same id (and version 1)."""
    return int(user.created_at.timestamp() * 1_000_000)


def _check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise ValidationFailed(
            "user name must be 1-150 characters of letters, digits, '.', '_', '@' or '-'", field="username"
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"password must have at least {MIN_PASSWORD} characters", field="password")
    if len(password) > 1024:
        raise ValidationFailed("password is too long", field="password")


class UserService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        throttle: LoginThrottle,
        token_lifetime_sec: int,
        passwords: Passwords | None = None,
    ) -> None:
        self._db = db
        self._passwords = passwords or Passwords()
        self._audit = audit
        self._box = box
        self._clock = clock
        self._throttle = throttle
        self._lifetime = token_lifetime_sec

    # ------------------------------------------------------------ users

    def count(self) -> int:
        with UnitOfWork(self._db, readonly=True) as uow:
            return uow.session.scalar(select(func.count()).select_from(User)) or 0

    def create(
        self,
        actor: Actor,
        username: str,
        password: str,
        role: Role,
        full_name: str = "",
        email: str = "",
        *,
        groups: Sequence[str] | None = None,
        password_expired: bool = False,
        two_fa_send_to: str = "",
    ) -> UserInfo:
        """A new account. ``groups``: its user groups (core/users/groups.py), which then decide
        its role (admin only in the admins' group) and permissions; ``password_expired``: the
        first login must choose a new password."""
        self._audit.require(actor, Perm.MANAGE_USERS, "user.create", "user")
        _check_username(username)
        _check_password(password)
        with self._audit.mutation(actor, "user.create", "user", perm=Perm.MANAGE_USERS) as m:
            serialize(m.session, Serial.USER_NAMES)  # the name check in _insert decides
            info = self._insert(m, username, password, role, full_name=full_name, email=email)
            if groups is None and not password_expired and not two_fa_send_to:
                return info
            user = m.session.get(User, info.id)
            assert user is not None
            user.password_expired = password_expired
            user.two_fa_send_to = two_fa_send_to[:150]
            if groups is not None:
                set_memberships(m.session, user, groups)
                m.detail.update(groups=list(groups), role=user.role)
                m.session.flush()
                self._ensure_an_admin_remains(m.session)
            return _user_info(user)

    def put(
        self, actor: Actor, username: str, password: str, role: Role, *, disabled: bool = False
    ) -> UserInfo:
        """Create-or-keep of the account named ``username`` (exactly), decided in one
        transaction serialised with other puts and creates: a missing account is created with
        ``password``, ``role`` and ``disabled`` under ``create``'s rules (audited
        ``user.create``; another account whose name differs only in case is a Conflict); an
        existing one is left as it is (audited ``user.update``, nothing changed). For transports
        whose "insert" of a user only makes sure the account exists (opsi's User objects): looked
        up first and created in a second call, two concurrent inserts of a new name both tried
        to create it, and the second failed on the unique name instead of finding it."""
        with self._audit.mutation(actor, "user.create", "user", perm=Perm.MANAGE_USERS) as m:
            serialize(m.session, Serial.USER_NAMES)
            user = m.session.scalar(select(User).where(User.username == username))
            if user is not None:
                m.action, m.object_id = "user.update", str(user.id)
                m.detail = {"username": username, "unchanged": True}
                return _user_info(user)
            _check_username(username)
            _check_password(password)
            return self._insert(m, username, password, role, disabled=disabled)

    def _insert(
        self,
        m: Mutation,
        username: str,
        password: str,
        role: Role,
        *,
        full_name: str = "",
        email: str = "",
        disabled: bool = False,
    ) -> UserInfo:
        """The new account, inside a serialised (``Serial.USER_NAMES``) mutation; a name taken
        regardless of case is a Conflict."""
        s = m.session
        if s.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
            raise Conflict(f"user {username!r} already exists", field="username")
        now = self._clock()
        user = User(
            username=username,
            password_hash=self._passwords.hash(password),
            role=role.value,
            full_name=full_name,
            email=email,
            disabled=disabled,
            created_at=now,
            password_changed_at=now,
        )
        s.add(user)
        s.flush()
        m.object_id = str(user.id)
        m.detail = {"username": username, "role": role.value, **({"disabled": True} if disabled else {})}
        return _user_info(user)

    def list_users(self, actor: Actor) -> list[UserInfo]:
        actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            return [_user_info(u) for u in uow.session.scalars(select(User).order_by(User.id))]

    def get(self, actor: Actor, user_id: int) -> UserInfo:
        if actor.user_id != user_id:
            actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            user = uow.session.get(User, user_id)
            if user is None:
                raise NotFound("user", user_id)
            return _user_info(user)

    def get_by_name(self, username: str) -> UserInfo | None:
        with UnitOfWork(self._db, readonly=True) as uow:
            user = uow.session.scalar(select(User).where(User.username == username))
            return _user_info(user) if user else None

    def update(
        self,
        actor: Actor,
        user_id: int,
        *,
        role: Role | None = None,
        full_name: str | None = None,
        email: str | None = None,
        disabled: bool | None = None,
        username: str | None = None,
        password: str | None = None,
        groups: Sequence[str] | None = None,
        password_expired: bool | None = None,
        two_fa_send_to: str | None = None,
    ) -> UserInfo:
        """Change an account; what is None stays. A new name must be free (in any case), a
        new password or an expired one ends the user's sessions and tokens' logins, and
        ``groups`` replaces the user's groups (and so their role and permissions)."""
        if username is not None:
            _check_username(username)
        if password is not None:
            _check_password(password)
        with self._audit.mutation(actor, "user.update", "user", user_id, perm=Perm.MANAGE_USERS) as m:
            user = m.session.get(User, user_id)
            if user is None:
                raise NotFound("user", user_id)
            changes: dict[str, object] = {}
            if username is not None and username != user.username:
                self._rename(m.session, user, username, changes)
            if password is not None or (password_expired and not user.password_expired):
                self._new_password(m.session, user, password, changes)
            if password_expired is not None and password_expired != user.password_expired:
                changes["password_expired"] = [user.password_expired, password_expired]
                user.password_expired = password_expired
            if two_fa_send_to is not None:
                user.two_fa_send_to = two_fa_send_to[:150]
            if groups is not None:
                before = user.role
                set_memberships(m.session, user, groups)
                changes["groups"] = list(groups)
                if user.role != before:
                    changes["role"] = [before, user.role]
            if role is not None and role.value != user.role:
                changes["role"] = [user.role, role.value]
                user.role = role.value
            if full_name is not None:
                user.full_name = full_name
            if email is not None:
                user.email = email
            if disabled is not None and disabled != user.disabled:
                changes["disabled"] = [user.disabled, disabled]
                user.disabled = disabled
                user.token_version += 1
                m.session.execute(delete(WebSession).where(WebSession.user_id == user_id))
            if changes.get("role") or changes.get("disabled"):
                self._ensure_an_admin_remains(m.session)
            m.detail = changes
            return _user_info(user)

    def delete(self, actor: Actor, user_id: int) -> None:
        with self._audit.mutation(actor, "user.delete", "user", user_id, perm=Perm.MANAGE_USERS) as m:
            user = m.session.get(User, user_id)
            if user is None:
                raise NotFound("user", user_id)
            if user.id == actor.user_id:
                raise Conflict("you cannot delete yourself")
            m.detail = {"username": user.username}
            m.session.delete(user)
            m.session.flush()
            self._ensure_an_admin_remains(m.session)

    def update_own(
        self,
        actor: Actor,
        *,
        username: str | None = None,
        password: str | None = None,
        current_password: str | None = None,
        two_fa_send_to: str | None = None,
    ) -> UserInfo:
        """A user's change of their own account (a profile page): a new name (free in any
        case), a new password (only with the current one, which is checked whoever asks; the
        user's other sessions end) and where second-factor codes go. One transaction, audited
        ``user.update``; a read-only token changes nothing."""
        if actor.user_id is None:
            raise PermissionDenied("only users have accounts")
        if username is not None:
            _check_username(username)
        with self._audit.mutation(actor, "user.update", "user", actor.user_id) as m:
            if actor.read_only:
                raise PermissionDenied("a read-only token cannot change the account")
            user = m.session.get(User, actor.user_id)
            if user is None:
                raise NotFound("user", actor.user_id)
            changes: dict[str, object] = {}
            if password is not None:
                if current_password is None or not self._passwords.verify(
                    user.password_hash, current_password
                ):
                    raise PermissionDenied("the current password is wrong")
                _check_password(password)
                self._new_password(m.session, user, password, changes)
            if username is not None and username != user.username:
                self._rename(m.session, user, username, changes)
            if two_fa_send_to is not None:
                user.two_fa_send_to = two_fa_send_to[:150]
            m.detail = changes
            return _user_info(user)

    @staticmethod
    def _rename(s: Session, user: User, username: str, changes: dict[str, object]) -> None:
        """A new name for the user, free in any case (serialised with creations)."""
        serialize(s, Serial.USER_NAMES)
        taken = s.scalar(
            select(User.id).where(func.lower(User.username) == username.lower(), User.id != user.id)
        )
        if taken:
            raise Conflict(f"user {username!r} already exists", field="username")
        changes["username"] = [user.username, username]
        user.username = username

    def _new_password(self, s: Session, user: User, password: str | None, changes: dict[str, object]) -> None:
        """A new password (None: only the logins end): every login of the user ends."""
        if password is not None:
            user.password_hash = self._passwords.hash(password)
            user.password_changed_at = self._clock()
            changes["password"] = "changed"
        user.token_version += 1
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))

    def _ensure_an_admin_remains(self, session: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        admins = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.disabled.is_(False))
        )
        if not admins:
            raise Conflict("at least one enabled admin must remain")

    def set_password(
        self, actor: Actor, user_id: int, new_password: str, current_password: str | None = None
    ) -> None:
        """Admins may set anyone's password; users may change their own with the current one.

        An admin resetting someone else's password also revokes that user's API tokens: a reset
        is what admins do when an account may be in the wrong hands. A read-only token changes
        no password, not even its own user's."""
        own = actor.user_id == user_id
        with self._audit.mutation(actor, "user.password", "user", user_id) as m:
            if actor.read_only:
                raise PermissionDenied("a read-only token cannot change passwords")
            if not own:
                actor.require(Perm.MANAGE_USERS)
            _check_password(new_password)  # after the checks above: a refused caller learns no rule
            user = m.session.get(User, user_id)
            if user is None:
                raise NotFound("user", user_id)
            if (
                own
                and not actor.can(Perm.MANAGE_USERS)
                and (
                    current_password is None
                    or not self._passwords.verify(user.password_hash, current_password)
                )
            ):
                raise PermissionDenied("the current password is wrong")
            user.password_hash = self._passwords.hash(new_password)
            user.password_changed_at = self._clock()
            user.token_version += 1
            # Every browser session of the user ends now (the one that made the change gets a
            # new one from its transport), not only at its next request.
            ended = m.session.execute(delete(WebSession).where(WebSession.user_id == user_id))
            m.detail = {"web_sessions_ended": int(getattr(ended, "rowcount", 0) or 0)}
            if not own:
                revoked = m.session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
                m.detail["api_tokens_revoked"] = int(getattr(revoked, "rowcount", 0) or 0)

    # ------------------------------------------------------------ authentication

    def authenticate_password(self, username: str, password: str, source: str, via: str) -> Actor:
        """Check a user name and password, with throttling and an audit record either way."""
        return self.password_login(username, password, source, via)[0]

    def password_login(
        self, username: str, password: str, source: str, via: str, *, new_password: str | None = None
    ) -> tuple[Actor, Credential]:
        """``authenticate_password``, and a ``Credential`` to ``resume`` from later. A user whose
        password an admin marked expired is refused (``reason`` ``password_expired``) unless
        ``new_password`` comes with the right old one: it is then set, and the login goes on."""
        wait = self._throttle.retry_after(username, source)
        if wait > 0:
            self._audit.record(self._anon(username, source, via), "auth.login", "user", username, "throttled")
            raise TooManyAttempts("too many failed logins; try again later", retry_after=round(wait, 1))
        with UnitOfWork(self._db, readonly=True) as uow:
            user = uow.session.scalar(select(User).where(User.username == username))
            ok = self._passwords.verify(user.password_hash if user else self._passwords.dummy_hash, password)
        # Written after the read transaction ended: SQLite allows one writer.
        if user is None or not ok or user.disabled:
            reason = "disabled" if user is not None and ok else "bad_credentials"
            self._login_failed(username, source, via, "user", user.id if user else username, reason)
            raise AuthenticationFailed("invalid user name or password")
        values: dict[str, object] = {"last_login_at": self._clock()}
        if self._passwords.needs_rehash(user.password_hash):  # the cost was changed since
            values["password_hash"] = self._passwords.hash(password)
        version = user.token_version
        if user.password_expired:
            if new_password is None:
                self._audit.record(
                    self._anon(username, source, via),
                    "auth.login",
                    "user",
                    user.id,
                    "refused",
                    reason="password_expired",
                )
                raise AuthenticationFailed(
                    "password has expired, please change your password", reason="password_expired"
                )
            _check_password(new_password)
            if new_password == password:
                raise ValidationFailed("the new password must differ from the old one", field="new_password")
            version += 1
            values.update(
                password_hash=self._passwords.hash(new_password),
                password_changed_at=self._clock(),
                password_expired=False,
                token_version=version,
            )
        with UnitOfWork(self._db) as uow:
            uow.session.execute(update(User).where(User.id == user.id).values(**values))
            self._throttle.succeeded(uow.session, username, source)
            if user.password_expired:
                self._audit.add(
                    uow.session,
                    _actor(user, source, via),
                    "user.password",
                    "user",
                    user.id,
                    reason="password_expired",
                )
        return _actor(user, source, via), Credential(user.id, version, born=_born(user))

    def _login_failed(
        self, username: str, source: str, via: str, object_type: str, object_id: object, reason: str
    ) -> None:
        """Count a failed login for the throttle and audit it, in one transaction (written after
        any read transaction ended: SQLite allows one writer)."""
        with UnitOfWork(self._db) as uow:
            self._throttle.failed(uow.session, username, source)
            self._audit.add(
                uow.session,
                self._anon(username, source, via),
                "auth.login",
                object_type,
                object_id,
                result="failed",
                reason=reason,
            )

    def resume(self, credential: Credential, source: str, via: str) -> Actor:
        """The actor of an earlier login, as the user is now: reads by primary key instead of an
        argon2 verification. Fails once the user changed their password, was disabled or
        deleted (each bumps or removes the version), or the API token was revoked or expired."""
        with UnitOfWork(self._db, readonly=True) as uow:
            return self.resume_in(uow.session, credential, source, via)

    def resume_in(self, s: Session, credential: Credential, source: str, via: str) -> Actor:
        """``resume`` inside the caller's transaction (the web session store reads its session
        row and the user in one)."""
        user = s.get(User, credential.user_id)
        if (
            user is None
            or user.disabled
            or user.token_version != credential.version
            or credential.born != _born(user)
        ):
            raise AuthenticationFailed("invalid user name or password")
        scope = ""
        if credential.token_id is not None:
            token = s.get(ApiToken, credential.token_id)
            if token is None or token.user_id != user.id:
                raise AuthenticationFailed("invalid API token")
            if token.expires_at is not None and token.expires_at <= self._clock():
                raise AuthenticationFailed("API token expired")
            scope = token.scope
        return _actor(user, source, via, scope)

    def session_login(
        self, username: str, password: str, source: str, via: str, *, new_password: str | None = None
    ) -> tuple[Actor, Credential]:
        """A login that starts a server-side session (the web UI): ``password_login``'s checks,
        throttle and failure audit, plus the success record ``login`` writes for a JWT, so a
        browser login is in the audit log like an API one. The transport keeps the
        ``Credential`` and ``resume``s it on every request."""
        actor, credential = self.password_login(username, password, source, via, new_password=new_password)
        self._audit.record(actor, "auth.login", "user", actor.user_id or "", "ok")
        return actor, credential

    def token_session_login(self, token: str, source: str, via: str) -> tuple[Actor, Credential]:
        """A server-side session started with a personal API token instead of a password (the
        web UI's "log in with an API token"): the token's checks, the login throttle of the
        address (a wrong token counts as a failed login, so tokens cannot be guessed faster than
        passwords) and an audit record either way that names the token by id, never its
        secret. The ``Credential`` carries the token: ``resume`` fails once it is revoked or
        expired, so the session ends with it."""
        wait = self._throttle.retry_after(TOKEN_LOGIN_NAME, source)
        if wait > 0:
            self._audit.record(
                self._anon(TOKEN_LOGIN_NAME, source, via), "auth.login", "api_token", "", "throttled"
            )
            raise TooManyAttempts("too many failed logins; try again later", retry_after=round(wait, 1))
        try:
            if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
                raise AuthenticationFailed("invalid API token")
            actor, credential = self._api_token_login(token, source, via)
        except AuthenticationFailed as exc:
            reason = "expired_token" if "expired" in exc.message else "bad_token"
            self._login_failed(TOKEN_LOGIN_NAME, source, via, "api_token", "", reason)
            raise
        with UnitOfWork(self._db) as uow:
            uow.session.execute(
                update(User).where(User.id == actor.user_id).values(last_login_at=self._clock())
            )
            self._throttle.succeeded(uow.session, TOKEN_LOGIN_NAME, source)
        self._audit.record(
            actor,
            "auth.login",
            "user",
            actor.user_id or "",
            "ok",
            method="api_token",
            token_id=credential.token_id,
        )
        return actor, credential

    def token_expiry(self, credential: Credential) -> datetime | None:
        """When the API token of a token login expires (None: never, or not a token login)."""
        if credential.token_id is None:
            return None
        with UnitOfWork(self._db, readonly=True) as uow:
            return uow.session.scalar(select(ApiToken.expires_at).where(ApiToken.id == credential.token_id))

    def session_logout(self, actor: Actor) -> None:
        """Audit the end of a server-side session the user ended themselves."""
        self._audit.record(actor, "auth.logout", "user", actor.user_id or "", "ok")

    def login(self, username: str, password: str, source: str, via: str = "api") -> LoginResult:
        actor = self.authenticate_password(username, password, source, via)
        now = self._clock()
        expires = now + timedelta(seconds=self._lifetime)
        with UnitOfWork(self._db, readonly=True) as uow:
            user = uow.session.get(User, actor.user_id)
            assert user is not None
            info = _user_info(user)
            claims = {
                "sub": str(user.id),
                "uct": _born(user),
                "tv": user.token_version,
                "iat": int(now.timestamp()),
                "exp": int(expires.timestamp()),
                "jti": random_token(12),
            }
        token = jwt.encode(claims, self._box.jwt_key, algorithm="HS256")
        self._audit.record(actor, "auth.login", "user", actor.user_id or "", "ok")
        return LoginResult(token=token, expires_at=expires, user=info)

    def authenticate_bearer(self, token: str, source: str, via: str) -> Actor:
        """A login JWT or a personal API token."""
        if token.startswith(TOKEN_PREFIX):
            return self._authenticate_api_token(token, source, via)
        try:
            claims = jwt.decode(
                token, self._box.jwt_key, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed("invalid or expired token") from exc
        with UnitOfWork(self._db, readonly=True) as uow:
            user = uow.session.get(User, int(claims["sub"]))
            if (
                user is None
                or user.disabled
                or user.token_version != claims.get("tv")
                or claims.get("uct") != _born(user)
            ):
                raise AuthenticationFailed("invalid or expired token")
            return _actor(user, source, via)

    def authenticate_basic(self, username: str, secret: str, source: str, via: str) -> Actor:
        """HTTP Basic: the secret may be the password or one of the user's API tokens."""
        return self.basic_login(username, secret, source, via)[0]

    def basic_login(self, username: str, secret: str, source: str, via: str) -> tuple[Actor, Credential]:
        """``authenticate_basic``, and a ``Credential`` to ``resume`` from later."""
        if secret.startswith(TOKEN_PREFIX):
            actor, credential = self._api_token_login(secret, source, via)
            if actor.username != username:
                raise AuthenticationFailed("invalid user name or password")
            return actor, credential
        return self.password_login(username, secret, source, via)

    def _authenticate_api_token(self, token: str, source: str, via: str) -> Actor:
        return self._api_token_login(token, source, via)[0]

    def _api_token_login(self, token: str, source: str, via: str) -> tuple[Actor, Credential]:
        prefix = token[: len(TOKEN_PREFIX) + 8]
        with UnitOfWork(self._db) as uow:
            row = uow.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
            now = self._clock()
            if row is None or not self._box.matches(token, row.secret_hash):
                raise AuthenticationFailed("invalid API token")
            if row.expires_at is not None and row.expires_at <= now:
                raise AuthenticationFailed("API token expired")
            user = uow.session.get(User, row.user_id)
            if user is None or user.disabled:
                raise AuthenticationFailed("invalid API token")
            if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
                row.last_used_at = now  # throttled write: not every request
            actor = _actor(user, source, via, row.scope)
            return actor, Credential(user.id, user.token_version, token_id=row.id, born=_born(user))

    def unlock(self, actor: Actor, username: str | None = None, address: str | None = None) -> int:
        """Forget failed logins (of a user name everywhere, of an address, or of both), so a
        locked-out user or address may try again at once. Returns how many were forgotten."""
        target = username if username is not None else address
        self._audit.require(actor, Perm.MANAGE_USERS, "user.unlock", "user", target or "")
        if username is None and address is None:
            raise ValidationFailed("name a user, an address or both", field="username")
        with self._audit.mutation(actor, "user.unlock", "user", target, perm=Perm.MANAGE_USERS) as m:
            cleared = self._throttle.clear(m.session, username, address)
            m.detail = {"username": username, "address": address, "failures_cleared": cleared}
            return cleared

    @staticmethod
    def _anon(username: str, source: str, via: str) -> Actor:
        return Actor(user_id=None, username=username[:150], role=Role.VIEWER, source=source, via=via)

    # ------------------------------------------------------------ API tokens

    def create_token(self, actor: Actor, name: str, scope: str, expires_at: datetime | None) -> NewToken:
        if actor.user_id is None:
            raise PermissionDenied("only users have API tokens")
        if actor.read_only:
            raise PermissionDenied("a read-only token cannot create tokens")
        if not name.strip() or len(name) > 250:
            raise ValidationFailed("name must be 1-250 characters", field="name")
        if scope not in SCOPES:
            raise ValidationFailed(f"scope must be one of {', '.join(SCOPES)}", field="scope")
        if scope == "credentials" and actor.role is not Role.ADMIN:
            raise PermissionDenied("only admins may make a token for agents' credentials")
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
        with self._audit.mutation(actor, "token.create", "api_token") as m:
            s = m.session
            if s.scalar(select(ApiToken.id).where(ApiToken.user_id == actor.user_id, ApiToken.name == name)):
                raise Conflict(f"you already have a token named {name!r}", field="name")
            secret = TOKEN_PREFIX + random_token(32)
            row = ApiToken(
                user_id=actor.user_id,
                name=name,
                prefix=secret[: len(TOKEN_PREFIX) + 8],
                secret_hash=self._box.keyed_hash(secret),
                scope=scope,
                created_at=now,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            m.object_id = str(row.id)
            m.detail = {"name": name, "scope": scope}
            return NewToken(info=_token_info(row), token=secret)

    def list_tokens(self, actor: Actor, user_id: int | None = None) -> list[TokenInfo]:
        """The caller's own API tokens, or (``manage_users``) another user's: an admin sees
        and may revoke what a departing user's scripts still hold."""
        if user_id is not None and user_id != actor.user_id:
            actor.require(Perm.MANAGE_USERS)
        owner = actor.user_id if user_id is None else user_id
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.scalars(
                select(ApiToken).where(ApiToken.user_id == owner).order_by(ApiToken.id)
            )
            return [_token_info(t) for t in rows]

    def update_token(
        self, actor: Actor, token_id: int, *, name: str | None = None, expires_at: datetime | None = None
    ) -> TokenInfo:
        """Rename one's own API token or move its expiry (never its scope or secret)."""
        if name is not None and (not name.strip() or len(name) > 250):
            raise ValidationFailed("name must be 1-250 characters", field="name")
        with self._audit.mutation(actor, "token.update", "api_token", token_id) as m:
            row = m.session.get(ApiToken, token_id)
            if row is None or row.user_id != actor.user_id:
                raise NotFound("api_token", token_id)
            if actor.read_only:
                raise PermissionDenied("a read-only token cannot change tokens")
            if name is not None and name != row.name:
                if m.session.scalar(
                    select(ApiToken.id).where(ApiToken.user_id == actor.user_id, ApiToken.name == name)
                ):
                    raise Conflict(f"you already have a token named {name!r}", field="name")
                row.name = name
            if expires_at is not None:
                if expires_at <= self._clock():
                    raise ValidationFailed("expires_at must be in the future", field="expires_at")
                row.expires_at = expires_at
            m.detail = {
                "name": row.name,
                "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            }
            return _token_info(row)

    def revoke_token(self, actor: Actor, token_id: int) -> None:
        with self._audit.mutation(actor, "token.revoke", "api_token", token_id) as m:
            row = m.session.get(ApiToken, token_id)
            if row is None or (row.user_id != actor.user_id and not actor.can(Perm.MANAGE_USERS)):
                raise NotFound("api_token", token_id)
            if actor.read_only:
                raise PermissionDenied("a read-only token cannot revoke tokens")
            m.session.delete(row)
