"""rportd's logins through the dialect: Basic then bearer tokens backed by server-side sessions
(no ``exp``, expiry pushed forward by use, revocable), ``?token-lifetime``, POST bodies, bans,
forced password change and the TOTP second factor with real codes (pyotp)."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp
import pytest

from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, PASSWORD, basic, bearer, login


def test_basic_then_bearer_then_logout(client: Any, admin: Actor) -> None:
    r = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    data = r.json()["data"]
    assert data["two_fa"] is None
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    assert "exp" not in claims
    assert claims["username"] == "admin"
    assert isinstance(claims["sessionID"], int)
    assert claims["scopes"][0] == {"uri": "*", "method": "*"}
    me = client.get(f"{API}/me", headers=bearer(data["token"]))
    assert me.status_code == 200
    assert me.json()["data"]["groups"] == ["Administrators"]
    assert client.delete(f"{API}/logout", headers=bearer(data["token"])).status_code == 204
    gone = client.get(f"{API}/me", headers=bearer(data["token"]))
    assert gone.status_code == 401
    assert gone.json() == {"errors": [{"code": "", "title": "unauthorized", "detail": ""}]}


def test_basic_auth_works_on_every_route(client: Any, admin: Actor) -> None:
    assert client.get(f"{API}/me", headers=basic("admin", ADMIN_PASSWORD)).status_code == 200
    assert client.get(f"{API}/me").status_code == 401
    assert client.get(f"{API}/me", headers=bearer("not-a-jwt")).status_code == 401


def test_post_login_json_and_form(client: Any, admin: Actor) -> None:
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    assert client.post(f"{API}/login", json=body).status_code == 200
    assert client.post(f"{API}/login", data=body).status_code == 200
    strict = client.post(f"{API}/login", json={**body, "remember": True})
    assert strict.status_code == 400
    assert strict.json()["errors"][0]["title"] == "Invalid JSON data."
    other = client.post(f"{API}/login", content=b"x", headers={"Content-Type": "text/plain"})
    assert other.status_code == 400
    empty = client.post(f"{API}/login", content=b"", headers={"Content-Type": "application/json"})
    assert empty.json()["errors"][0]["title"] == "Missing body with json data."


def test_token_lifetime(client: Any, runtime: Runtime, admin: Actor) -> None:
    too_long = client.get(
        f"{API}/login", headers=basic("admin", ADMIN_PASSWORD), params={"token-lifetime": 7776001}
    )
    assert too_long.status_code == 400
    assert (
        client.get(
            f"{API}/login", headers=basic("admin", ADMIN_PASSWORD), params={"token-lifetime": "x"}
        ).status_code
        == 400
    )
    before = datetime.now(UTC)
    login(client, "admin", ADMIN_PASSWORD, **{"token-lifetime": 86400})
    login(client, "admin", ADMIN_PASSWORD, **{"token-lifetime": 0})  # 0 = the default, 10 minutes
    sessions = runtime.services.sessions.of_user(admin, admin.user_id or 0)
    ends = sorted(s.expires_at for s in sessions)
    assert ends[0] < before + timedelta(minutes=11)
    assert ends[-1] > before + timedelta(hours=23)


def test_use_pushes_the_end_forward(client: Any, runtime: Runtime, admin: Actor) -> None:
    """A session whose end is near is pushed to 10 minutes ahead by a request (the write
    happens when the end is closer than 10 minutes less a minute)."""
    token = login(client, "admin", ADMIN_PASSWORD, **{"token-lifetime": 5})
    (session,) = runtime.services.sessions.of_user(admin, admin.user_id or 0)
    assert client.get(f"{API}/me", headers=bearer(token)).status_code == 200
    (pushed,) = runtime.services.sessions.of_user(admin, admin.user_id or 0)
    assert pushed.expires_at >= session.expires_at + timedelta(minutes=9)


def test_admin_lists_and_revokes_sessions(client: Any, as_admin: dict[str, str]) -> None:
    other = login(client, "admin", ADMIN_PASSWORD)
    listed = client.get(f"{API}/users/admin/sessions", headers=as_admin).json()["data"]
    assert len(listed) == 2
    assert {"session_id", "expires_at", "last_access_at", "user_agent", "ip_address"} <= set(listed[0])
    newest = max(s["session_id"] for s in listed)
    assert client.delete(f"{API}/users/admin/sessions/{newest}", headers=as_admin).status_code == 204
    assert client.get(f"{API}/me", headers=bearer(other)).status_code == 401
    assert client.delete(f"{API}/users/admin/sessions/{newest}", headers=as_admin).status_code == 404
    assert client.delete(f"{API}/users/admin/sessions", headers=as_admin).status_code == 204
    assert client.get(f"{API}/me", headers=as_admin).status_code == 401


def test_failed_logins_are_banned(client: Any, admin: Actor) -> None:
    """Core's throttle: after the failures allowed for a name from an address, 429 even with
    the right password."""
    codes = [client.get(f"{API}/login", headers=basic("admin", "wrong")).status_code for _ in range(5)]
    assert codes == [401] * 5
    banned = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD))
    assert banned.status_code == 429
    assert banned.json()["errors"][0]["title"] == "too many requests, please try later"
    assert int(banned.headers["Retry-After"]) >= 1


def test_expired_password_must_be_changed(client: Any, as_admin: dict[str, str]) -> None:
    made = client.post(
        f"{API}/users",
        headers=as_admin,
        json={"username": "eve", "password": PASSWORD, "groups": ["ops"], "password_expired": True},
    )
    assert made.status_code == 201
    assert made.content == b""
    refused = client.get(f"{API}/login", headers=basic("eve", PASSWORD))
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["title"] == "password has expired, please change your password"
    new = PASSWORD + "-2"
    changed = client.post(f"{API}/login", json={"username": "eve", "password": PASSWORD, "new_password": new})
    assert changed.status_code == 200
    assert client.get(f"{API}/login", headers=basic("eve", new)).status_code == 200
    assert client.get(f"{API}/login", headers=basic("eve", PASSWORD)).status_code == 401


@pytest.fixture
def totp_on(runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, keys.TOTP_KEY, True)


def _png_size(b64: str) -> tuple[int, int]:
    png = base64.b64decode(b64)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_totp_login(client: Any, admin: Actor, totp_on: None) -> None:
    r = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD))
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["two_fa"] == {"delivery_method": "totp_authenticator_app", "totp_key_status": "pending"}
    half = bearer(data["token"])
    assert client.get(f"{API}/me", headers=half).status_code == 401  # a half login is no login
    made = client.post(f"{API}/me/totp-secret", headers=half)
    assert made.status_code == 200
    secret = made.json()["secret"]  # rportd's bare object, no "data"
    assert _png_size(made.json()["qr"]) == (200, 200)
    assert client.post(f"{API}/me/totp-secret", headers=half).status_code == 401  # only once
    wrong = client.post(f"{API}/verify-2fa", headers=half, json={"username": "admin", "token": "000000"})
    if pyotp.TOTP(secret).verify("000000", valid_window=1):  # one time in a million
        pytest.skip("the wrong code happened to be right")
    assert wrong.status_code == 401
    ok = client.post(
        f"{API}/verify-2fa", headers=half, json={"username": "admin", "token": pyotp.TOTP(secret).now()}
    )
    assert ok.status_code == 200, ok.text
    full = bearer(ok.json()["data"]["token"])
    assert client.get(f"{API}/me", headers=full).status_code == 200
    assert client.get(f"{API}/me/totp-secret", headers=full).json()["secret"] == secret
    # the half login ended with the full one; Basic with a password is refused while 2FA is on
    assert (
        client.post(f"{API}/verify-2fa", headers=half, json={"username": "admin", "token": "1"}).status_code
        == 401
    )
    assert client.get(f"{API}/me", headers=basic("admin", ADMIN_PASSWORD)).status_code == 401
    again = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD)).json()["data"]
    assert again["two_fa"]["totp_key_status"] == "exists"
    assert client.delete(f"{API}/me/totp-secret", headers=full).status_code == 204
    assert client.get(f"{API}/me/totp-secret", headers=full).status_code == 404


def test_totp_off(client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]) -> None:
    assert client.get(f"{API}/me/totp-secret", headers=as_admin).status_code == 400
