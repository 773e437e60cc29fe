"""X-Forwarded-For is believed only from the proxies an admin names (``trusted_proxies``): from
anyone else, even 127.0.0.1, it cannot change the address that the login throttle counts and
the audit log records."""

from __future__ import annotations

import httpx

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.settings import Settings
from tests.live_server import running


def failed_login_sources(runtime: Runtime, admin: Actor) -> list[str]:
    query = Query(where=(Cond("action", Op.EQ, "auth.login"), Cond("result", Op.EQ, "failed")), limit=None)
    return [e.source for e in runtime.services.audit.find(admin, query).items]


def bad_login(url: str) -> None:
    r = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"username": "admin", "password": "wrong-password"},
        headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=30,
    )
    assert r.status_code == 401


def test_forwarded_headers_from_an_unnamed_peer_are_ignored(
    settings: Settings, runtime: Runtime, admin: Actor
) -> None:
    with running(settings, runtime) as live:
        bad_login(live.url)
    assert failed_login_sources(runtime, admin) == ["127.0.0.1"]


def test_forwarded_headers_from_a_trusted_proxy_are_believed(
    settings: Settings, runtime: Runtime, admin: Actor
) -> None:
    with running(settings, runtime, trusted_proxies=["127.0.0.1"]) as live:
        bad_login(live.url)
    assert failed_login_sources(runtime, admin) == ["203.0.113.9"]
