"""Second factor by e-mail: a short code mailed at login, entered to finish it.

``send`` makes a random 6-digit code for one half login (a session awaiting its second factor),
stores only its keyed hash (HMAC with the server key, so the million possible codes cannot be
tried offline against a copy of the database) with an absolute end, and mails the code to the
user's ``two_fa_send_to`` address through the mail port. A new login makes a new code for its
own session; codes of other half logins stay valid until they end.

``verify`` checks a code for the caller's half login. A code is used once: the row is deleted
when it matches (and the session is promoted right after). Wrong codes count as failed logins
for the login throttle, like wrong passwords and wrong authenticator codes, and after
``MAX_FAILURES`` wrong tries the code itself is deleted, so one mailed code cannot be guessed
even slowly: a new login (password again) is needed for a new one.
"""

from __future__ import annotations

import secrets
import smtplib
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    TooManyAttempts,
    Unavailable,
    ValidationFailed,
)
from fleetdeck.core.mail.mailer import Mail, Mailer
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import User, UserMailCodeSecret
from fleetdeck.storage.uow import UnitOfWork

CODE_DIGITS = 6
MAX_FAILURES = 5
MAX_CODE = 64  # longer input is no code of ours: refused before hashing
SEND_TIMEOUT_SEC = 10.0  # the login waits this long for the mail server to take the message


def _code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class MailCodeService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        throttle: LoginThrottle,
        mail: Mailer,
    ) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._throttle = throttle
        self._mail = mail

    @staticmethod
    def _material(session_id: int, code: str) -> str:
        # bound to the session: a code hash copied to another row matches nothing
        return f"mail-code\x00{session_id}\x00{code}"

    def send(self, actor: Actor, session_id: int, ttl_sec: int, subject: str) -> str:
        """Mail a new code for the half login ``session_id`` of ``actor``; returns the address
        it went to. ``Conflict`` when the user has no address for codes, ``Unavailable`` when
        no mail server is configured or it did not take the message (the login fails then:
        a code nobody receives is no second factor)."""
        assert actor.user_id is not None
        if not self._mail.configured():
            raise Unavailable("no SMTP server or sender configured (smtp.host, smtp.sender)")
        code = _code()
        with self._audit.mutation(actor, "auth.second_factor.mail", "user", actor.user_id) as m:
            user = m.session.get(User, actor.user_id)
            address = user.two_fa_send_to.strip() if user is not None else ""
            if not address:
                raise Conflict("the user has no address for 2FA codes (two_fa_send_to)")
            m.session.merge(
                UserMailCodeSecret(
                    session_id=session_id,
                    user_id=actor.user_id,
                    code_hash=self._box.keyed_hash(self._material(session_id, code)),
                    expires_at=self._clock() + timedelta(seconds=ttl_sec),
                    failures=0,
                )
            )
            m.detail["send_to"] = address  # the address, never the code
        minutes = max(1, ttl_sec // 60)
        text = (
            f"Your verification code: {code}\n\n"
            f"It is valid for {minutes} minute{'s' if minutes != 1 else ''}, once, for the login of"
            f" {actor.username} from {actor.source or 'an unknown address'}.\n"
            "If you did not try to log in, someone knows your password: change it.\n"
        )
        try:
            self._mail.send(Mail((address,), subject, text)).result(timeout=SEND_TIMEOUT_SEC)
        except (FutureTimeout, OSError, smtplib.SMTPException, Unavailable) as exc:
            raise Unavailable("the 2FA code could not be sent by e-mail") from exc
        return address

    def verify(self, actor: Actor, session_id: int, code: str) -> None:
        """Check the code of the caller's half login; audited either way. Single use: a match
        deletes it, so does the ``MAX_FAILURES``-th wrong one."""
        assert actor.user_id is not None
        wait = self._throttle.retry_after(actor.username, actor.source)
        if wait > 0:
            self._audit.record(actor, "auth.second_factor", "user", actor.user_id, "throttled")
            raise TooManyAttempts("too many failed logins; try again later", retry_after=round(wait, 1))
        text = code.strip()
        if not text or len(text) > MAX_CODE:
            raise ValidationFailed("a code is 6 digits", field="token")
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            row = uow.session.get(UserMailCodeSecret, session_id)
            valid = row is not None and row.user_id == actor.user_id and row.expires_at > now
            if (
                row is not None
                and valid
                and self._box.matches(self._material(session_id, text), row.code_hash)
            ):
                uow.session.delete(row)
                self._throttle.succeeded(uow.session, actor.username, actor.source)
                self._audit.add(
                    uow.session, actor, "auth.second_factor", "user", actor.user_id, "ok", via="mail"
                )
                return
            if row is not None:
                row.failures += 1
                if not valid or row.failures >= MAX_FAILURES:
                    uow.session.delete(row)
            self._throttle.failed(uow.session, actor.username, actor.source)
            reason = "expired" if row is not None and not valid else "failed"
            self._audit.add(
                uow.session, actor, "auth.second_factor", "user", actor.user_id, reason, via="mail"
            )
        raise AuthenticationFailed("invalid code")
