"""OpenID Connect login (``core.users.oidc``) called directly: the code flow (state, nonce, PKCE,
single use, expiry), the ID token's checks, userinfo, the required group, users found, created,
unknown or disabled, the device flow, the provider's errors and timeouts, and the audit row of
each outcome, with refusals word for word.

The provider is an external system: a small real one (tests/oidc_provider.py) runs on 127.0.0.1
in a thread (discovery, JWKS, authorize by a test call, token, userinfo and device endpoints),
signs ID tokens with keys made there and here, checks the client's authentication and the PKCE
verifier as a provider does, and records every request it gets. Core reaches it through its real
``http_fetch``."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import AuthenticationFailed, PermissionDenied, Unavailable
from fleetdeck.core.secrets import SecretBox
from fleetdeck.core.services import Services
from fleetdeck.core.users import oidc
from fleetdeck.core.users.oidc import DevicePending, DeviceStart
from fleetdeck.storage.tables import OidcLoginSecret, User, WebSession
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.oidc_provider import AUTHORIZE_PARAMETERS, CLIENT, REDIRECT, RSA_KEY, Provider, b64url, jwk, serve
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
SOURCE = "198.51.100.7"
VIA = "rport"
BOX = SecretBox(SECRET)

OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def provider() -> Iterator[Provider]:
    with serve() as p:
        yield p


@pytest.fixture
def configured(svc: Services, provider: Provider) -> Provider:
    """Core's oidc.* settings pointing at the provider (a public client)."""
    svc.settings.set(ADMIN, oidc.ISSUER, provider.issuer)
    svc.settings.set(ADMIN, oidc.CLIENT_ID, CLIENT)
    svc.settings.set(ADMIN, oidc.REDIRECT_URL, REDIRECT)
    return provider


def _audit(svc: Services, mark: int) -> list[tuple[Any, ...]]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.user_id, r.username, r.source, r.via, r.detail)
        for r in factories.audit_since(svc, mark)
    ]


def _failed(reason: str, username: str = "(oauth)", **detail: Any) -> tuple[Any, ...]:
    return (
        "auth.login",
        "oidc",
        "",
        "failed",
        None,
        username,
        SOURCE,
        VIA,
        {"reason": reason, "method": "oidc", **detail},
    )


def _pending(runtime: Runtime) -> int:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(OidcLoginSecret)) or 0


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def _login(svc: Services, p: Provider, **claims: Any) -> tuple[Actor, Any]:
    start = svc.oidc.begin(SOURCE)
    code = p.authorize(start.authorize_url, **claims)
    return svc.oidc.complete(code, start.state, SOURCE, VIA)


def _refused(exc: pytest.ExceptionInfo[AuthenticationFailed], text: str) -> None:
    assert exc.value.message == text


# ------------------------------------------------------------------ configuration


def test_enabled_needs_both_the_issuer_and_the_client_id(svc: Services) -> None:
    assert svc.oidc.enabled() is False
    svc.settings.set(ADMIN, oidc.ISSUER, "https://login.example")
    assert svc.oidc.enabled() is False
    svc.settings.set(ADMIN, oidc.CLIENT_ID, CLIENT)
    assert svc.oidc.enabled() is True
    svc.settings.set(ADMIN, oidc.ISSUER, "")
    assert svc.oidc.enabled() is False


def test_the_label_defaults_to_oidc(svc: Services) -> None:
    assert svc.oidc.label == "oidc"
    svc.settings.set(ADMIN, oidc.LABEL, "Corp SSO")
    assert svc.oidc.label == "Corp SSO"
    svc.settings.set(ADMIN, oidc.LABEL, "")
    assert svc.oidc.label == "oidc"


@pytest.mark.parametrize("missing", [oidc.ISSUER, oidc.CLIENT_ID])
def test_nothing_is_begun_nor_completed_unconfigured(
    svc: Services, runtime: Runtime, configured: Provider, missing: str
) -> None:
    svc.settings.set(ADMIN, missing, "")
    mark = factories.audit_mark(svc)
    for call in (
        lambda: svc.oidc.begin(SOURCE),
        lambda: svc.oidc.complete("c", "s", SOURCE, VIA),
        svc.oidc.begin_device,
        lambda: svc.oidc.complete_device("d", SOURCE, VIA),
    ):
        with pytest.raises(PermissionDenied) as exc:
            call()
        assert exc.value.message == "OAuth login is not configured"
    assert configured.seen == []
    assert _audit(svc, mark) == []
    assert _pending(runtime) == 0


@pytest.mark.parametrize(
    "issuer",
    ["http://login.example.org", "ftp://127.0.0.1", "http://127.0.0.2:9", "HTTP://localhost.example"],
)
def test_an_issuer_must_be_https_or_loopback_http(svc: Services, issuer: str) -> None:
    svc.settings.set(ADMIN, oidc.ISSUER, issuer)
    svc.settings.set(ADMIN, oidc.CLIENT_ID, CLIENT)
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message == "oidc.issuer must be an https URL (plain http only on the loopback address)"


@pytest.mark.parametrize("issuer", ["https://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"])
def test_https_and_loopback_issuers_are_contacted(svc: Services, issuer: str) -> None:
    svc.settings.set(ADMIN, oidc.ISSUER, issuer)
    svc.settings.set(ADMIN, oidc.CLIENT_ID, CLIENT)
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message.startswith("the OAuth provider cannot be reached: ")


def test_the_issuers_trailing_slash_is_ignored(svc: Services, configured: Provider) -> None:
    svc.settings.set(ADMIN, oidc.ISSUER, configured.issuer + "/")
    configured.discovery["issuer"] = configured.issuer + "/"
    start = svc.oidc.begin(SOURCE)
    assert start.authorize_url.startswith(configured.issuer + "/auth?")
    assert configured.paths() == ["/.well-known/openid-configuration"]


