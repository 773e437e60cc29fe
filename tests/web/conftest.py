"""Fixtures for the web UI: the real application through HTTP (TestClient), and for the browser
tests a real ``fleetdeck server`` process with a real agent (tests/e2e's fixtures) driven by
Debian's Chromium through Playwright."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.settings import Settings

# tests/e2e's real server and agent processes, for the browser tests
from tests.e2e.conftest import agent_factory, server, server_factory  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "web-password-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no form with a CSRF token on this page"
    return found.group(1)


def sse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    """A whole server-sent event stream as (event, data) pairs (comments left out)."""
    found = []
    for block in text.strip().split("\n\n"):
        if block.startswith(":"):
            continue  # a comment (the deployment stream's heartbeat)
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form, as a browser does; returns the session's CSRF token."""
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/computers").text)


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Starlette:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def browser_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: `apt-get install chromium` as root (make test does where it can)"
        )
    return CHROMIUM


def user_actor(runtime: Runtime, name: str, role: Role) -> Actor:
    """A user with ``PASSWORD`` and the actor core sees for it (the UI tests log in as them)."""
    info = runtime.services.users.create(system_actor("test"), name, PASSWORD, role)
    return Actor(user_id=info.id, username=name, role=role, source="127.0.0.1", via="test")


@pytest.fixture
def alice(runtime: Runtime) -> Actor:
    return user_actor(runtime, "alice", Role.OPERATOR)


@pytest.fixture
def victor(runtime: Runtime) -> Actor:
    return user_actor(runtime, "victor", Role.VIEWER)
