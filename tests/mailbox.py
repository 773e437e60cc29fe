"""A real local SMTP server (aiosmtpd) on 127.0.0.1 that receives what fleetdeck sends, and
fleetdeck's mail settings pointed at it; shared by the dialects that send e-mail."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.mail import settings as mail_settings
from fleetdeck.core.mail.mailer import SmtpMailer


class Inbox:
    """Messages the local SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(runtime: Runtime, admin: Actor) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1 (no TLS), and fleetdeck's mail settings pointing at it."""
    inbox = Inbox()
    # aiosmtpd's start() connects to its own port to check it is up, so it needs a real one
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        store = runtime.services.settings
        store.set(admin, mail_settings.HOST, "127.0.0.1")
        store.set(admin, mail_settings.PORT, port)
        store.set(admin, mail_settings.TLS, mail_settings.TLS_NONE)
        store.set(admin, mail_settings.SENDER, "fleetdeck@example.org")
        yield inbox
    finally:
        # mails still being sent finish (and say QUIT) before the server stops, so no
        # connection is cut and left to be collected in a later test
        mailer = runtime.services.mail
        if isinstance(mailer, SmtpMailer):
            mailer.close()
        controller.stop()