# ------------------------------------------------------------------ the provider's documents


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ((500, b"{}"), "the OAuth provider's discovery document answered HTTP 500"),
        ((404, b"not found"), "the OAuth provider's discovery document answered HTTP 404"),
        ((200, b"<html>"), "the OAuth provider's discovery document answer is not a JSON object (HTTP 200)"),
        ((200, b"[1, 2]"), "the OAuth provider's discovery document answer is not a JSON object (HTTP 200)"),
        (
            (200, b'{"issuer": "https://evil.example"}'),
            "the OAuth provider's discovery document names another issuer",
        ),
        ((200, b"{}"), "the OAuth provider's discovery document names another issuer"),
    ],
)
def test_a_bad_discovery_document_is_refused(
    svc: Services, runtime: Runtime, configured: Provider, answer: tuple[int, bytes], text: str
) -> None:
    configured.fixed["/.well-known/openid-configuration"] = answer
    mark = factories.audit_mark(svc)
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message == text
    assert _pending(runtime) == 0
    assert _audit(svc, mark) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "the OAuth provider has no authorization_endpoint"),
        ("", "the OAuth provider has no authorization_endpoint"),
        (7, "the OAuth provider has no authorization_endpoint"),
        (
            "http://127.0.0.2/auth",
            "the OAuth provider's authorization_endpoint is not on the issuer's origin",
        ),
        ("https://{host}/auth", "the OAuth provider's authorization_endpoint is not on the issuer's origin"),
        ("http://{host}0/auth", "the OAuth provider's authorization_endpoint is not on the issuer's origin"),
    ],
)
def test_the_authorization_endpoint_must_be_on_the_issuers_origin(
    svc: Services, configured: Provider, value: object, text: str
) -> None:
    host = urllib.parse.urlsplit(configured.issuer).netloc
    configured.discovery["authorization_endpoint"] = (
        value.format(host=host) if isinstance(value, str) else value
    )
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message == text


def test_an_endpoint_in_other_letter_case_is_on_the_origin(svc: Services, configured: Provider) -> None:
    configured.discovery["authorization_endpoint"] = configured.issuer.upper() + "/auth?tenant=a"
    start = svc.oidc.begin(SOURCE)
    assert start.authorize_url.startswith(configured.issuer.upper() + "/auth?tenant=a&response_type=code&")


def test_the_discovery_document_is_cached_for_cache_sec(
    svc: Services, configured: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(oidc, "time", SimpleNamespace(monotonic=lambda: now[0]))
    svc.oidc.begin(SOURCE)
    now[0] += oidc.CACHE_SEC - 0.5
    svc.oidc.begin(SOURCE)
    assert configured.paths() == ["/.well-known/openid-configuration"]
    now[0] += 0.5  # CACHE_SEC after the first fetch: stale
    svc.oidc.begin(SOURCE)
    assert configured.paths() == ["/.well-known/openid-configuration"] * 2
    now[0] += oidc.CACHE_SEC - 1
    svc.oidc.begin(SOURCE)
    assert len(configured.seen) == 2


def test_a_slow_provider_times_out(
    svc: Services, configured: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc, "TIMEOUT_SEC", 0.3)
    configured.delay["/.well-known/openid-configuration"] = 1.5
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)  # without the timeout, the answer would come after 1.5 s
    assert exc.value.message == "the OAuth provider cannot be reached: timed out"


@pytest.mark.parametrize("status", [200, 400])
def test_an_answer_over_the_size_cap_is_unavailable(svc: Services, configured: Provider, status: int) -> None:
    configured.fixed["/.well-known/openid-configuration"] = (status, b" " * (oidc.MAX_RESPONSE + 1))
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message == "the OAuth provider's answer is too large"
    doc = json.dumps(configured.discovery).encode()
    configured.fixed["/.well-known/openid-configuration"] = (200, doc + b" " * (oidc.MAX_RESPONSE - len(doc)))
    assert svc.oidc.begin(SOURCE).authorize_url.startswith(configured.issuer + "/auth?")


