"""Users, user groups with rportd's 8 permissions (and what they decide in core), API token
scopes, the audit log view, envelope details, query counts of the lists, swagger.yaml and the
native listener on a real socket."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.settings import Settings
from tests.dialects.rport.conftest import API, PASSWORD, basic, bearer, login
from tests.dialects.rport.conftest import user as _user
from tests.live_server import running

PERMISSIONS = ("tunnels", "scripts", "commands", "vault", "scheduler", "monitoring", "uploads", "auditlog")
CORE = {
    "tunnels": Perm.REMOTE_ACCESS,
    "scripts": Perm.RUN_SCRIPTS,
    "commands": Perm.RUN_COMMANDS,
    "vault": Perm.USE_VAULT,
    "scheduler": Perm.MANAGE_SCHEDULES,
    "monitoring": Perm.READ_MONITORING,
    "uploads": Perm.UPLOAD_FILES,
    "auditlog": Perm.READ_AUDIT,
}


def test_user_crud(client: Any, as_admin: dict[str, str]) -> None:
    _user(client, as_admin, "bob", ["ops"])
    short = client.post(f"{API}/users", headers=as_admin, json={"username": "x", "password": "short"})
    assert short.status_code == 400  # rportd's 14 characters
    dup = client.post(f"{API}/users", headers=as_admin, json={"username": "BOB", "password": PASSWORD})
    assert dup.status_code == 409
    assert (
        client.put(f"{API}/users/bob", headers=as_admin, json={"groups": ["ops", "dev"]}).status_code == 204
    )
    listed = client.get(f"{API}/users", headers=as_admin).json()["data"]
    assert [(u["username"], u["groups"]) for u in listed] == [
        ("admin", ["Administrators"]),
        ("bob", ["ops", "dev"]),
    ]
    assert client.put(f"{API}/users/nobody", headers=as_admin, json={}).status_code == 404
    assert client.delete(f"{API}/users/bob", headers=as_admin).status_code == 204
    assert client.delete(f"{API}/users/bob", headers=as_admin).status_code == 404
    assert client.delete(f"{API}/users/admin", headers=as_admin).status_code == 409  # not oneself


def test_administrators_membership_is_admin(client: Any, runtime: Runtime, as_admin: dict[str, str]) -> None:
    carol = _user(client, as_admin, "carol", ["Administrators"])
    assert client.get(f"{API}/users", headers=carol).status_code == 200
    assert client.put(f"{API}/users/carol", headers=as_admin, json={"groups": ["ops"]}).status_code == 204
    carol = bearer(login(client, "carol", PASSWORD))
    refused = client.get(f"{API}/users", headers=carol)
    assert refused.status_code == 403
    assert "Administrators" in refused.json()["errors"][0]["title"]


@pytest.mark.parametrize("perm", PERMISSIONS)
def test_each_permission_on_and_off(
    perm: str, client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    """The group's switch decides the member's permission in core, for every transport."""
    _user(client, as_admin, "dora", ["team"])
    for on in (True, False, True):
        body = {"permissions": {perm: on}}
        group = client.put(f"{API}/user-groups/team", headers=as_admin, json=body)
        assert group.status_code == 200
        assert group.json()["data"]["permissions"][perm] is on
        actor = runtime.services.users.authenticate_password("dora", PASSWORD, "127.0.0.1", "test")
        assert actor.can(CORE[perm]) is on
        me = client.get(f"{API}/me", headers=basic("dora", PASSWORD)).json()["data"]
        assert me["effective_user_permissions"] == {p: (p == perm and on) for p in PERMISSIONS}
        if perm == "auditlog":
            code = client.get(f"{API}/auditlog", headers=basic("dora", PASSWORD)).status_code
            assert code == (200 if on else 403)


def test_user_group_rules(client: Any, as_admin: dict[str, str]) -> None:
    bad = client.put(f"{API}/user-groups/g", headers=as_admin, json={"permissions": {"fly": True}})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["title"] == "invalid permission: fly"
    restricted = {"commands_restricted": {"allow": ["^/usr/bin/.*"]}}
    got = client.put(f"{API}/user-groups/g", headers=as_admin, json=restricted).json()["data"]
    assert got["commands_restricted"] == {"allow": ["^/usr/bin/.*"]}
    assert set(got["permissions"]) == set(PERMISSIONS)
    assert client.get(f"{API}/user-groups/g", headers=as_admin).status_code == 200
    assert client.delete(f"{API}/user-groups/g", headers=as_admin).status_code == 204
    assert client.get(f"{API}/user-groups/g", headers=as_admin).status_code == 404


def test_group_restrictions_keep_rports_keys_and_types(client: Any, as_admin: dict[str, str]) -> None:
    """What is stored is what rportd's UserGroup schema allows back: unknown keys and wrong
    types are refused, a null is the same as leaving the key out."""
    for wrong in ({"teleport": True}, {"skip-idle-timeout": "yes"}, {"idle-timeout-minutes": {"min": "1"}}):
        bad = client.put(f"{API}/user-groups/g", headers=as_admin, json={"tunnels_restricted": wrong})
        assert bad.status_code == 400, wrong
    body = {"tunnels_restricted": {"skip-idle-timeout": None, "http_proxy": True, "scheme": ["ssh"]}}
    got = client.put(f"{API}/user-groups/g", headers=as_admin, json=body).json()["data"]
    assert got["tunnels_restricted"] == {"http_proxy": True, "scheme": ["ssh"]}
    again = client.get(f"{API}/user-groups/g", headers=as_admin).json()["data"]
    assert again["tunnels_restricted"] == {"http_proxy": True, "scheme": ["ssh"]}


def test_non_admin_audit_log_is_their_own(client: Any, as_admin: dict[str, str]) -> None:
    client.put(f"{API}/user-groups/auditors", headers=as_admin, json={"permissions": {"auditlog": True}})
    _user(client, as_admin, "fred", ["auditors"])
    mine = client.get(f"{API}/auditlog", headers=basic("fred", PASSWORD), params={"page[limit]": 100})
    assert mine.status_code == 200
    assert {e["username"] for e in mine.json()["data"]} <= {"fred"}
    refused = client.get(
        f"{API}/auditlog", headers=basic("fred", PASSWORD), params={"filter[username]": "admin"}
    )
    assert refused.status_code == 403
    every = client.get(f"{API}/auditlog", headers=as_admin, params={"filter[application]": "auth.user"})
    assert every.json()["meta"]["count"] >= 1
    assert {e["application"] for e in every.json()["data"]} == {"auth.user"}
    too_big = client.get(f"{API}/auditlog", headers=as_admin, params={"page[limit]": 101})
    assert too_big.status_code == 400
    assert too_big.json()["errors"][0]["title"] == "pagination limit too big (101) maximum is 100"
    unsorted = client.get(f"{API}/auditlog", headers=as_admin, params={"sort": "nope"})
    assert unsorted.json()["errors"][0]["title"] == "unsupported sort field 'nope'"


def test_api_token_scopes(client: Any, as_admin: dict[str, str]) -> None:
    made = client.post(f"{API}/me/tokens", headers=as_admin, json={"name": "ro", "scope": "read"})
    assert made.status_code == 200
    token = made.json()["data"]
    assert token["scope"] == "read"
    assert token["expires_at"] is not None  # a year by default
    ro = basic("admin", token["token"])
    assert client.get(f"{API}/me", headers=ro).status_code == 200
    refused = client.put(f"{API}/me", headers=ro, json={"two_fa_send_to": "a@example.org"})
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["title"] == (
        "the scope of the provided token is not authorized for this operation"
    )
    ca = client.post(f"{API}/me/tokens", headers=as_admin, json={"name": "ca", "scope": "clients-auth"})
    ca_auth = basic("admin", ca.json()["data"]["token"])
    assert client.get(f"{API}/me", headers=ca_auth).status_code == 401
    listed = client.get(f"{API}/me/tokens", headers=as_admin).json()["data"]
    assert [(t["name"], t["scope"]) for t in listed] == [("ro", "read"), ("ca", "clients-auth")]
    assert "token" not in listed[0]
    prefix = token["prefix"]
    renamed = client.put(f"{API}/me/tokens/{prefix}", headers=as_admin, json={"name": "ro2"})
    assert renamed.json()["data"]["name"] == "ro2"
    assert client.delete(f"{API}/me/tokens/{prefix}", headers=as_admin).status_code == 204
    assert client.get(f"{API}/me", headers=ro).status_code == 401
    assert client.get(f"{API}/me/token", headers=as_admin).status_code == 410


def test_clients_auth_tokens_are_for_admins(client: Any, as_admin: dict[str, str]) -> None:
    gina = _user(client, as_admin, "gina", ["ops"])
    r = client.post(f"{API}/me/tokens", headers=gina, json={"name": "ca", "scope": "clients-auth"})
    assert r.status_code == 403


def test_me_ip_status_and_errors(client: Any, as_admin: dict[str, str]) -> None:
    assert client.get(f"{API}/me/ip", headers=as_admin).json() == {"data": {"ip": "testclient"}}
    status = client.get(f"{API}/status", headers=as_admin).json()["data"]
    assert status["password_min_length"] == 14
    assert status["two_fa_enabled"] is False
    assert client.get(f"{API}/no/such", headers=as_admin).json()["errors"][0]["title"] == "not found"
    assert client.patch(f"{API}/me", headers=as_admin).status_code == 405
    unknown = client.put(f"{API}/me", headers=as_admin, json={"nick": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["title"] == "Invalid JSON data."


def test_swagger_names_this_server(client: Any) -> None:
    r = client.get(f"{API}/docs/swagger.yaml")
    assert r.status_code == 200
    assert "- url: http://testserver/rport/api/v1\n" in r.text
    assert "url: http://yourserver" not in r.text


@pytest.mark.parametrize(
    "path", ["/users", "/user-groups", "/auditlog", "/me/tokens", "/users/admin/sessions"]
)
def test_list_query_counts_are_constant(
    path: str, client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    """Each list runs the same number of statements with 1 and with 6 of everything."""

    def count() -> int:
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            # the request's reads; the app's housekeeping (leases, presence) runs meanwhile
            if statement.lstrip().upper().startswith("SELECT") and any(
                f"FROM {t}" in statement for t in TABLES
            ):
                statements.append(statement)

        event.listen(runtime.db.engine, "before_cursor_execute", seen)
        try:
            assert client.get(API + path, headers=as_admin).status_code == 200
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", seen)
        return len(statements)

    def grow(i: int) -> None:
        client.put(f"{API}/user-groups/g{i}", headers=as_admin, json={"permissions": {"commands": True}})
        client.post(
            f"{API}/users",
            headers=as_admin,
            json={"username": f"u{i}", "password": PASSWORD, "groups": [f"g{i}"]},
        )
        client.post(f"{API}/me/tokens", headers=as_admin, json={"name": f"t{i}", "scope": "read"})
        login(client, "admin", "admin-password-1")

    grow(0)
    count()  # warm: the session's end was pushed by the first request
    first = count()
    for i in range(1, 6):
        grow(i)
    count()
    assert count() == first


TABLES = ("web_sessions", "users", "api_tokens", "user_groups", "user_group_members", "audit_log")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_native_listener(settings: Settings, runtime: Runtime, admin: Actor) -> None:
    """With rport.listen set, rportd's own paths answer on that address, over a real socket."""
    port = _free_port()
    runtime.services.settings.set(admin, keys.LISTEN_KEY, f"127.0.0.1:{port}")
    with running(settings, runtime) as live:
        native = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/login", auth=("admin", "admin-password-1"), timeout=10
        )
        assert native.status_code == 200
        token = native.json()["data"]["token"]
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers=bearer(token), timeout=10)
        assert me.json()["data"]["username"] == "admin"
        # the same session on the main port's prefix; the main port's /api/v1 is fleetdeck's own
        assert httpx.get(f"{live.url}{API}/me", headers=bearer(token), timeout=10).status_code == 200
        spec = httpx.get(f"http://127.0.0.1:{port}/api/v1/docs/swagger.yaml", timeout=10).text
        assert f"- url: http://127.0.0.1:{port}/api/v1\n" in spec
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=2)


def test_me_put(client: Any, as_admin: dict[str, str]) -> None:
    hana = _user(client, as_admin, "hana", ["ops"])
    new = PASSWORD + "-new"
    assert client.put(f"{API}/me", headers=hana, json={"password": new}).status_code == 403
    wrong = client.put(f"{API}/me", headers=hana, json={"password": new, "old_password": "nope"})
    assert wrong.status_code == 403
    ok = client.put(f"{API}/me", headers=hana, json={"password": new, "old_password": PASSWORD})
    assert ok.status_code == 204
    assert client.get(f"{API}/me", headers=hana).status_code == 401  # the sessions ended
    hana = bearer(login(client, "hana", new))
    assert client.put(f"{API}/me", headers=hana, json={"username": "hanna"}).status_code == 204
    assert client.get(f"{API}/me", headers=basic("hanna", new)).json()["data"]["username"] == "hanna"
