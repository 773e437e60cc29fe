"""Fixtures for the OCO dialect: the real application on the test database, the API switched
on, and a small client that speaks OCO's envelope."""

from __future__ import annotations

import base64
import itertools
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.api.dialects.oco import settings as oco_settings
from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings
from tests.dialects.oco.oco_agent import REGISTRATION_KEY, OcoAgent
from tests.live_server import LiveServer, running

PATH = "/api-client.php"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "user-password-1"
API_KEY = "🌈💜👆🚧🛸💩"


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


class OcoSwitch:
    """Turns the API on/off and sets the API key through core's settings store."""

    def __init__(self, runtime: Runtime, admin: Actor) -> None:
        self.store = runtime.services.settings
        self.admin = admin

    def enable(self, on: bool = True) -> None:
        self.store.set(self.admin, oco_settings.ENABLED_KEY, on)

    def api_key(self, key: str) -> None:
        self.store.set(self.admin, oco_settings.API_KEY, key)


class Oco:
    """Posts OCO requests as one user."""

    def __init__(self, client: TestClient, username: str, secret: str, api_key: str | None = API_KEY) -> None:
        self.client = client
        self.auth = basic(username, secret)
        self.api_key = api_key
        self._ids = itertools.count(1)

    def post(self, body: Any, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        h = {"Content-Type": "application/json", "Authorization": self.auth, **(headers or {})}
        if "content" not in kwargs:
            kwargs["json"] = body
        return self.client.post(kwargs.pop("path", PATH), headers=h, **kwargs)

    def request(self, method: str, data: Any = None, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"api_key": self.api_key}
        if data is not None:
            params["data"] = data
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params, **extra}

    def call(self, method: str, data: Any = None, *, lang: str | None = None) -> dict[str, Any]:
        """The response object; asserts HTTP 200 and the JSON-RPC shape."""
        headers = {"Accept-Language": lang} if lang else {}
        r = self.post(self.request(method, data), headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert body["jsonrpc"] == "2.0"
        assert ("result" in body) != ("error" in body), body
        return dict(body)

    def ok(self, method: str, data: Any = None) -> Any:
        body = self.call(method, data)
        assert "result" in body, body
        assert body["result"]["success"] is True
        return body["result"]["data"]

    def error(self, method: str, data: Any = None, *, lang: str | None = None) -> dict[str, Any]:
        body = self.call(method, data, lang=lang)
        assert "error" in body, body
        assert body["error"]["data"] is None
        return dict(body["error"])


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def switch(runtime: Runtime, admin: Actor) -> OcoSwitch:
    return OcoSwitch(runtime, admin)


def token_of(runtime: Runtime, user: Actor) -> str:
    """A personal API token: Basic auth with it skips argon2, which keeps the suite fast."""
    return runtime.services.users.create_token(user, "oco-tests", "read+write", None).token


@pytest.fixture
def oco(client: TestClient, switch: OcoSwitch, runtime: Runtime, admin: Actor) -> Oco:
    """The admin (authenticated with an API token), with the API on and an API key set."""
    switch.enable()
    switch.api_key(API_KEY)
    return Oco(client, "admin", token_of(runtime, admin))


@pytest.fixture
def viewer_oco(client: TestClient, oco: Oco, runtime: Runtime, system: Actor) -> Oco:
    user = runtime.services.users.create(system, "victor", PASSWORD, Role.VIEWER)
    viewer = Actor(user_id=user.id, username=user.username, role=Role.VIEWER)
    return Oco(client, "victor", token_of(runtime, viewer))


# ---------------------------------------------------------------- OCO agents (/api-agent.php)


@pytest.fixture
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with running(settings, runtime) as server:
        yield server


@pytest.fixture
def token(runtime: Runtime, admin: Actor) -> str:
    return runtime.services.users.create_token(admin, "oco-agent-tests", "read+write", None).token


@pytest.fixture
def v1(live: LiveServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{live.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture
def registration(runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, oco_settings.AGENT_REGISTRATION_ENABLED_KEY, True)
    runtime.services.settings.set(admin, oco_settings.AGENT_REGISTRATION_KEY, REGISTRATION_KEY)


@pytest.fixture
def agent(live: LiveServer, registration: None, tmp_path: Path) -> OcoAgent:
    """A registered OCO agent (its first hello done)."""
    a = OcoAgent(live.url, "oco-pc1", REGISTRATION_KEY, workdir=tmp_path / "agent")
    a.hello()
    return a