@pytest.mark.parametrize("status", [200, 400])
def test_a_long_answer_is_read_no_further_than_the_cap(
    svc: Services, configured: Provider, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """One byte over the cap is enough to refuse: the rest (here slow to come) is not awaited."""
    monkeypatch.setattr(oidc, "TIMEOUT_SEC", 1.0)
    configured.stall["/.well-known/openid-configuration"] = (status, oidc.MAX_RESPONSE + 1)
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message == "the OAuth provider's answer is too large"


# ------------------------------------------------------------------ begin


def test_begin_stores_the_attempt_and_asks_for_code_pkce_state_and_nonce(
    svc: Services, runtime: Runtime, configured: Provider
) -> None:
    mark = factories.audit_mark(svc)
    start = svc.oidc.begin(SOURCE)
    base, _, _ = start.authorize_url.partition("?")
    assert base == configured.issuer + "/auth"
    q = _query(start.authorize_url)
    assert list(q) == list(AUTHORIZE_PARAMETERS)
    assert (q["response_type"], q["client_id"], q["redirect_uri"]) == ("code", CLIENT, REDIRECT)
    assert q["scope"] == "openid profile email"
    assert q["code_challenge_method"] == "S256"
    assert q["state"] == start.state and len(start.state) == 43
    assert len(q["nonce"]) == 43 and q["nonce"] != start.state
    assert start.expires_at == T0 + timedelta(seconds=600)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.scalars(select(OidcLoginSecret)).one()
        assert row.state_hash == BOX.keyed_hash(start.state)
        assert row.nonce_hash == BOX.keyed_hash(q["nonce"])
        verifier = BOX.decrypt(row.verifier_enc)
        assert verifier not in row.verifier_enc and len(verifier) == 64
        assert b64url(hashlib.sha256(verifier.encode()).digest()) == q["code_challenge"]
        assert (row.created_at.replace(tzinfo=None), row.expires_at.replace(tzinfo=None)) == (
            T0.replace(tzinfo=None),
            (T0 + timedelta(seconds=600)).replace(tzinfo=None),
        )
        row_id = row.id
    assert _audit(svc, mark) == [
        ("auth.oidc_begin", "oidc_login", str(row_id), "ok", None, "(oauth)", SOURCE, "", {})
    ]
    second = svc.oidc.begin(SOURCE)
    assert second.state != start.state
    assert _query(second.authorize_url)["nonce"] != q["nonce"]


def test_scopes_and_state_ttl_come_from_the_settings(svc: Services, configured: Provider) -> None:
    svc.settings.set(ADMIN, oidc.SCOPES, ["email", "groups"])
    svc.settings.set(ADMIN, oidc.STATE_TTL, 30)
    start = svc.oidc.begin(SOURCE)
    assert _query(start.authorize_url)["scope"] == "openid email groups"
    assert start.expires_at == T0 + timedelta(seconds=30)
    svc.settings.set(ADMIN, oidc.SCOPES, ["email", "openid"])
    assert _query(svc.oidc.begin(SOURCE).authorize_url)["scope"] == "email openid"


def test_expired_attempts_are_deleted_by_the_next_begin(
    svc: Services, runtime: Runtime, clock: ManualClock, configured: Provider
) -> None:
    svc.oidc.begin(SOURCE)
    clock.now = T0 + timedelta(seconds=600) - timedelta(microseconds=1)
    svc.oidc.begin(SOURCE)
    assert _pending(runtime) == 2  # the first is not expired yet
    clock.now = T0 + timedelta(seconds=600)
    svc.oidc.begin(SOURCE)
    assert _pending(runtime) == 2  # the first expired at that instant and was deleted


def test_pending_attempts_are_bounded(
    svc: Services, runtime: Runtime, configured: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc, "MAX_PENDING", 2)
    svc.oidc.begin(SOURCE)
    svc.oidc.begin(SOURCE)
    mark = factories.audit_mark(svc)
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin(SOURCE)
    assert exc.value.message == "too many OAuth logins under way; try again later"
    assert _pending(runtime) == 2
    assert [(a[0], a[3], a[8]) for a in _audit(svc, mark)] == [
        ("auth.oidc_begin", "failed", {"error": "too many OAuth logins under way; try again later"})
    ]


def test_the_first_attempt_fits_under_a_bound_of_one(
    svc: Services, runtime: Runtime, configured: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc, "MAX_PENDING", 1)
    svc.oidc.begin(SOURCE)
    with pytest.raises(Unavailable):
        svc.oidc.begin(SOURCE)
    assert _pending(runtime) == 1


# ------------------------------------------------------------------ complete


def test_the_code_flow_logs_an_existing_user_in(
    svc: Services, runtime: Runtime, clock: ManualClock, configured: Provider
) -> None:
    alice = factories.user(svc, Role.OPERATOR, "alice")
    start = svc.oidc.begin(SOURCE)
    code = configured.authorize(start.authorize_url, preferred_username="alice", groups=["x"])
    clock.now = T0 + timedelta(seconds=5)
    mark = factories.audit_mark(svc)
    actor, started = svc.oidc.complete(
        code, start.state, SOURCE, VIA, lifetime_sec=120, renew_sec=60, user_agent="rport-cli/1"
    )
    assert (actor.user_id, actor.username, actor.role, actor.source, actor.via) == (
        alice.user_id,
        "alice",
        Role.OPERATOR,
        SOURCE,
        VIA,
    )
    info = started.info
    assert (info.user_id, info.source, info.via, info.user_agent, info.method) == (
        alice.user_id,
        SOURCE,
        VIA,
        "rport-cli/1",
        "password",
    )
    assert info.expires_at == T0 + timedelta(seconds=125)
    assert svc.sessions.resume(started.secret, SOURCE, VIA) is not None
    assert _audit(svc, mark) == [
        (
            "auth.login",
            "user",
            str(alice.user_id),
            "ok",
            alice.user_id,
            "alice",
            SOURCE,
            VIA,
            {"method": "oidc", "subject": "sub-1"},
        )
    ]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        session_row = uow.session.scalars(select(WebSession)).one()
        assert session_row.renew_sec == 60
        user = uow.session.get(User, alice.user_id)
        assert user is not None and user.last_login_at is not None
        assert user.last_login_at.replace(tzinfo=None) == (T0 + timedelta(seconds=5)).replace(tzinfo=None)
    assert _pending(runtime) == 0
    token = [s for s in configured.seen if s.path == "/token"]
    assert len(token) == 1
    assert set(token[0].form) == {"grant_type", "code", "redirect_uri", "code_verifier", "client_id"}
    assert (token[0].form["grant_type"], token[0].form["code"], token[0].form["redirect_uri"]) == (
        "authorization_code",
        code,
        REDIRECT,
    )
    assert "authorization" not in token[0].headers
    assert "/userinfo" not in configured.paths()  # the ID token named the user and the groups


def test_a_confidential_client_authenticates_by_http_basic(svc: Services, configured: Provider) -> None:
    secret = "s3cr/et:+ %"
    svc.settings.set(ADMIN, oidc.CLIENT_SECRET, secret)
    configured.client_secret = secret
    factories.user(svc, Role.VIEWER, "bob")
    actor, _ = _login(svc, configured, preferred_username="bob", groups=[])
    assert actor.username == "bob"
    token = next(s for s in configured.seen if s.path == "/token")
    assert "client_id" not in token.form
    assert (
        token.headers["authorization"]
        == "Basic " + base64.b64encode(b"fleetdeck:s3cr%2Fet%3A%2B%20%25").decode()
    )


def test_the_client_id_and_secret_are_quoted_in_basic(svc: Services, configured: Provider) -> None:
    configured.client, configured.client_secret = "fleet/deck:1", "pw"
    svc.settings.set(ADMIN, oidc.CLIENT_ID, "fleet/deck:1")
    svc.settings.set(ADMIN, oidc.CLIENT_SECRET, "pw")
    factories.user(svc, Role.VIEWER, "bob")
    assert _login(svc, configured, preferred_username="bob", groups=[])[0].username == "bob"
    token = next(s for s in configured.seen if s.path == "/token")
    assert token.headers["authorization"] == "Basic " + base64.b64encode(b"fleet%2Fdeck%3A1:pw").decode()


def test_requests_ask_for_json_and_post_only_forms(svc: Services, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "bob")
    _login(svc, configured, userinfo={"sub": "sub-1", "preferred_username": "bob"}, groups=[])
    assert [(s.method, s.path) for s in configured.seen] == [
        ("GET", "/.well-known/openid-configuration"),
        ("POST", "/token"),
        ("GET", "/jwks"),
        ("GET", "/userinfo"),
    ]
    assert {s.headers["accept"] for s in configured.seen} == {"application/json"}
    assert [s.form == {} for s in configured.seen] == [True, False, True, True]


def test_one_state_completes_once_when_raced(svc: Services, runtime: Runtime, configured: Provider) -> None:
    """Two completions of one attempt at once (two codes the provider would both accept): one
    session, the other refused as a used state."""
    factories.user(svc, Role.VIEWER, "bob")
    start = svc.oidc.begin(SOURCE)
    codes = [configured.authorize(start.authorize_url, preferred_username="bob", groups=[]) for _ in range(2)]
    results = factories.race(2, lambda i: svc.oidc.complete(codes[i], start.state, SOURCE, VIA))
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], AuthenticationFailed)
    assert refused[0].message == "invalid or already used state"
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(WebSession)) == 1


def test_a_session_with_the_configured_lifetime_when_none_is_asked(
    svc: Services, configured: Provider
) -> None:
    factories.user(svc, Role.VIEWER, "bob")
    _, started = _login(svc, configured, preferred_username="bob", groups=[])
    assert started.info.expires_at == T0 + svc.sessions.lifetime
    assert started.info.user_agent == ""


