"""Fixtures for the rport dialect: the real application on the test database and a client that
speaks rportd's API at /rport/api/v1 (Basic, then the bearer token of a login)."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings

API = "/rport/api/v1"
ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "a-long-user-password-1"  # rportd's 14 characters at least


def basic(username: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login(client: TestClient, username: str, password: str, **params: object) -> str:
    r = client.get(f"{API}/login", headers=basic(username, password), params=params)
    assert r.status_code == 200, r.text
    token: str = r.json()["data"]["token"]
    return token


@pytest.fixture
def admin_token(client: TestClient, admin: Actor) -> str:
    """A bearer token of the admin's login."""
    return login(client, "admin", ADMIN_PASSWORD)


@pytest.fixture
def as_admin(admin_token: str) -> dict[str, str]:
    return bearer(admin_token)


def user(client: Any, as_admin: dict[str, str], name: str, groups: list[str]) -> dict[str, str]:
    """A new user in ``groups``, logged in: its bearer headers."""
    r = client.post(
        f"{API}/users", headers=as_admin, json={"username": name, "password": PASSWORD, "groups": groups}
    )
    assert r.status_code == 201, r.text
    return bearer(login(client, name, PASSWORD))
