"""Fixtures for the opsi dialect: the real application on the test database and a small client
that speaks opsi's JSON-RPC over ``/rpc`` (in-process, through the ASGI app)."""

from __future__ import annotations

import base64
import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings

PASSWORD = "user-password-1"


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


class Rpc:
    """Posts opsi JSON-RPC 2.0 requests (JSON, no compression) as one principal."""

    def __init__(self, client: TestClient, username: str, secret: str) -> None:
        self.client = client
        self.auth = basic(username, secret)
        self._ids = itertools.count(1)

    def post(self, body: Any, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        h = {"Content-Type": "application/json", "Authorization": self.auth, **(headers or {})}
        if "content" not in kwargs:
            kwargs["json"] = body
        return self.client.post(kwargs.pop("path", "/rpc"), headers=h, **kwargs)

    def request(self, method: str, *params: Any, named: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": named if named is not None else list(params),
        }

    def call(self, method: str, *params: Any, named: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.post(self.request(method, *params, named=named))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["jsonrpc"] == "2.0"
        return dict(body)

    def ok(self, method: str, *params: Any, named: dict[str, Any] | None = None) -> Any:
        body = self.call(method, *params, named=named)
        assert "error" not in body, body
        return body["result"]

    def error(self, method: str, *params: Any, named: dict[str, Any] | None = None) -> dict[str, Any]:
        """``(class, message)`` of an opsi 2.0 error; asserts code 0 as opsi sends it."""
        body = self.call(method, *params, named=named)
        assert "error" in body, body
        assert body["error"]["code"] == 0
        return {"class": body["error"]["data"]["class"], "message": body["error"]["message"]}


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def enroll(runtime: Runtime, admin: Actor, hostname: str) -> tuple[int, str]:
    """A computer enrolled as its agent would be: (computer id, agent key = opsi host key)."""
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname=hostname, machine_id="m", agent_version="1", source="127.0.0.1"
    )
    return creds.computer_id, creds.key


def token_of(runtime: Runtime, user: Actor, scope: str = "read+write") -> str:
    """A personal API token: Basic auth with it skips argon2, which keeps the suite fast."""
    return runtime.services.users.create_token(user, "opsi-tests", scope, None).token


@pytest.fixture
def rpc(client: TestClient, runtime: Runtime, admin: Actor) -> Rpc:
    return Rpc(client, "admin", token_of(runtime, admin))


@pytest.fixture
def viewer_rpc(client: TestClient, runtime: Runtime, system: Actor) -> Rpc:
    user = runtime.services.users.create(system, "victor", PASSWORD, Role.VIEWER)
    viewer = Actor(user_id=user.id, username=user.username, role=Role.VIEWER)
    return Rpc(client, "victor", token_of(runtime, viewer))