@pytest.mark.parametrize(("code", "state"), [("", "s"), ("c", ""), ("c" * 2049, "s"), ("c", "s" * 2049)])
def test_code_and_state_are_required_and_bounded(
    svc: Services, runtime: Runtime, configured: Provider, code: str, state: str
) -> None:
    svc.oidc.begin(SOURCE)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, state, SOURCE, VIA)
    _refused(exc, "code and state are required")
    assert _audit(svc, mark) == [_failed("bad_request")]
    assert _pending(runtime) == 1
    assert "/token" not in configured.paths()


def test_a_refused_overlong_code_leaves_the_attempt_usable(svc: Services, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "bob")
    start = svc.oidc.begin(SOURCE)
    with pytest.raises(AuthenticationFailed):
        svc.oidc.complete("c" * 2049, start.state, SOURCE, VIA)
    code = configured.authorize(start.authorize_url, preferred_username="bob", groups=[])
    assert svc.oidc.complete(code, start.state, SOURCE, VIA)[0].username == "bob"


def test_the_longest_code_and_state_are_taken(svc: Services, runtime: Runtime, configured: Provider) -> None:
    start = svc.oidc.begin(SOURCE)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete("c" * 2048, start.state, SOURCE, VIA)
    _refused(exc, "the OAuth provider refused the code")
    assert _audit(svc, mark) == [_failed("code_refused", provider_error="invalid_grant")]
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete("c", "s" * 2048, SOURCE, VIA)
    _refused(exc, "invalid or already used state")


def test_an_unknown_state_is_refused(svc: Services, runtime: Runtime, configured: Provider) -> None:
    start = svc.oidc.begin(SOURCE)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete("code", start.state + "x", SOURCE, VIA)
    _refused(exc, "invalid or already used state")
    assert _audit(svc, mark) == [_failed("unknown_state")]
    assert _pending(runtime) == 1
    assert "/token" not in configured.paths()


def test_a_state_is_used_once(svc: Services, runtime: Runtime, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "bob")
    start = svc.oidc.begin(SOURCE)
    code = configured.authorize(start.authorize_url, preferred_username="bob", groups=[])
    svc.oidc.complete(code, start.state, SOURCE, VIA)
    mark = factories.audit_mark(svc)
    token_calls = configured.paths().count("/token")
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, start.state, SOURCE, VIA)
    _refused(exc, "invalid or already used state")
    assert _audit(svc, mark) == [_failed("unknown_state")]
    assert configured.paths().count("/token") == token_calls


def test_a_refused_login_still_uses_up_its_state(
    svc: Services, runtime: Runtime, configured: Provider
) -> None:
    start = svc.oidc.begin(SOURCE)
    with pytest.raises(AuthenticationFailed):
        svc.oidc.complete("wrong-code", start.state, SOURCE, VIA)
    assert _pending(runtime) == 0
    code = configured.authorize(start.authorize_url, preferred_username="bob", groups=[])
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, start.state, SOURCE, VIA)
    _refused(exc, "invalid or already used state")


def test_an_attempt_expires_at_its_end(
    svc: Services, runtime: Runtime, clock: ManualClock, configured: Provider
) -> None:
    factories.user(svc, Role.VIEWER, "bob")
    early = svc.oidc.begin(SOURCE)
    late = svc.oidc.begin(SOURCE)
    clock.now = early.expires_at - timedelta(microseconds=1)
    code = configured.authorize(early.authorize_url, preferred_username="bob", groups=[])
    assert svc.oidc.complete(code, early.state, SOURCE, VIA)[0].username == "bob"
    clock.now = late.expires_at
    code = configured.authorize(late.authorize_url, preferred_username="bob", groups=[])
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, late.state, SOURCE, VIA)
    _refused(exc, "the login attempt has expired")
    assert _audit(svc, mark) == [_failed("expired_state")]
    assert _pending(runtime) == 0
    assert configured.paths().count("/token") == 1


@pytest.mark.parametrize(
    ("answer", "provider_error"),
    [
        ((400, b'{"error": "invalid_grant"}'), "invalid_grant"),
        ((200, b'{"access_token": "x"}'), "200"),
        ((403, b"{}"), "403"),
        ((400, json.dumps({"error": "e" * 150}).encode()), "e" * 100),
    ],
)
def test_a_refused_code_is_audited_with_the_providers_error(
    svc: Services, configured: Provider, answer: tuple[int, bytes], provider_error: str
) -> None:
    start = svc.oidc.begin(SOURCE)
    configured.fixed["/token"] = answer
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete("code", start.state, SOURCE, VIA)
    _refused(exc, "the OAuth provider refused the code")
    assert _audit(svc, mark) == [_failed("code_refused", provider_error=provider_error)]


def test_a_token_answer_that_is_not_json_is_unavailable(
    svc: Services, runtime: Runtime, configured: Provider
) -> None:
    start = svc.oidc.begin(SOURCE)
    configured.fixed["/token"] = (502, b"Bad Gateway")
    mark = factories.audit_mark(svc)
    with pytest.raises(Unavailable) as exc:
        svc.oidc.complete("code", start.state, SOURCE, VIA)
    text = "the OAuth provider's token answer is not a JSON object (HTTP 502)"
    assert exc.value.message == text
    assert _pending(runtime) == 0  # the attempt is used up all the same, and its end audited
    assert _audit(svc, mark) == [_failed("provider_unavailable", error=text)]


def test_a_device_poll_the_provider_breaks_is_audited(svc: Services, configured: Provider) -> None:
    configured.fixed["/token"] = (502, b"Bad Gateway")
    mark = factories.audit_mark(svc)
    with pytest.raises(Unavailable):
        svc.oidc.complete_device("device-code", SOURCE, VIA)
    text = "the OAuth provider's token answer is not a JSON object (HTTP 502)"
    assert _audit(svc, mark) == [_failed("provider_unavailable", error=text)]


def test_the_pkce_verifier_is_the_attempts_own(svc: Services, configured: Provider) -> None:
    """A code issued to one attempt, presented with another attempt's state: the provider finds
    the verifier wrong and refuses."""
    first = svc.oidc.begin(SOURCE)
    second = svc.oidc.begin(SOURCE)
    code = configured.authorize(first.authorize_url, preferred_username="bob", groups=[])
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, second.state, SOURCE, VIA)
    _refused(exc, "the OAuth provider refused the code")
    assert _audit(svc, mark) == [_failed("code_refused", provider_error="invalid_grant")]


def test_an_id_token_of_another_attempt_fails_on_the_nonce(svc: Services, configured: Provider) -> None:
    first = svc.oidc.begin(SOURCE)
    second = svc.oidc.begin(SOURCE)
    code = configured.authorize(second.authorize_url, preferred_username="bob", groups=[])
    configured.grants[code].nonce = _query(first.authorize_url)["nonce"]
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, second.state, SOURCE, VIA)
    _refused(exc, "the ID token is not valid: nonce")
    assert _audit(svc, mark) == [_failed("bad_id_token", error="the ID token is not valid: nonce")]


