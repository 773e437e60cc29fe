"""rportd's OAuth login against a real OpenID Connect provider run on 127.0.0.1 (panva's
oidc-provider, tests/dialects/rport/oidc/, installed by ``make chromium``): the test plays the
browser with httpx, following the provider's redirects and submitting its login and consent
forms, and stops at the redirect to the registered redirect URI, where ``code`` and ``state``
are handed to ``/oauth/login`` as rport's web app does."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from fleetdeck.app import Runtime
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.users.oidc import OidcLoginService
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, basic, bearer

HERE = Path(__file__).parent / "oidc"
REDIRECT = "http://127.0.0.1:9/rport/oauth/callback"  # never visited: the test stops there
CLIENT, OTHER = "fleetdeck", "other-app"


def _secret(client_id: str) -> str:
    return f"{client_id}-secret-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the OIDC provider of these tests runs on node")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.skip(
            "oidc-provider is not installed: run `make chromium` (npm ci in tests/dialects/rport/oidc)"
        )
    port = _free_port()
    proc = subprocess.Popen(
        [node, str(HERE / "provider.mjs"), str(port), REDIRECT],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready <issuer>" once it listens
        assert line.startswith("ready "), f"the OIDC provider did not start: {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def configure(runtime: Runtime, admin: Actor, issuer: str, **extra: Any) -> None:
    s = runtime.services.settings
    values: dict[str, Any] = {
        "oidc.issuer": issuer,
        "oidc.client_id": CLIENT,
        "oidc.client_secret": _secret(CLIENT),
        "oidc.redirect_url": REDIRECT,
        **{f"oidc.{k}": v for k, v in extra.items()},
    }
    for key, value in values.items():
        s.set(admin, key, value)


@pytest.fixture
def oidc(runtime: Runtime, admin: Actor, issuer: str) -> str:
    configure(runtime, admin, issuer)
    return issuer


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
_INPUT = re.compile(r"<input\b([^>]*)>", re.I)


def browse(url: str, login: str, stop: str = REDIRECT) -> dict[str, str]:
    """Play the browser from ``url``: follow redirects, fill the login form with ``login``
    (the development provider takes any password), submit the consent form; return the query
    of the redirect to ``stop`` (or of the last page when it shows no form)."""
    with httpx.Client(timeout=10) as b:
        response = b.get(url)
        for _ in range(20):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(stop):
                    return {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                response = b.get(target)
                continue
            assert response.status_code == 200, response.text
            form = _FORM.search(response.text)
            if form is None:
                return {"page": response.text}
            attrs = dict(_ATTR.findall(form.group(1)))
            fields: dict[str, str] = {}
            for tag in _INPUT.findall(form.group(2)):
                a = dict(_ATTR.findall(tag))
                if "name" in a:
                    fields[a["name"]] = html.unescape(a.get("value", ""))
            if "login" in fields:
                fields.update(login=login, password="any-password")
            action = urljoin(str(response.url), html.unescape(attrs.get("action", "")))
            response = b.post(action, data=fields)
        raise AssertionError("the provider's pages did not end")


def start(client: Any) -> dict[str, Any]:
    r = client.get(f"{API}/auth/ext/settings")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def code_for(client: Any, login: str) -> tuple[str, str]:
    """A new login attempt, authorised at the provider as ``login``: (code, state)."""
    data = start(client)
    back = browse(data["authorize_url"], login)
    assert back["state"] == data["state"]
    return back["code"], back["state"]


def oauth_login(client: Any, code: str, state: str, **params: Any) -> httpx.Response:
    response: httpx.Response = client.get(
        f"{API}/oauth/login", params={"code": code, "state": state, **params}
    )
    return response


def audit_logins(runtime: Runtime, admin: Actor) -> list[dict[str, Any]]:
    records = runtime.services.audit.find(
        admin, q.Query(where=(q.Cond("action", q.Op.EQ, "auth.login"),), sort=(q.SortKey("id"),), limit=None)
    ).items
    return [
        {"result": r.result, "username": r.username, **(r.detail or {})}
        for r in records
        if r.action == "auth.login" and (r.detail or {}).get("method") == "oidc"
    ]


# ------------------------------------------------------------------ built-in (no provider)


def test_provider_is_built_in_when_no_provider_is_configured(client: Any) -> None:
    r = client.get(f"{API}/auth/provider")
    assert r.status_code == 200
    assert r.json() == {"data": {"auth_provider": "built-in", "settings_url": "", "device_settings_url": ""}}
    for path in ("/auth/ext/settings", "/auth/ext/settings/device", "/oauth/login?code=a&state=b"):
        r = client.get(API + path)
        assert r.status_code == 403, path
        assert r.json()["errors"][0]["title"] == "auth provider settings not enabled"


# ------------------------------------------------------------------ the code flow


def test_the_code_flow_logs_an_existing_user_in(
    client: Any, runtime: Runtime, admin: Actor, oidc: str
) -> None:
    r = client.get(f"{API}/auth/provider")
    assert r.json()["data"] == {
        "auth_provider": "oidc",
        "settings_url": f"{API}/auth/ext/settings",
        "device_settings_url": f"{API}/auth/ext/settings/device",
    }
    data = start(client)
    assert data["login_uri"] == f"{API}/oauth/login"
    assert data["authorize_url"].startswith(oidc + "/auth?")
    query = parse_qs(urlsplit(data["authorize_url"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0] and query["client_id"] == [CLIENT]
    back = browse(data["authorize_url"], "admin")
    assert back["state"] == data["state"]

    r = oauth_login(client, back["code"], back["state"], **{"token-lifetime": 3600})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["two_fa"] is None
    token = r.json()["data"]["token"]
    me = client.get(f"{API}/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["data"]["username"] == "admin"
    sessions = runtime.services.sessions.of_user(admin, admin.user_id or 0)
    assert len(sessions) == 1 and sessions[0].via == "rport"
    # the password login of rportd is off while OAuth is on (rport Plus answers 403)
    assert client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD)).status_code == 403
    assert [e["result"] for e in audit_logins(runtime, admin)] == ["ok"]
    assert client.delete(f"{API}/logout", headers=bearer(token)).status_code == 204


def test_a_wrong_state_is_refused(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    code, state = code_for(client, "admin")
    r = oauth_login(client, code, state[:-2] + ("aa" if not state.endswith("aa") else "bb"))
    assert r.status_code == 401
    assert set(r.json()["errors"][0]) == {"code", "title", "detail"}  # rportd's envelope
    assert audit_logins(runtime, admin)[-1]["reason"] == "unknown_state"
    assert runtime.services.sessions.count() == 0


def test_a_code_and_a_state_are_used_once(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    code, state = code_for(client, "admin")
    assert oauth_login(client, code, state).status_code == 200
    again = oauth_login(client, code, state)
    assert again.status_code == 401
    assert runtime.services.sessions.count() == 1


def test_a_code_is_bound_to_its_own_attempt(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    """The code of one attempt with the state of another: the PKCE verifier does not match, the
    provider refuses the code."""
    code_a, _state_a = code_for(client, "admin")
    _code_b, state_b = code_for(client, "admin")
    r = oauth_login(client, code_a, state_b)
    assert r.status_code == 401
    assert audit_logins(runtime, admin)[-1]["reason"] == "code_refused"


def test_an_expired_state_is_refused(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    code, state = code_for(client, "admin")
    from sqlalchemy import update

    from fleetdeck.storage.tables import OidcLoginSecret
    from fleetdeck.storage.uow import UnitOfWork

    with UnitOfWork(runtime.db) as uow:  # as if the state's lifetime had passed
        uow.session.execute(update(OidcLoginSecret).values(expires_at=OidcLoginSecret.created_at))
    assert oauth_login(client, code, state).status_code == 401
    assert audit_logins(runtime, admin)[-1]["reason"] == "expired_state"


def test_a_disabled_user_cannot_log_in(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    from fleetdeck.core.authz import Role

    bob = runtime.services.users.create(admin, "bob", "a-long-user-password-1", Role.OPERATOR)
    runtime.services.users.update(admin, bob.id, disabled=True)
    code, state = code_for(client, "bob")
    r = oauth_login(client, code, state)
    assert r.status_code == 401
    assert audit_logins(runtime, admin)[-1] == {
        "result": "failed",
        "username": "bob",
        "reason": "disabled",
        "method": "oidc",
    }
    assert runtime.services.sessions.count(bob.id) == 0


def test_unknown_users_are_refused_or_created(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    code, state = code_for(client, "carol")
    assert oauth_login(client, code, state).status_code == 401
    assert runtime.services.users.get_by_name("carol") is None
    configure(runtime, admin, oidc, auto_create=True, new_user_groups=["Administrators"])
    code, state = code_for(client, "carol")
    r = oauth_login(client, code, state)
    assert r.status_code == 200, r.text
    carol = runtime.services.users.get_by_name("carol")
    assert carol is not None and carol.role.value == "admin"
    me = client.get(f"{API}/me", headers=bearer(r.json()["data"]["token"])).json()["data"]
    assert me["username"] == "carol" and me["groups"] == ["Administrators"]


def test_the_required_group_is_checked(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    from fleetdeck.core.authz import Role

    runtime.services.users.create(admin, "outsider", "a-long-user-password-1", Role.OPERATOR)
    configure(runtime, admin, oidc, required_group="fleetdeck-admins")
    code, state = code_for(client, "outsider")
    assert oauth_login(client, code, state).status_code == 401
    assert audit_logins(runtime, admin)[-1]["reason"] == "not_in_group"
    code, state = code_for(client, "admin")  # in the group
    assert oauth_login(client, code, state).status_code == 200


def _id_token_for(issuer: str, client_id: str) -> str:
    """A real ID token the provider issued to ``client_id`` (the test is that client)."""
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid profile",
            "state": "s" * 20,
            "nonce": "n" * 20,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    back = browse(f"{issuer}/auth?{query}", "admin")
    r = httpx.post(
        f"{issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, _secret(client_id)),
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["id_token"]
    return token


def test_an_id_token_for_another_audience_is_refused(runtime: Runtime, admin: Actor, oidc: str) -> None:
    service: OidcLoginService = runtime.services.oidc
    foreign = _id_token_for(oidc, OTHER)
    with pytest.raises(AuthenticationFailed, match=r"(?i)audience"):
        service.verify_id_token(foreign, oidc, CLIENT, None)
    claims = service.verify_id_token(foreign, oidc, OTHER, None)
    assert claims["aud"] == OTHER
    # a conformant ID token of the code flow has no profile claims: the logins above read the
    # user name and groups from the provider's userinfo endpoint
    assert "preferred_username" not in claims and "groups" not in claims
    own = _id_token_for(oidc, CLIENT)
    tampered = own.rsplit(".", 1)[0] + "." + foreign.rsplit(".", 1)[1]
    with pytest.raises(AuthenticationFailed, match=r"(?i)signature"):
        service.verify_id_token(tampered, oidc, CLIENT, None)


def test_a_provider_that_is_down(client: Any, runtime: Runtime, admin: Actor, issuer: str) -> None:
    configure(runtime, admin, f"http://127.0.0.1:{_free_port()}")
    for path in ("/auth/ext/settings", "/auth/ext/settings/device"):
        r = client.get(API + path)
        assert r.status_code == 503, r.text
        assert "cannot be reached" in r.json()["errors"][0]["detail"] + r.json()["errors"][0]["title"]


def test_the_device_flow(client: Any, runtime: Runtime, admin: Actor, oidc: str) -> None:
    r = client.get(f"{API}/auth/ext/settings/device")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    info = data["details"]["auth_info"]
    assert data["details"]["login_uri"] == f"{API}/oauth/login/device" and info["user_code"]
    poll = client.get(f"{API}/oauth/login/device", params={"device_code": info["device_code"]})
    assert poll.status_code == 200 and poll.json()["data"]["error"] == "authorization_pending"
    page = browse(info["verification_uri"], "admin", stop="http://never.invalid/")
    assert "page" in page
    deadline = time.monotonic() + 30
    while True:
        poll = client.get(f"{API}/oauth/login/device", params={"device_code": info["device_code"]})
        assert poll.status_code == 200, poll.text
        if "token" in poll.json()["data"] or time.monotonic() > deadline:
            break
        time.sleep(info["interval"])
    token = poll.json()["data"]["token"]
    assert client.get(f"{API}/me", headers=bearer(token)).json()["data"]["username"] == "admin"
    bad = client.get(f"{API}/oauth/login/device", params={"device_code": "not-a-device-code"})
    assert bad.status_code == 401
