"""Sending e-mail through the configured SMTP server, off the caller's thread.

Core services run in worker threads of their transport and must not hold them while a slow or
unreachable mail server answers, so ``SmtpMailer.send`` hands the message to a small thread pool
of its own and returns at once; the settings are read when the message is sent (a changed
server applies to the next message). A failure is logged, never raised into the request that
caused the mail: the change it reports (an invitation, say) is already committed, and an admin
can send it again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from fleetdeck.core.errors import Unavailable
from fleetdeck.core.mail import settings as keys
from fleetdeck.core.settings.service import SettingsService

log = logging.getLogger("fleetdeck.mail")
TIMEOUT_SEC = 30.0


@dataclass(frozen=True, slots=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    text: str


class Mailer(Protocol):
    def configured(self) -> bool:
        """Whether a message could be sent at all (a server and a sender are set)."""
        ...

    def send(self, mail: Mail) -> Future[None]:
        """Queue ``mail``; the future ends when the server took it (or with the error)."""
        ...

    def close(self) -> None:
        """Send what is queued, then stop (at shutdown; bounded by the SMTP timeouts)."""
        ...


class SmtpMailer:
    def __init__(self, settings: SettingsService, workers: int = 2) -> None:
        self._settings = settings
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleetdeck-mail")

    def configured(self) -> bool:
        return bool(self._settings.value(keys.HOST)) and bool(self._settings.value(keys.SENDER))

    def send(self, mail: Mail) -> Future[None]:
        return self._pool.submit(self._deliver, mail)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _deliver(self, mail: Mail) -> None:
        try:
            self._smtp(mail)
        except Exception as exc:
            # the recipients are named, never the content (it may hold a link with a token)
            log.warning("e-mail to %s not sent: %s", ", ".join(mail.to), exc)
            raise

    def _smtp(self, mail: Mail) -> None:
        host = str(self._settings.value(keys.HOST))
        sender = str(self._settings.value(keys.SENDER))
        if not host or not sender:
            raise Unavailable("no SMTP server or sender configured (smtp.host, smtp.sender)")
        port = int(self._settings.value(keys.PORT))
        tls = str(self._settings.value(keys.TLS))
        username = str(self._settings.value(keys.USERNAME))
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(mail.to)
        msg["Subject"] = mail.subject
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        msg.set_content(mail.text)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if tls == keys.TLS_IMPLICIT:
            smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SEC, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_SEC)
        with smtp:
            if tls == keys.TLS_STARTTLS:
                smtp.starttls(context=context)
            if username:
                smtp.login(username, str(self._settings.get_secret(keys.PASSWORD)))
            smtp.send_message(msg)