# ------------------------------------------------------------------ the ID token


def _verify(svc: Services, p: Provider, nonce_hash: str | None = None, **claims: Any) -> dict[str, Any]:
    return svc.oidc.verify_id_token(p.id_token(**claims), p.issuer, CLIENT, nonce_hash)


def test_a_valid_id_token_gives_its_claims(svc: Services, configured: Provider) -> None:
    claims = _verify(svc, configured, BOX.keyed_hash("n-1"), nonce="n-1", email="a@x")
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "nonce", "email"}
    assert (claims["iss"], claims["aud"], claims["sub"], claims["email"]) == (
        configured.issuer,
        CLIENT,
        "sub-1",
        "a@x",
    )
    assert configured.paths() == ["/.well-known/openid-configuration", "/jwks"]


@pytest.mark.parametrize(
    ("claims", "text"),
    [
        ({"iss": "https://other.example"}, "the ID token is not valid: Invalid issuer"),
        ({"aud": "other-client"}, "the ID token is not valid: Audience doesn't match"),
        ({"aud": ["a", "b"]}, "the ID token is not valid: Audience doesn't match"),
        ({"exp": -40}, "the ID token is not valid: Signature has expired"),
        ({"iat": 100}, "the ID token is not valid: The token is not yet valid (iat)"),
        ({"iss": None}, 'the ID token is not valid: Token is missing the "iss" claim'),
        ({"aud": None}, 'the ID token is not valid: Token is missing the "aud" claim'),
        ({"exp": None}, 'the ID token is not valid: Token is missing the "exp" claim'),
        ({"iat": None}, 'the ID token is not valid: Token is missing the "iat" claim'),
        ({"sub": None}, 'the ID token is not valid: Token is missing the "sub" claim'),
    ],
)
def test_an_id_token_failing_a_claim_check_is_refused(
    svc: Services, configured: Provider, claims: dict[str, Any], text: str
) -> None:
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "iat") and isinstance(v, int) else v for k, v in claims.items()}
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(svc, configured, **claims)
    _refused(exc, text)


def test_the_leeway_is_thirty_seconds(svc: Services, configured: Provider) -> None:
    now = int(time.time())
    assert _verify(svc, configured, exp=now - 20)["exp"] == now - 20
    assert _verify(svc, configured, iat=now + 20)["iat"] == now + 20
    with pytest.raises(AuthenticationFailed):
        _verify(svc, configured, exp=now - 45)


def test_several_audiences_need_an_azp_of_this_client(svc: Services, configured: Provider) -> None:
    assert _verify(svc, configured, aud=[CLIENT])["aud"] == [CLIENT]
    assert _verify(svc, configured, aud=[CLIENT, "api"], azp=CLIENT)["azp"] == CLIENT
    assert _verify(svc, configured, aud=CLIENT, azp="another")["azp"] == "another"
    for azp in ("api", None):
        with pytest.raises(AuthenticationFailed) as exc:
            _verify(svc, configured, aud=[CLIENT, "api"], azp=azp)
        _refused(exc, "the ID token is not valid: azp")


def test_the_nonce_is_checked_when_a_code_flow_has_one(svc: Services, configured: Provider) -> None:
    stored = BOX.keyed_hash("n-1")
    assert _verify(svc, configured, stored, nonce="n-1")["nonce"] == "n-1"
    assert _verify(svc, configured, None, nonce="anything")["nonce"] == "anything"
    assert "nonce" not in _verify(svc, configured, None)
    for nonce in ("n-2", None, 12, ["n-1"]):
        with pytest.raises(AuthenticationFailed) as exc:
            _verify(svc, configured, stored, nonce=nonce)
        _refused(exc, "the ID token is not valid: nonce")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", ""])
def test_a_malformed_id_token_is_refused(svc: Services, configured: Provider, token: str) -> None:
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.verify_id_token(token, configured.issuer, CLIENT, None)
    _refused(exc, "the ID token is malformed")
    assert configured.seen == []


def test_a_signature_by_another_key_is_refused(svc: Services, configured: Provider) -> None:
    configured.signing = (OTHER_RSA_KEY, "k1", "RS256")
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(svc, configured)
    _refused(exc, "the ID token is not valid: Signature verification failed")


@pytest.mark.parametrize(("key", "alg"), [("a-shared-secret-of-enough-length-123", "HS256"), (None, "none")])
def test_algorithms_outside_the_list_are_refused(
    svc: Services, configured: Provider, key: Any, alg: str
) -> None:
    configured.signing = (key, "k1", alg)
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(svc, configured)
    _refused(exc, "the ID token is not valid: The specified alg value is not allowed")


def test_an_ec_key_signs_es256(svc: Services, configured: Provider) -> None:
    configured.keys = [jwk(EC_KEY, "ec1")]
    configured.signing = (EC_KEY, "ec1", "ES256")
    assert _verify(svc, configured)["sub"] == "sub-1"


def test_keys_are_chosen_by_kid_and_use(svc: Services, configured: Provider) -> None:
    configured.keys = [
        jwk(OTHER_RSA_KEY, "k1", use="enc"),
        jwk(OTHER_RSA_KEY, "k0"),
        jwk(RSA_KEY, "k1", use="sig"),
    ]
    assert _verify(svc, configured)["sub"] == "sub-1"
    configured.signing = (RSA_KEY, None, "RS256")  # no kid: the first usable key
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(svc, configured)
    _refused(exc, "the ID token is not valid: Signature verification failed")


def test_an_unknown_kid_refetches_the_jwks_once(svc: Services, configured: Provider) -> None:
    assert _verify(svc, configured)["sub"] == "sub-1"
    assert configured.paths().count("/jwks") == 1
    configured.keys = [jwk(RSA_KEY, "k1"), jwk(EC_KEY, "k2")]  # the provider adds a key
    configured.signing = (EC_KEY, "k2", "ES256")
    assert _verify(svc, configured)["sub"] == "sub-1"
    assert configured.paths().count("/jwks") == 2
    assert _verify(svc, configured)["sub"] == "sub-1"
    assert configured.paths().count("/jwks") == 2  # the refetched set is cached
    configured.signing = (OTHER_RSA_KEY, "k3", "RS256")
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(svc, configured)
    _refused(exc, "the ID token is signed by an unknown key")
    assert configured.paths().count("/jwks") == 3
    assert configured.paths().count("/.well-known/openid-configuration") == 1


