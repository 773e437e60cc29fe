"""Second factor by authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s).

A user sets up one secret (``create``), shown once more on request (``get``) for a second
device, and deleted by themselves or an admin (``delete``), after which a new one may be made.
The secret is stored encrypted with the server key in ``user_totp_secrets``, a table no report
may read. ``verify`` checks a code at login: wrong codes count as failed logins for the
throttle (so codes are not guessed faster than passwords), and a code is accepted once (the
time step of the last accepted code is kept with the secret, so a code seen over someone's
shoulder cannot be replayed in the same 30 s, on this server process or any other).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyotp
from sqlalchemy import or_, update

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import AuthenticationFailed, Conflict, NotFound, TooManyAttempts, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import User, UserTotpSecret
from fleetdeck.storage.uow import UnitOfWork

SECRET_BYTES = 20
STEP_SEC = 30


@dataclass(frozen=True, slots=True)
class TotpSecret:
    """A user's secret and the ``otpauth://`` URI an authenticator app reads (from a QR code)."""

    secret: str
    uri: str


def _check_code(code: str) -> str:
    text = code.strip()
    if not (text.isdigit() and len(text) == 6):
        raise ValidationFailed("a code is 6 digits", field="token")
    return text


class SecondFactorService:
    def __init__(
        self, db: Database, audit: AuditLog, box: SecretBox, clock: Clock, throttle: LoginThrottle
    ) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._throttle = throttle

    def _secret(self, enc: str, username: str, issuer: str) -> TotpSecret:
        secret = self._box.decrypt(enc)
        return TotpSecret(secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer))

    def exists(self, user_id: int) -> bool:
        with UnitOfWork(self._db, readonly=True) as uow:
            return uow.session.get(UserTotpSecret, user_id) is not None

    def create(self, actor: Actor, issuer: str) -> TotpSecret:
        """A new secret for the caller; Conflict when they have one (delete it first)."""
        if actor.user_id is None:
            raise NotFound("user", actor.username)
        with self._audit.mutation(actor, "user.totp.create", "user", actor.user_id) as m:
            if m.session.get(UserTotpSecret, actor.user_id) is not None:
                raise Conflict("an authenticator secret exists already")
            secret = pyotp.random_base32(length=32)  # 32 base32 digits = 20 bytes
            enc = self._box.encrypt(secret)
            m.session.add(UserTotpSecret(user_id=actor.user_id, secret_enc=enc, created_at=self._clock()))
            return self._secret(enc, actor.username, issuer)

    def get(self, actor: Actor, issuer: str) -> TotpSecret:
        if actor.user_id is None:
            raise NotFound("user", actor.username)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(UserTotpSecret, actor.user_id)
            if row is None:
                raise NotFound("authenticator secret", actor.username)
            return self._secret(row.secret_enc, actor.username, issuer)

    def delete(self, actor: Actor, user_id: int) -> None:
        """Forget a user's secret (their own, or anyone's with ``manage_users``)."""
        with self._audit.mutation(actor, "user.totp.delete", "user", user_id) as m:
            if user_id != actor.user_id:
                actor.require(Perm.MANAGE_USERS)
            if m.session.get(User, user_id) is None:
                raise NotFound("user", user_id)
            row = m.session.get(UserTotpSecret, user_id)
            if row is None:
                raise NotFound("authenticator secret", user_id)
            m.session.delete(row)

    def verify(self, actor: Actor, code: str) -> None:
        """Check the caller's code (their password was checked already); audited either way,
        a wrong code counts as a failed login. ``Conflict`` when the user has no secret yet."""
        assert actor.user_id is not None
        wait = self._throttle.retry_after(actor.username, actor.source)
        if wait > 0:
            self._audit.record(actor, "auth.second_factor", "user", actor.user_id, "throttled")
            raise TooManyAttempts("too many failed logins; try again later", retry_after=round(wait, 1))
        text = _check_code(code)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(UserTotpSecret, actor.user_id)
            if row is None:
                raise Conflict("no authenticator secret was set up yet")
            secret = self._box.decrypt(row.secret_enc)
        now = self._clock()
        totp = pyotp.TOTP(secret)
        step = int(now.timestamp()) // STEP_SEC
        matched = next(
            (s for s in (step, step - 1, step + 1) if totp.at(s * STEP_SEC) == text),
            None,
        )
        with UnitOfWork(self._db) as uow:
            # Accepted only when newer than the last accepted step: one conditional UPDATE, so
            # two processes (or requests) racing with the same code cannot both accept it.
            accepted = False
            if matched is not None:
                taken = uow.session.execute(
                    update(UserTotpSecret)
                    .where(
                        UserTotpSecret.user_id == actor.user_id,
                        or_(UserTotpSecret.last_step.is_(None), UserTotpSecret.last_step < matched),
                    )
                    .values(last_step=matched)
                    .execution_options(synchronize_session=False)
                )
                accepted = int(getattr(taken, "rowcount", 0) or 0) == 1
            if accepted:
                self._throttle.succeeded(uow.session, actor.username, actor.source)
                self._audit.add(uow.session, actor, "auth.second_factor", "user", actor.user_id, "ok")
            else:
                self._throttle.failed(uow.session, actor.username, actor.source)
                self._audit.add(uow.session, actor, "auth.second_factor", "user", actor.user_id, "failed")
        if not accepted:
            raise AuthenticationFailed("invalid code")
