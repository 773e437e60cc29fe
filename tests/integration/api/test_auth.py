"""Login, JWTs, HTTP Basic, API tokens and their scopes, and what ends a session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings
from tests.integration.api.conftest import (
    ADMIN_PASSWORD,
    API,
    PASSWORD,
    Api,
    assert_error,
    basic,
    bearer,
    login,
    make_user,
)


def test_login_returns_a_working_token(client: TestClient, admin: Actor) -> None:
    r = client.post(f"{API}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["user"]["username"] == "admin"
    expires = datetime.fromisoformat(data["expires_at"])
    assert expires.utcoffset() == timedelta(0)
    assert expires > datetime.now(UTC)
    me = client.get(f"{API}/me", headers=bearer(data["token"]))
    assert me.status_code == 200
    assert me.json()["data"]["role"] == "admin"


def test_wrong_password_is_401(client: TestClient, admin: Actor) -> None:
    r = client.post(f"{API}/auth/login", json={"username": "admin", "password": "wrong-password"})
    assert_error(r, 401, "authentication_failed")
    r = client.post(f"{API}/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert_error(r, 401, "authentication_failed")


def test_missing_or_garbled_credentials_are_401_with_challenge(client: TestClient, admin: Actor) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic bm9jb2xvbg=="},  # "nocolon"
        {"Authorization": "Digest abc"},
        {"Authorization": "Bearer fdt_unknowntoken0000000000"},
        basic("ad\x00min", ADMIN_PASSWORD),
        {"Authorization": "Basic " + "//79"},  # not UTF-8
    ):
        r = client.get(f"{API}/computers", headers=headers)
        assert_error(r, 401)
        assert r.headers["www-authenticate"] == 'Bearer realm="fleetdeck"'  # no Basic challenge


def test_login_is_throttled_after_max_failures(settings: Settings, admin: Actor, runtime: Runtime) -> None:
    # The runtime fixture already built services from the default settings, so build our own.
    small = settings.model_copy(update={"login_max_failures": 3})
    with TestClient(create_app(small)) as client:
        for _ in range(3):
            r = client.post(f"{API}/auth/login", json={"username": "admin", "password": "wrong-password"})
            assert_error(r, 401)
        r = client.post(f"{API}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert_error(r, 429, "too_many_attempts")
        assert int(r.headers["retry-after"]) >= 1
        # Basic auth shares the throttle.
        r = client.get(f"{API}/me", headers=basic("admin", ADMIN_PASSWORD))
        assert_error(r, 429)


def test_basic_with_password(client: TestClient, admin: Actor) -> None:
    r = client.get(f"{API}/me", headers=basic("admin", ADMIN_PASSWORD))
    assert r.status_code == 200
    assert r.json()["data"]["username"] == "admin"
    assert_error(client.get(f"{API}/me", headers=basic("admin", "wrong-password")), 401)


def _new_token(api: Api, name: str = "ci", scope: str = "read+write") -> dict[str, str]:
    r = api.post("/me/tokens", json={"name": name, "scope": scope})
    assert r.status_code == 201, r.text
    data: dict[str, str] = r.json()["data"]
    return data


def test_basic_and_bearer_with_api_token(client: TestClient, admin_api: Api) -> None:
    token = _new_token(admin_api)["token"]
    assert token.startswith("fdt_")
    for headers in (basic("admin", token), bearer(token)):
        me = client.get(f"{API}/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["data"]["username"] == "admin"
    # The token belongs to admin: another user name with it is refused.
    assert_error(client.get(f"{API}/me", headers=basic("someone", token)), 401)


def test_token_is_shown_once(admin_api: Api) -> None:
    created = _new_token(admin_api)
    assert set(created) >= {"id", "name", "prefix", "scope", "created_at", "expires_at", "token"}
    assert created["token"].startswith(created["prefix"])
    listed = admin_api.get("/me/tokens").json()
    assert listed["meta"]["count"] == 1
    assert listed["data"][0]["id"] == created["id"]
    assert "token" not in listed["data"][0]
    assert created["token"] not in str(listed)


def test_duplicate_token_name_is_409(admin_api: Api) -> None:
    _new_token(admin_api, "dup")
    assert_error(admin_api.post("/me/tokens", json={"name": "dup"}), 409, "conflict")


def test_token_expiry_in_the_past_is_422(admin_api: Api) -> None:
    r = admin_api.post("/me/tokens", json={"name": "old", "expires_at": "2001-01-01T00:00:00"})
    assert_error(r, 422, "validation_failed")


def test_read_scope_token_can_read_but_not_write(client: TestClient, admin_api: Api) -> None:
    token = _new_token(admin_api, "ro", scope="read")["token"]
    ro = Api(client, bearer(token))
    admin_api.post("/computers", json={"hostname": "pc0"})
    assert [c["hostname"] for c in ro.get("/computers").json()["data"]] == ["pc0"]
    audit = ro.get("/audit").json()["data"]  # reading the audit log is a read
    assert "computer.create" in {a["action"] for a in audit}
    assert_error(ro.post("/computers", json={"hostname": "pc1"}), 403, "permission_denied")
    assert_error(ro.post("/groups", json={"name": "g"}), 403)
    assert_error(ro.post("/me/tokens", json={"name": "escalate"}), 403)
    assert [c["hostname"] for c in admin_api.get("/computers").json()["data"]] == ["pc0"]
    assert admin_api.get("/groups").json()["meta"]["count"] == 0
    assert [t["name"] for t in admin_api.get("/me/tokens").json()["data"]] == ["ro"]


def test_revoked_token_is_401(client: TestClient, admin_api: Api) -> None:
    created = _new_token(admin_api)
    headers = bearer(created["token"])
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    assert admin_api.delete(f"/me/tokens/{created['id']}").status_code == 204
    assert_error(client.get(f"{API}/me", headers=headers), 401)
    assert_error(admin_api.delete(f"/me/tokens/{created['id']}"), 404)


def test_cannot_revoke_another_users_token(
    runtime: Runtime, system: Actor, client: TestClient, admin_api: Api
) -> None:
    created = _new_token(admin_api)
    viewer = make_user(runtime, system, client, "vera", Role.VIEWER)
    assert_error(viewer.delete(f"/me/tokens/{created['id']}"), 404)
    # the token survived: it still authenticates its owner and is still listed
    me = client.get(f"{API}/me", headers=bearer(created["token"]))
    assert me.status_code == 200 and me.json()["data"]["username"] == "admin"
    assert [t["id"] for t in admin_api.get("/me/tokens").json()["data"]] == [created["id"]]


def test_disabled_users_jwt_stops_working(
    runtime: Runtime, system: Actor, client: TestClient, admin_api: Api
) -> None:
    user = make_user(runtime, system, client, "dora", Role.OPERATOR)
    me = user.get("/me").json()["data"]
    assert me["username"] == "dora"
    uid = me["id"]
    r = admin_api.patch(f"/users/{uid}", json={"disabled": True})
    assert r.status_code == 200
    assert r.json()["data"]["disabled"] is True
    assert_error(user.get("/me"), 401)
    assert_error(client.post(f"{API}/auth/login", json={"username": "dora", "password": PASSWORD}), 401)


def test_password_change_invalidates_old_jwt(
    client: TestClient, admin_api: Api, runtime: Runtime, system: Actor
) -> None:
    user = make_user(runtime, system, client, "paul", Role.VIEWER)
    r = user.put(
        "/me/password", json={"current_password": "wrong-password", "new_password": "another-pass-2"}
    )
    assert_error(r, 403)
    r = user.put("/me/password", json={"current_password": PASSWORD, "new_password": "another-pass-2"})
    assert r.status_code == 204
    assert r.content == b""
    assert_error(user.get("/me"), 401)
    fresh = login(client, "paul", "another-pass-2")
    assert client.get(f"{API}/me", headers=bearer(fresh)).json()["data"]["username"] == "paul"


def test_short_new_password_is_422(admin_api: Api) -> None:
    r = admin_api.put("/me/password", json={"current_password": ADMIN_PASSWORD, "new_password": "short"})
    assert_error(r, 422, "validation_failed")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_docs_need_no_auth(client: TestClient, path: str) -> None:
    r = client.get(API + path)
    assert r.status_code == 200


def test_openapi_declares_both_security_schemes(app: Starlette, client: TestClient) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    assert spec["info"]["title"] == "fleetdeck API"
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["basic"]["scheme"] == "basic"
    assert "security" not in spec["paths"]["/auth/login"]["post"]
    assert {"bearer": []} in spec["paths"]["/computers"]["get"]["security"]