def test_only_signing_keys_are_used(svc: Services, configured: Provider) -> None:
    configured.keys = [jwk(RSA_KEY, "k1", use="enc")]
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(svc, configured)
    _refused(exc, "the ID token is signed by an unknown key")


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (
            (200, b'{"keys": []}'),
            "the OAuth provider's JWKS is not usable: The JWK Set did not contain any keys",
        ),
        ((200, b"{}"), "the OAuth provider's JWKS is not usable: The JWK Set did not contain any keys"),
        ((503, b"{}"), "the OAuth provider's JWKS answered HTTP 503"),
        ((200, b"null"), "the OAuth provider's JWKS answer is not a JSON object (HTTP 200)"),
    ],
)
def test_an_unusable_jwks_is_unavailable(
    svc: Services, configured: Provider, answer: tuple[int, bytes], text: str
) -> None:
    configured.fixed["/jwks"] = answer
    with pytest.raises(Unavailable) as exc:
        _verify(svc, configured)
    assert exc.value.message == text


def test_a_jwks_on_another_origin_is_refused(svc: Services, configured: Provider) -> None:
    configured.discovery["jwks_uri"] = "https://keys.example/jwks"
    with pytest.raises(Unavailable) as exc:
        _verify(svc, configured)
    assert exc.value.message == "the OAuth provider's jwks_uri is not on the issuer's origin"


def test_a_bad_id_token_in_a_code_flow_is_audited(svc: Services, configured: Provider) -> None:
    configured.signing = (OTHER_RSA_KEY, "k1", "RS256")
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username="bob", groups=[])
    _refused(exc, "the ID token is not valid: Signature verification failed")
    assert _audit(svc, mark)[1:] == [
        _failed("bad_id_token", error="the ID token is not valid: Signature verification failed")
    ]


# ------------------------------------------------------------------ claims, userinfo, group


def test_the_user_name_comes_from_userinfo_when_the_id_token_lacks_it(
    svc: Services, configured: Provider
) -> None:
    factories.user(svc, Role.VIEWER, "carol")
    actor, _ = _login(
        svc, configured, userinfo={"sub": "sub-1", "preferred_username": "carol"}, groups=["staff"]
    )
    assert actor.username == "carol"
    info = [s for s in configured.seen if s.path == "/userinfo"]
    assert len(info) == 1 and info[0].method == "GET"
    assert info[0].headers["authorization"] == "Bearer at-1"


def test_userinfo_is_asked_when_the_group_claim_is_missing(svc: Services, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "carol")
    svc.settings.set(ADMIN, oidc.REQUIRED_GROUP, "staff")
    actor, _ = _login(
        svc,
        configured,
        userinfo={"sub": "sub-1", "preferred_username": "mallory", "groups": ["staff"]},
        preferred_username="carol",
    )
    assert actor.username == "carol"  # the ID token's claims win over userinfo's
    assert configured.paths().count("/userinfo") == 1


def test_userinfo_of_another_subject_is_ignored(svc: Services, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "carol")
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, userinfo={"sub": "sub-2", "preferred_username": "carol"})
    _refused(exc, "the provider's preferred_username claim names no valid user")
    assert _audit(svc, mark)[1:] == [_failed("no_username", claim="preferred_username")]


@pytest.mark.parametrize("what", ["no endpoint", "no access token"])
def test_without_userinfo_the_name_is_missing(svc: Services, configured: Provider, what: str) -> None:
    factories.user(svc, Role.VIEWER, "carol")
    if what == "no endpoint":
        del configured.discovery["userinfo_endpoint"]
    start = svc.oidc.begin(SOURCE)
    code = configured.authorize(start.authorize_url, userinfo={"sub": "sub-1", "preferred_username": "carol"})
    if what == "no access token":
        configured.fixed["/token"] = (
            200,
            json.dumps({"id_token": configured.id_token(nonce=configured.grants[code].nonce)}).encode(),
        )
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete(code, start.state, SOURCE, VIA)
    _refused(exc, "the provider's preferred_username claim names no valid user")
    assert "/userinfo" not in configured.paths()


@pytest.mark.parametrize(
    ("endpoint", "answer", "text"),
    [
        (
            "/userinfo",
            (401, b'{"error": "invalid_token"}'),
            "the OAuth provider's userinfo answered HTTP 401",
        ),
        ("/userinfo", (200, b"[]"), "the OAuth provider's userinfo answer is not a JSON object (HTTP 200)"),
        (
            "https://elsewhere.example/userinfo",
            None,
            "the OAuth provider's userinfo is not on the issuer's origin",
        ),
    ],
)
def test_a_failing_userinfo_endpoint_is_unavailable(
    svc: Services, configured: Provider, endpoint: str, answer: tuple[int, bytes] | None, text: str
) -> None:
    if answer is not None:
        configured.fixed[endpoint] = answer
    else:
        configured.discovery["userinfo_endpoint"] = endpoint
    mark = factories.audit_mark(svc)
    with pytest.raises(Unavailable) as exc:
        _login(svc, configured)
    assert exc.value.message == text
    assert _audit(svc, mark)[-1] == _failed("provider_unavailable", error=text)


@pytest.mark.parametrize("name", ["-bob", "bob smith", "", "b" * 151, 42])
def test_a_name_that_is_no_user_name_is_refused(svc: Services, configured: Provider, name: object) -> None:
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username=name, groups=[])
    _refused(exc, "the provider's preferred_username claim names no valid user")
    assert _audit(svc, mark)[1:] == [_failed("no_username", claim="preferred_username")]


def test_the_username_and_group_claims_are_settings(svc: Services, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "dave@corp.example")
    svc.settings.set(ADMIN, oidc.USERNAME_CLAIM, "email")
    svc.settings.set(ADMIN, oidc.GROUP_CLAIM, "roles")
    svc.settings.set(ADMIN, oidc.REQUIRED_GROUP, "fleet")
    actor, _ = _login(
        svc, configured, email="dave@corp.example", preferred_username="x", roles=["fleet"], groups=[]
    )
    assert actor.username == "dave@corp.example"
    assert "/userinfo" not in configured.paths()
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username="dave@corp.example", roles=["fleet"])
    _refused(exc, "the provider's email claim names no valid user")
    assert _audit(svc, mark)[1:] == [_failed("no_username", claim="email")]


@pytest.mark.parametrize("groups", [["staff"], [], "fleet-admins", None, {"fleet-admins": 1}])
def test_the_required_group_is_checked(svc: Services, configured: Provider, groups: object) -> None:
    factories.user(svc, Role.VIEWER, "erin")
    svc.settings.set(ADMIN, oidc.REQUIRED_GROUP, "fleet-admins")
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username="erin", groups=groups)
    _refused(exc, "the user is not in the required group 'fleet-admins'")
    assert _audit(svc, mark)[1:] == [_failed("not_in_group", username="erin")]


