"""Who calls: the API key alone (the built-in API user), X-RPC-Auth-Username/-Password on a
request, or an idoit.login session in X-RPC-Auth-Session; idoit.enforce_auth; permissions of
the fleetdeck user."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from tests.dialects.idoit.conftest import Idoit

ADMIN = {"X-RPC-Auth-Username": "admin", "X-RPC-Auth-Password": "admin-password-1"}


def test_api_key_alone_runs_as_the_api_user(idoit: Idoit) -> None:
    login = idoit.ok("idoit.version")["login"]
    assert (login["userid"], login["username"], login["tenant"], login["mandator"]) == (
        "22",
        "Api System",
        "fleetdeck",
        "fleetdeck",
    )


def test_login_session_logout(idoit: Idoit) -> None:
    r = idoit.post(idoit.request("idoit.login"), headers=ADMIN)
    body = r.json()["result"]
    sid = r.headers["X-RPC-Auth-Session"]
    assert body["session-id"] == sid and body["result"] is True and body["username"] == "admin"
    assert "X-RPC-Auth-Session" in r.headers["access-control-expose-headers"]
    again = idoit.post(idoit.request("idoit.version"), headers={"X-RPC-Auth-Session": sid})
    assert again.json()["result"]["login"]["username"] == "admin"
    assert again.headers["X-RPC-Auth-Session"] == sid
    out = idoit.post(idoit.request("idoit.logout"), headers={"X-RPC-Auth-Session": sid}).json()
    assert out["result"] == {"message": "Logout successful", "result": True}
    gone = idoit.error("idoit.version", headers={"X-RPC-Auth-Session": sid})
    assert gone["code"] == -32604


def test_bad_credentials_and_login_without_them(idoit: Idoit) -> None:
    bad = {"X-RPC-Auth-Username": "admin", "X-RPC-Auth-Password": "wrong"}
    assert idoit.error("idoit.version", headers=bad)["code"] == -32604
    assert idoit.error("idoit.login")["code"] == -32604
    assert idoit.error("idoit.version", headers={"X-RPC-Auth-Session": "nope"})["code"] == -32604
    # the API key is checked first
    assert (
        Idoit(idoit.client, "wrong")
        .error("idoit.version", headers=bad)["data"]["error"]
        .startswith("The API key")
    )


def test_header_credentials_per_request(idoit: Idoit) -> None:
    assert idoit.ok("idoit.version", headers=ADMIN)["login"]["username"] == "admin"


def test_basic_auth_is_ignored(idoit: Idoit) -> None:
    assert idoit.ok("idoit.version", headers={"Authorization": "Basic Zm9vOmJhcg=="})["login"][
        "username"
    ] == ("Api System")


def test_enforce_auth(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, "idoit.enforce_auth", True)
    err = idoit.error("idoit.version")
    assert err["code"] == -32604 and err["data"]["error"] == "Login required."
    assert idoit.ok("idoit.version", headers=ADMIN)["login"]["username"] == "admin"


def test_viewer_may_read_not_write(idoit: Idoit, runtime: Runtime, system: Actor) -> None:
    runtime.services.users.create(system, "vera", "viewer-password-1", Role.VIEWER)
    viewer = {"X-RPC-Auth-Username": "vera", "X-RPC-Auth-Password": "viewer-password-1"}
    # the users are person objects; nothing else exists
    persons = idoit.ok("cmdb.objects.read", headers=viewer)
    assert {(r["title"], r["type"]) for r in persons} == {("admin", 53), ("vera", 53)}
    err = idoit.error("cmdb.object.create", {"type": 5, "title": "x"}, headers=viewer)
    assert err["code"] == -32604
    assert idoit.ok("cmdb.objects.read", headers=viewer) == persons
