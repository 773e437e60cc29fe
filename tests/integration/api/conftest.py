"""Fixtures for /api/v1: the real application (lifespan included) on the test database."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 and warns once, at import, when it falls back to httpx (which
    # pyproject's dev extra installs). filterwarnings=error would turn that into a failure.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings

API = "/api/v1"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "user-password-1"


class Api:
    """A TestClient that prefixes /api/v1 and carries one user's credentials."""

    def __init__(self, client: TestClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, API + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def login(client: TestClient, username: str, password: str) -> str:
    response = client.post(f"{API}/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["data"]["token"]
    assert isinstance(token, str)
    return token


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The error envelope, with the expected status and (optionally) code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["code"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def anon(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def admin_api(client: TestClient, admin: Actor) -> Api:
    return Api(client, bearer(login(client, "admin", ADMIN_PASSWORD)))


def make_user(runtime: Runtime, system: Actor, client: TestClient, username: str, role: Role) -> Api:
    runtime.services.users.create(system, username, PASSWORD, role)
    return Api(client, bearer(login(client, username, PASSWORD)))


@pytest.fixture
def operator_api(runtime: Runtime, system: Actor, client: TestClient) -> Api:
    return make_user(runtime, system, client, "olga", Role.OPERATOR)


@pytest.fixture
def viewer_api(runtime: Runtime, system: Actor, client: TestClient) -> Api:
    return make_user(runtime, system, client, "victor", Role.VIEWER)
