"""Fixtures for the i-doit dialect: the real application on the test database, the API
switched on with a key, and a small client that speaks i-doit's envelope."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fleetdeck.api.dialects.idoit import settings as idoit_settings
from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests.integration.queries.test_list_query_counts import counting
from tests.live_server import LiveServer, running

PATH = "/src/jsonrpc.php"
API_KEY = "c1ef-4a1b-idoit-key"


class Idoit:
    """Posts i-doit requests with the API key."""

    def __init__(self, client: TestClient, api_key: str = API_KEY) -> None:
        self.client = client
        self.api_key = api_key
        self.headers: dict[str, str] = {}
        self._ids = itertools.count(1)

    def post(self, body: Any, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        h = {"Content-Type": "application/json", **self.headers, **(headers or {})}
        if "content" not in kwargs:
            kwargs["json"] = body
        return self.client.post(PATH, headers=h, **kwargs)

    def request(self, method: str, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "version": "2.0",
            "method": method,
            "params": {"apikey": self.api_key, **(params or {})},
            "id": next(self._ids),
            **extra,
        }

    def call(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        r = self.post(self.request(method, params), **kwargs)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["jsonrpc"] == "2.0"
        assert ("result" in body) != ("error" in body), body
        return dict(body)

    def ok(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        body = self.call(method, params, **kwargs)
        assert "result" in body, body
        return body["result"]

    def error(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        body = self.call(method, params, **kwargs)
        assert "error" in body, body
        err = dict(body["error"])
        assert isinstance(err["data"], dict) and err["data"]["error"], err
        return err


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def switch_on(runtime: Runtime, admin: Actor, key: str = API_KEY) -> None:
    runtime.services.settings.set(admin, idoit_settings.ENABLED_KEY, True)
    runtime.services.settings.set(admin, idoit_settings.API_KEY, key)


@pytest.fixture
def idoit(client: TestClient, runtime: Runtime, admin: Actor) -> Idoit:
    switch_on(runtime, admin)
    return Idoit(client)


@pytest.fixture
def live(settings: Settings, runtime: Runtime, admin: Actor) -> Iterator[LiveServer]:
    """A running fleetdeck server on loopback with the i-doit API on, for real clients."""
    switch_on(runtime, admin)
    with running(settings, runtime) as server:
        yield server


__all__ = ["API_KEY", "PATH", "Idoit", "counting", "switch_on"]
