"""Fixtures for the RemotePC dialect: the real application on the test database, the API
switched on with a key, a client that speaks RemotePC's envelope, and a real local SMTP server
(aiosmtpd) that receives what fleetdeck sends."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fleetdeck.api.dialects.remotepc import settings as rpc_settings
from fleetdeck.api.dialects.remotepc.registry import BASE
from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests.mailbox import Inbox, smtp

__all__ = ["Inbox", "smtp"]  # the local SMTP server, shared with other dialects (tests/mailbox.py)

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