def test_a_member_of_the_required_group_logs_in(svc: Services, configured: Provider) -> None:
    factories.user(svc, Role.VIEWER, "erin")
    svc.settings.set(ADMIN, oidc.REQUIRED_GROUP, "fleet-admins")
    actor, _ = _login(svc, configured, preferred_username="erin", groups=["staff", "fleet-admins"])
    assert actor.username == "erin"


# ------------------------------------------------------------------ the fleetdeck user


def test_an_unknown_user_is_refused_without_auto_create(
    svc: Services, runtime: Runtime, configured: Provider
) -> None:
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username="frank", groups=[])
    _refused(exc, "invalid user name or password")
    assert _audit(svc, mark)[1:] == [_failed("unknown_user", username="frank")]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalar(select(User.id).where(User.username == "frank")) is None


def test_auto_create_makes_a_viewer(svc: Services, runtime: Runtime, configured: Provider) -> None:
    factories.user(svc, Role.ADMIN, "root")  # another user's name is no clash
    svc.settings.set(ADMIN, oidc.AUTO_CREATE, True)
    mark = factories.audit_mark(svc)
    actor, started = _login(svc, configured, preferred_username="frank", groups=[])
    assert (actor.username, actor.role, actor.source, actor.via) == ("frank", Role.VIEWER, SOURCE, VIA)
    assert actor.user_id is not None and started.info.user_id == actor.user_id
    user = svc.users.get(ADMIN, actor.user_id)
    assert (user.username, user.role, user.disabled) == ("frank", Role.VIEWER, False)
    uid = actor.user_id
    assert _audit(svc, mark)[1:] == [
        (
            "user.create",
            "user",
            str(uid),
            "ok",
            uid,
            "frank",
            SOURCE,
            VIA,
            {"method": "oidc", "role": "viewer"},
        ),
        (
            "auth.login",
            "user",
            str(uid),
            "ok",
            uid,
            "frank",
            SOURCE,
            VIA,
            {"method": "oidc", "subject": "sub-1"},
        ),
    ]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(User, uid)
        assert row is not None and row.last_login_at is not None
        assert row.password_hash.startswith("$argon2")
        when = {row.created_at, row.password_changed_at, row.last_login_at}
        assert {w.replace(tzinfo=None) for w in when if w is not None} == {T0.replace(tzinfo=None)}
    assert svc.sessions.resume(started.secret, SOURCE, VIA) is not None
    mark = factories.audit_mark(svc)
    again, _ = _login(svc, configured, preferred_username="frank", groups=[])
    assert again.user_id == uid  # the second login finds the user
    assert [a[0] for a in _audit(svc, mark)] == ["auth.oidc_begin", "auth.login"]


def test_auto_created_users_get_the_new_user_groups(svc: Services, configured: Provider) -> None:
    svc.settings.set(ADMIN, oidc.AUTO_CREATE, True)
    svc.settings.set(ADMIN, oidc.NEW_USER_GROUPS, ["Administrators"])
    mark = factories.audit_mark(svc)
    actor, _ = _login(svc, configured, preferred_username="gina", groups=[])
    assert actor.role == Role.ADMIN
    assert actor.user_id is not None
    assert svc.users.get(ADMIN, actor.user_id).role == Role.ADMIN
    assert _audit(svc, mark)[1][8] == {"method": "oidc", "role": "admin"}


def test_auto_create_does_not_take_a_name_in_other_case(
    svc: Services, runtime: Runtime, configured: Provider
) -> None:
    factories.user(svc, Role.ADMIN, "Henry")
    svc.settings.set(ADMIN, oidc.AUTO_CREATE, True)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username="henry", groups=[])
    _refused(exc, "invalid user name or password")
    assert _audit(svc, mark)[1:] == [_failed("unknown_user", username="henry")]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(User).where(User.username == "henry")) == 0


@pytest.mark.parametrize("auto_create", [False, True])
def test_a_disabled_user_is_refused(
    svc: Services, runtime: Runtime, configured: Provider, auto_create: bool
) -> None:
    factories.user(svc, Role.ADMIN, "root")  # one enabled admin must remain
    ivy = factories.user(svc, Role.ADMIN, "ivy")
    assert ivy.user_id is not None
    svc.users.update(ADMIN, ivy.user_id, disabled=True)
    svc.settings.set(ADMIN, oidc.AUTO_CREATE, auto_create)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        _login(svc, configured, preferred_username="ivy", groups=[])
    _refused(exc, "invalid user name or password")
    assert _audit(svc, mark)[1:] == [_failed("disabled", username="ivy")]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(User, ivy.user_id)
        assert row is not None and row.last_login_at is None
        assert uow.session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_a_refused_name_is_cut_to_the_audit_column(svc: Services, configured: Provider) -> None:
    name = "j" * 150
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed):
        _login(svc, configured, preferred_username=name, groups=[])
    assert _audit(svc, mark)[1:] == [_failed("unknown_user", username=name)]


# ------------------------------------------------------------------ the device flow


def test_begin_device_asks_the_provider(svc: Services, configured: Provider) -> None:
    configured.device_start = {
        "device_code": "dc-1",
        "user_code": "ABCD-EFGH",
        "verification_uri": configured.issuer + "/activate",
        "verification_uri_complete": configured.issuer + "/activate?user_code=ABCD-EFGH",
        "interval": 7,
        "expires_in": 900,
    }
    assert svc.oidc.begin_device() == DeviceStart(
        "dc-1", "ABCD-EFGH", configured.issuer + "/activate?user_code=ABCD-EFGH", 7, 900
    )
    asked = [s for s in configured.seen if s.path == "/device"]
    assert len(asked) == 1
    assert asked[0].method == "POST"
    assert asked[0].form == {"scope": "openid profile email", "client_id": CLIENT}


