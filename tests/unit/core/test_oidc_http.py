"""The OpenID Connect login's outbound HTTP stays bounded and on the issuer's origin
(core/users/oidc.py): a loopback HTTP server plays a misbehaving provider."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import Unavailable
from fleetdeck.core.users import oidc

DOCS: dict[str, tuple[int, bytes, dict[str, str]]] = {}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body, headers = DOCS.get(self.path, (404, b"{}", {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        DOCS.clear()


def _discovery(issuer: str, **endpoints: str) -> None:
    doc = {"issuer": issuer, "authorization_endpoint": issuer + "/auth", **endpoints}
    DOCS["/.well-known/openid-configuration"] = (200, json.dumps(doc).encode(), {})


def _configure(runtime: Runtime, admin: Actor, issuer: str) -> None:
    for key, value in (
        (oidc.ISSUER, issuer),
        (oidc.CLIENT_ID, "fleetdeck"),
        (oidc.REDIRECT_URL, "http://x/"),
    ):
        runtime.services.settings.set(admin, key, value)


def test_an_answer_larger_than_the_cap_is_refused(provider: str) -> None:
    DOCS["/big"] = (200, b"x" * (oidc.MAX_RESPONSE + 1), {})
    with pytest.raises(Unavailable, match="too large"):
        oidc.http_fetch(provider + "/big")
    DOCS["/fits"] = (200, b"x" * oidc.MAX_RESPONSE, {})
    assert oidc.http_fetch(provider + "/fits") == (200, b"x" * oidc.MAX_RESPONSE)


def test_redirects_are_not_followed(provider: str) -> None:
    DOCS["/moved"] = (302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
    assert oidc.http_fetch(provider + "/moved")[0] == 302


def test_only_http_urls_are_fetched() -> None:
    with pytest.raises(Unavailable, match="http"):
        oidc.http_fetch("file:///etc/passwd")


def test_endpoints_off_the_issuers_origin_are_refused(runtime: Runtime, admin: Actor, provider: str) -> None:
    _configure(runtime, admin, provider)
    _discovery(provider, authorization_endpoint="http://127.0.0.2:1/auth")
    with pytest.raises(Unavailable, match="origin"):
        runtime.services.oidc.begin("127.0.0.1")


def test_a_discovery_document_of_another_issuer_is_refused(
    runtime: Runtime, admin: Actor, provider: str
) -> None:
    _configure(runtime, admin, provider)
    _discovery("https://evil.example")
    with pytest.raises(Unavailable, match="another issuer"):
        runtime.services.oidc.begin("127.0.0.1")


def test_plain_http_issuers_only_on_loopback(runtime: Runtime, admin: Actor) -> None:
    _configure(runtime, admin, "http://login.example.org")
    with pytest.raises(Unavailable, match="https"):
        runtime.services.oidc.begin("127.0.0.1")


def test_pending_logins_are_bounded_and_expired_ones_deleted(
    runtime: Runtime, admin: Actor, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may begin a login: at most ``MAX_PENDING`` wait at once (expired ones do not count:
    the next begin deletes them)."""
    from sqlalchemy import func, select, update

    from fleetdeck.storage.tables import OidcLoginSecret
    from fleetdeck.storage.uow import UnitOfWork

    monkeypatch.setattr(oidc, "MAX_PENDING", 2)
    _configure(runtime, admin, provider)
    _discovery(provider)
    runtime.services.oidc.begin("127.0.0.1")
    runtime.services.oidc.begin("127.0.0.1")
    with pytest.raises(Unavailable, match="too many"):
        runtime.services.oidc.begin("127.0.0.1")
    with UnitOfWork(runtime.db) as uow:
        uow.session.execute(update(OidcLoginSecret).values(expires_at=OidcLoginSecret.created_at))
    runtime.services.oidc.begin("127.0.0.1")
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(OidcLoginSecret)) == 1
