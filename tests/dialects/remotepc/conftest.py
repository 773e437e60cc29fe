"""Fixtures for the RemotePC dialect: the real application on the test database, the API
switched on with a key, a client that speaks RemotePC's envelope, and a real local SMTP server
(aiosmtpd) that receives what fleetdeck sends."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fleetdeck.api.dialects.remotepc import settings as rpc_settings
from fleetdeck.api.dialects.remotepc.registry import BASE
from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor
from fleetdeck.core.mail import settings as mail_settings
from fleetdeck.core.mail.mailer import SmtpMailer
from fleetdeck.settings import Settings

API_KEY = "rpc-test-key-0123456789abcdef"


class RemotePc:
    """Calls the RemotePC API with the account key."""

    def __init__(self, client: TestClient, key: str | None = API_KEY) -> None:
        self.client = client
        self.key = key

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.key is not None:
            h["Authorization"] = f"Bearer {self.key}"
        return h

    def post(self, path: str, body: Any = None, *, content: str | bytes | None = None) -> httpx.Response:
        if content is not None:
            return self.client.post(BASE + path, content=content, headers=self.headers())
        return self.client.post(BASE + path, json=body if body is not None else {}, headers=self.headers())

    def get(self, path: str, params: dict[str, Any] | None = None, body: Any = None) -> httpx.Response:
        if body is not None:
            return self.client.request("GET", BASE + path, json=body, headers=self.headers())
        return self.client.get(BASE + path, params=params, headers=self.headers())

    def ok(self, r: httpx.Response) -> Any:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "OK"
        assert body["code"] == 200
        return body["message"]

    def error(self, r: httpx.Response, status: int = 400) -> list[str]:
        """The descriptions of an error answer; checks the envelope."""
        assert r.status_code == status, r.text
        body = r.json()
        assert body["code"] == status
        assert body["errorsCount"] == len(body["errors"])
        assert set(body) == {"status", "code", "errorsCount", "errors"}
        return [err["description"] for err in body["errors"]]


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def rpc(client: TestClient, runtime: Runtime, admin: Actor) -> RemotePc:
    store = runtime.services.settings
    store.set(admin, rpc_settings.ENABLED_KEY, True)
    store.set(admin, rpc_settings.API_KEY, API_KEY)
    return RemotePc(client)


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
