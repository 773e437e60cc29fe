"""The UI's admin pages through HTTP: the audit log's filters and paging, enrollment tokens
(secret shown once, a working command line, revoke), users (create, disable) and one's own API
tokens; for each, CSRF, errors next to the field, and roles that may not see or use them."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.enrollment.service import AgentCredentials
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.query import Query
from tests import factories
from tests.web.conftest import login, user_actor

SECRET = re.compile(r'id="token-secret" readonly value="([^"]+)"')


@pytest.fixture
def ada(runtime: Runtime) -> Actor:
    return user_actor(runtime, "ada", Role.ADMIN)


def _ids(html: str, table: str) -> list[int]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', body)]


# ------------------------------------------------------------------ audit log


def test_audit_log_filters_and_pages(client: TestClient, runtime: Runtime, ada: Actor, alice: Actor) -> None:
    for n in range(60):
        factories.computer(runtime.services, alice, f"pc{n:02d}")
    login(client, "ada")
    page = client.get("/audit")
    assert page.status_code == 200
    assert "page 1 of" in page.text
    newest = _ids(page.text, "audit")
    assert len(newest) == 50 and newest == sorted(newest, reverse=True)
    older = _ids(client.get("/audit?page=2").text, "audit")
    assert older and max(older) < min(newest)
    by_alice = client.get("/audit", params={"user": "alice", "action": "computer.*"})
    rows = _ids(by_alice.text, "audit")
    assert len(rows) == 50 and "60 records" in by_alice.text
    logins = client.get("/audit", params={"action": "auth.login"}).text
    assert "1 record" in logins and ">ada<" in logins
    pc = runtime.services.computers.find(alice, Query(limit=1)).items[0]
    one = client.get("/audit", params={"object": f"computer {pc.id}"}).text
    assert len(_ids(one, "audit")) == 1
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert _ids(client.get("/audit", params={"since": future}).text, "audit") == []
    assert len(_ids(client.get("/audit", params={"until": future, "user": "alice"}).text, "audit")) == 50


def test_audit_log_bad_time_is_shown_next_to_the_field(client: TestClient, ada: Actor) -> None:
    login(client, "ada")
    r = client.get("/audit", params={"since": "yesterday"})
    assert r.status_code == 400
    assert 'id="since-error"' in r.text and "is not a date and time" in r.text


def test_audit_log_is_for_auditors_only(client: TestClient, alice: Actor) -> None:
    login(client, "alice")
    assert 'href="/audit"' not in client.get("/").text
    r = client.get("/audit")
    assert r.status_code == 403
    assert "lacks permission read_audit" in r.text


# ------------------------------------------------------------------ enrollment tokens


def test_enrollment_token_shown_once_and_it_enrolls(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    csrf = login(client, "alice")
    mark = factories.audit_mark(runtime.services)
    r = client.post("/enroll-tokens", data={"csrf_token": csrf, "note": "lab", "expires": "7d", "uses": "2"})
    assert r.status_code == 201
    token = SECRET.search(r.text)
    assert token
    secret = token.group(1)
    assert f"fleetdeck agent --server http://testserver --enroll-token {secret}" in r.text
    assert f"curl -fsSL &#39;http://testserver/install/agent.sh?token={secret}&#39; | sudo sh" in r.text
    [info] = runtime.services.enrollment.list_tokens(alice)
    assert (info.note, info.max_uses, info.revoked) == ("lab", 2, False)
    assert info.expires_at is not None
    assert timedelta(days=6) < info.expires_at.replace(tzinfo=UTC) - datetime.now(UTC) <= timedelta(days=7)
    [entry] = [a for a in factories.audit_since(runtime.services, mark) if a.action == "enroll_token.create"]
    assert (entry.username, entry.via) == ("alice", "web")
    listing = client.get("/enroll-tokens").text
    assert secret not in listing  # once only
    assert _ids(listing, "enroll-tokens") == [info.id]
    # the secret works: an agent enrolls with it
    creds = _enroll(runtime, secret)
    assert creds.computer_id > 0
    r = client.post(f"/enroll-tokens/{info.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert runtime.services.enrollment.list_tokens(alice)[0].revoked
    assert "revoked" in client.get("/enroll-tokens").text
    with pytest.raises(AuthenticationFailed):
        _enroll(runtime, secret)


def _enroll(runtime: Runtime, secret: str) -> AgentCredentials:
    return runtime.services.enrollment.enroll(
        secret, hostname="lab1", machine_id="m-lab1", agent_version="1", source="127.0.0.1"
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"uses": "0"}, "uses", "Uses is a number from 1 to 1000000"),
        ({"uses": "many"}, "uses", "Uses is a number from 1 to 1000000"),
        ({"expires": "forever"}, "expires", "Choose how long the token is valid."),
        ({"note": "x" * 300}, "note", "The note is at most 250 characters."),
    ],
)
def test_bad_enrollment_token_forms(
    client: TestClient, runtime: Runtime, alice: Actor, fields: dict[str, str], field: str, message: str
) -> None:
    csrf = login(client, "alice")
    r = client.post(
        "/enroll-tokens", data={"csrf_token": csrf, "note": "", "expires": "1d", "uses": "", **fields}
    )
    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text and message in r.text
    assert runtime.services.enrollment.list_tokens(alice) == []


def test_enrollment_tokens_refused_to_viewers_and_without_csrf(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    new = runtime.services.enrollment.create_token(alice)
    csrf = login(client, "victor")
    assert 'href="/enroll-tokens"' not in client.get("/").text
    assert client.get("/enroll-tokens").status_code == 403
    r = client.post("/enroll-tokens", data={"csrf_token": csrf, "expires": "1d"})
    assert r.status_code == 403 and "lacks permission manage_enrollment" in r.text
    r = client.post(f"/enroll-tokens/{new.info.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "alice")
    assert client.post(f"/enroll-tokens/{new.info.id}/revoke", data={}).status_code == 403  # no token
    assert len(runtime.services.enrollment.list_tokens(alice)) == 1
    assert not runtime.services.enrollment.list_tokens(alice)[0].revoked


# ------------------------------------------------------------------ users


def test_admin_creates_and_disables_a_user(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    csrf = login(client, "ada")
    form = {"csrf_token": csrf, "username": "bob", "role": "operator", "full_name": "Bob B", "email": ""}
    r = client.post("/users", data={**form, "password": "bob-password-1", "confirm": "bob-password-1"})
    assert r.status_code == 200 and "User created bob." in r.text
    bob = next(u for u in runtime.services.users.list_users(ada) if u.username == "bob")
    assert (bob.role, bob.full_name, bob.disabled) == (Role.OPERATOR, "Bob B", False)
    runtime.services.users.password_login("bob", "bob-password-1", "127.0.0.1", "test")
    r = client.post(f"/users/{bob.id}/disable", data={"csrf_token": csrf})
    assert r.status_code == 200 and "User disabled bob." in r.text
    assert runtime.services.users.get(ada, bob.id).disabled
    with pytest.raises(AuthenticationFailed):
        runtime.services.users.password_login("bob", "bob-password-1", "127.0.0.1", "test")
    client.post(f"/users/{bob.id}/enable", data={"csrf_token": csrf})
    assert not runtime.services.users.get(ada, bob.id).disabled
    actions = [a.action for a in factories.audit_since(runtime.services, 0) if a.via == "web"]
    assert actions.count("user.create") == 1 and actions.count("user.update") == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": ""}, "username", "Enter a user name."),
        ({"username": "no spaces"}, "username", "user name must be"),
        ({"confirm": "other-password-1"}, "password", "The password and its confirmation differ."),
        ({"password": "short", "confirm": "short"}, "password", "at least"),
        ({"username": "ada"}, "username", "exists"),
    ],
)
def test_bad_user_forms(
    client: TestClient, runtime: Runtime, ada: Actor, fields: dict[str, str], field: str, message: str
) -> None:
    csrf = login(client, "ada")
    data = {"csrf_token": csrf, "username": "carol", "role": "viewer", "password": "carol-pass-1"}
    data |= {"confirm": "carol-pass-1", **fields}
    r = client.post("/users", data=data)
    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text and message in r.text
    assert [u.username for u in runtime.services.users.list_users(ada)] == ["ada"]


def test_users_page_is_for_admins_only(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor
) -> None:
    csrf = login(client, "alice")
    assert 'href="/users"' not in client.get("/").text
    assert client.get("/users").status_code == 403
    form = {"csrf_token": csrf, "username": "mallory", "role": "admin", "password": "mallory-pw-1"}
    r = client.post("/users", data={**form, "confirm": "mallory-pw-1"})
    assert r.status_code == 403 and "lacks permission manage_users" in r.text
    assert ada.user_id is not None
    assert client.post(f"/users/{ada.user_id}/disable", data={"csrf_token": csrf}).status_code == 403
    assert not runtime.services.users.get(ada, ada.user_id).disabled
    assert "mallory" not in [u.username for u in runtime.services.users.list_users(ada)]


# ------------------------------------------------------------------ own API tokens


def test_own_api_token_created_once_works_and_is_revoked(
    client: TestClient, runtime: Runtime, victor: Actor
) -> None:
    csrf = login(client, "victor")
    r = client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "script", "scope": "read", "expires": "1d"}
    )
    assert r.status_code == 201
    found = SECRET.search(r.text)
    assert found
    secret = found.group(1)
    assert runtime.services.users.authenticate_bearer(secret, "127.0.0.1", "test").username == "victor"
    [info] = runtime.services.users.list_tokens(victor)
    assert (info.name, info.scope) == ("script", "read")
    page = client.get("/account/tokens").text
    assert secret not in page and _ids(page, "api-tokens") == [info.id]
    assert client.post(f"/account/tokens/{info.id}/revoke", data={}).status_code == 403  # no CSRF
    r = client.post(f"/account/tokens/{info.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert runtime.services.users.list_tokens(victor) == []
    with pytest.raises(AuthenticationFailed):
        runtime.services.users.authenticate_bearer(secret, "127.0.0.1", "test")


def test_bad_api_token_forms_and_other_peoples_tokens(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    theirs = runtime.services.users.create_token(alice, "alice's", "read", None)
    csrf = login(client, "victor")
    r = client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "", "scope": "read", "expires": "1d"}
    )
    assert r.status_code == 400 and 'id="name-error"' in r.text
    r = client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "x", "scope": "root", "expires": "1d"}
    )
    assert r.status_code == 400 and 'id="scope-error"' in r.text and "scope must be one of" in r.text
    assert runtime.services.users.list_tokens(victor) == []
    r = client.post(f"/account/tokens/{theirs.info.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 404
    assert [t.id for t in runtime.services.users.list_tokens(alice)] == [theirs.info.id]


@pytest.mark.parametrize(
    "path",
    ["/commands", "/commands/new", "/commands/1", "/audit", "/enroll-tokens", "/users", "/account/tokens"],
)
def test_new_pages_need_a_login(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + path


@pytest.mark.parametrize(
    "path",
    [
        "/commands",
        "/jobs/1/cancel",
        "/enroll-tokens",
        "/enroll-tokens/1/revoke",
        "/users",
        "/users/1/disable",
    ],
)
def test_new_forms_without_a_session_change_nothing(client: TestClient, runtime: Runtime, path: str) -> None:
    mark = factories.audit_mark(runtime.services)
    r = client.post(path, data={"command": "id", "computer": "1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert factories.audit_since(runtime.services, mark) == []