def test_begin_device_fills_in_what_the_provider_left_out(svc: Services, configured: Provider) -> None:
    configured.device_start = {"device_code": "dc-1", "verification_uri": "https://x/activate"}
    assert svc.oidc.begin_device() == DeviceStart("dc-1", "", "https://x/activate", 5, 600)
    configured.device_start = {"device_code": "dc-2"}
    assert svc.oidc.begin_device() == DeviceStart("dc-2", "", "", 5, 600)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 5),
        (True, 5),
        ("10", 5),
        (0, 5),
        (-3, 5),
        (86400, 5),
        (86399, 86399),
        (1, 1),
        (2.7, 2),
        (1.5, 1),
        (0.5, 5),
        (0.999, 5),
        (float("nan"), 5),
        (float("inf"), 5),
    ],
)
def test_provider_seconds_are_sane_or_the_default(
    svc: Services, configured: Provider, value: object, seconds: int
) -> None:
    configured.device_start = {"device_code": "dc", "interval": value, "expires_in": value}
    start = svc.oidc.begin_device()
    assert (start.interval, start.expires_in) == (seconds, 600 if seconds == 5 else seconds)


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (
            (400, b'{"error": "unauthorized_client"}'),
            "the OAuth provider refused a device login: unauthorized_client",
        ),
        ((200, b'{"user_code": "X"}'), "the OAuth provider refused a device login: 200"),
        ((200, b'{"device_code": 5}'), "the OAuth provider refused a device login: 200"),
        ((500, b"{}"), "the OAuth provider refused a device login: 500"),
        (
            (400, json.dumps({"error": "e" * 150}).encode()),
            "the OAuth provider refused a device login: " + "e" * 100,
        ),
        ((200, b"oops"), "the OAuth provider's device authorization answer is not a JSON object (HTTP 200)"),
    ],
)
def test_a_refused_device_login_is_unavailable(
    svc: Services, configured: Provider, answer: tuple[int, bytes], text: str
) -> None:
    configured.fixed["/device"] = answer
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin_device()
    assert exc.value.message == text


def test_no_device_endpoint(svc: Services, configured: Provider) -> None:
    del configured.discovery["device_authorization_endpoint"]
    with pytest.raises(Unavailable) as exc:
        svc.oidc.begin_device()
    assert exc.value.message == "the OAuth provider has no device_authorization_endpoint"


def test_a_confidential_client_asks_for_a_device_code_by_basic(svc: Services, configured: Provider) -> None:
    svc.settings.set(ADMIN, oidc.CLIENT_SECRET, "pw")
    configured.device_start = {"device_code": "dc"}
    assert svc.oidc.begin_device().device_code == "dc"
    asked = next(s for s in configured.seen if s.path == "/device")
    assert asked.form == {"scope": "openid profile email"}
    assert asked.headers["authorization"] == "Basic " + base64.b64encode(b"fleetdeck:pw").decode()


def test_the_device_flow_polls_until_the_user_has_authorised(
    svc: Services, runtime: Runtime, configured: Provider
) -> None:
    kim = factories.user(svc, Role.OPERATOR, "kim")
    good = configured.id_token(preferred_username="kim", groups=[], sub="sub-kim")
    configured.device["dc-1"] = [
        (400, {"error": "authorization_pending"}),
        (400, {"error": "slow_down", "error_description": "d" * 400, "error_uri": "u" * 400}),
        (200, {"access_token": "at", "token_type": "Bearer", "id_token": good}),
    ]
    mark = factories.audit_mark(svc)
    assert svc.oidc.complete_device("dc-1", SOURCE, VIA) == DevicePending("authorization_pending", "", "")
    assert svc.oidc.complete_device("dc-1", SOURCE, VIA) == DevicePending("slow_down", "d" * 300, "u" * 300)
    assert _audit(svc, mark) == []  # waiting is no failure
    done = svc.oidc.complete_device("dc-1", SOURCE, VIA, lifetime_sec=90, renew_sec=30, user_agent="cli")
    assert not isinstance(done, DevicePending)
    actor, started = done
    assert (actor.user_id, actor.username, actor.role, actor.via) == (kim.user_id, "kim", Role.OPERATOR, VIA)
    assert (started.info.expires_at, started.info.user_agent) == (T0 + timedelta(seconds=90), "cli")
    assert _audit(svc, mark) == [
        (
            "auth.login",
            "user",
            str(kim.user_id),
            "ok",
            kim.user_id,
            "kim",
            SOURCE,
            VIA,
            {"method": "oidc", "subject": "sub-kim"},
        )
    ]
    polls = [s.form for s in configured.seen if s.path == "/token"]
    assert polls == [{"grant_type": oidc.DEVICE_GRANT, "device_code": "dc-1", "client_id": CLIENT}] * 3
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalars(select(WebSession.renew_sec)).one() == 30


@pytest.mark.parametrize(
    ("answer", "shown", "provider_error"),
    [
        ((400, {"error": "expired_token"}), "expired_token", "expired_token"),
        ((400, {"error": "access_denied"}), "access_denied", "access_denied"),
        ((500, {}), "500", "500"),
        ((200, {"access_token": "x"}), "200", "200"),
        ((200, {"error": "weird", "id_token": "x"}), "weird", "weird"),
        ((400, {"error": "e" * 150}), "e" * 150, "e" * 100),
    ],
)
def test_a_refused_device_login_fails_and_is_audited(
    svc: Services, configured: Provider, answer: tuple[int, dict[str, Any]], shown: str, provider_error: str
) -> None:
    configured.device["dc-1"] = [answer]
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete_device("dc-1", SOURCE, VIA)
    _refused(exc, f"the OAuth provider refused the device login: {shown}")
    assert _audit(svc, mark) == [_failed("device_refused", provider_error=provider_error)]


@pytest.mark.parametrize("code", ["", "d" * 2049])
def test_a_device_code_is_required_and_bounded(svc: Services, configured: Provider, code: str) -> None:
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete_device(code, SOURCE, VIA)
    _refused(exc, "device_code is required")
    assert configured.seen == []
    assert _audit(svc, mark) == [_failed("bad_request")]  # as the code flow's refusal


def test_the_longest_device_code_is_polled(svc: Services, configured: Provider) -> None:
    configured.device["d" * 2048] = [(400, {"error": "authorization_pending"})]
    assert svc.oidc.complete_device("d" * 2048, SOURCE, VIA) == DevicePending("authorization_pending")


def test_a_device_login_checks_the_id_token_and_the_user(svc: Services, configured: Provider) -> None:
    configured.device["dc-1"] = [
        (200, {"id_token": configured.id_token(preferred_username="nobody", aud="x")})
    ]
    configured.device["dc-2"] = [(200, {"id_token": configured.id_token(preferred_username="nobody")})]
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete_device("dc-1", SOURCE, VIA)
    _refused(exc, "the ID token is not valid: Audience doesn't match")
    with pytest.raises(AuthenticationFailed) as exc:
        svc.oidc.complete_device("dc-2", SOURCE, VIA)
    _refused(exc, "invalid user name or password")
    assert _audit(svc, mark) == [
        _failed("bad_id_token", error="the ID token is not valid: Audience doesn't match"),
        _failed("unknown_user", username="nobody"),
    ]
