"""An admin's page for one user through HTTP: change the role, delete after a confirmation
page, another user's API tokens listed and revoked; each read back from core with its audit
record (``via`` = ``web``). Core's rules shown on the page: never yourself, at least one enabled
admin. A bad role is said next to the field; no CSRF token, no change; an operator or viewer
sees no page and core refuses their forged forms."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed, NotFound
from tests import factories
from tests.web.conftest import login, user_actor


@pytest.fixture
def ada(runtime: Runtime) -> Actor:
    return user_actor(runtime, "ada", Role.ADMIN)


def test_admin_changes_a_role_and_revokes_another_users_token(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor
) -> None:
    s = runtime.services
    token = s.users.create_token(alice, "backup script", "read+write", None)
    csrf = login(client, "ada")
    assert f'href="/users/{alice.user_id}"' in client.get("/users").text
    page = client.get(f"/users/{alice.user_id}")
    assert page.status_code == 200
    assert "backup script" in page.text and token.info.prefix in page.text and token.token not in page.text
    assert "<option selected>operator</option>" in page.text and 'id="delete-user"' in page.text
    mark = factories.audit_mark(s)
    r = client.post(f"/users/{alice.user_id}/role", data={"csrf_token": csrf, "role": "viewer"})
    assert r.status_code == 200 and "role is now viewer" in r.text
    assert s.users.get(ada, alice.user_id or 0).role is Role.VIEWER
    r = client.post(f"/users/{alice.user_id}/tokens/{token.info.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 200 and "token revoked" in r.text and "No API tokens." in r.text
    assert s.users.list_tokens(ada, alice.user_id) == []
    with pytest.raises(AuthenticationFailed):
        s.users.authenticate_bearer(token.token, "127.0.0.1", "test")
    done = [(a.action, a.username, a.via, a.result) for a in factories.audit_since(s, mark)]
    assert ("user.update", "ada", "web", "ok") in done and ("token.revoke", "ada", "web", "ok") in done
    # disable from the user's page goes through the list's route
    r = client.post(f"/users/{alice.user_id}/disable", data={"csrf_token": csrf})
    assert r.status_code == 200 and s.users.get(ada, alice.user_id or 0).disabled


def test_delete_asks_first_and_then_deletes_once(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor
) -> None:
    s = runtime.services
    s.users.create_token(alice, "t1", "read", None)
    csrf = login(client, "ada")
    mark = factories.audit_mark(s)
    confirm = client.get(f"/users/{alice.user_id}/delete")
    assert confirm.status_code == 200 and "Delete alice?" in confirm.text and "1 API token " in confirm.text
    assert s.users.get(ada, alice.user_id or 0).username == "alice"  # asking changes nothing
    assert [a for a in factories.audit_since(s, mark) if a.action == "user.delete"] == []
    r = client.post(f"/users/{alice.user_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "User deleted alice." in r.text
    with pytest.raises(NotFound):
        s.users.get(ada, alice.user_id or 0)
    [entry] = [a for a in factories.audit_since(s, mark) if a.action == "user.delete"]
    assert (entry.username, entry.via, entry.result) == ("ada", "web", "ok")
    assert client.get(f"/users/{alice.user_id}").status_code == 404


def test_core_rules_are_shown_next_to_the_button(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    s = runtime.services
    csrf = login(client, "ada")
    own = client.get(f"/users/{ada.user_id}")
    assert own.status_code == 200 and 'id="yourself"' in own.text
    assert 'id="role-form"' not in own.text and 'id="delete-user"' not in own.text
    # forged: deleting yourself, demoting the last admin
    r = client.post(f"/users/{ada.user_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and 'id="delete-error"' in r.text and "you cannot delete yourself" in r.text
    r = client.post(f"/users/{ada.user_id}/role", data={"csrf_token": csrf, "role": "viewer"})
    assert r.status_code == 409 and 'id="role-error"' in r.text and "at least one enabled admin" in r.text
    assert s.users.get(ada, ada.user_id or 0).role is Role.ADMIN
    for role in ("root", "", "<b>"):
        r = client.post(f"/users/{ada.user_id}/role", data={"csrf_token": csrf, "role": role})
        assert r.status_code == 400 and "Choose one of the roles." in r.text and "<b>" not in r.text
    assert client.get("/users/424242").status_code == 404
    assert client.post("/users/424242/delete", data={"csrf_token": csrf}).status_code == 404


def test_no_csrf_no_change_and_no_admin_no_page(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor, victor: Actor
) -> None:
    s = runtime.services
    token = s.users.create_token(ada, "ada's", "read", None)
    login(client, "ada")
    assert client.post(f"/users/{alice.user_id}/role", data={"role": "admin"}).status_code == 403
    assert client.post(f"/users/{alice.user_id}/delete", data={}).status_code == 403
    assert s.users.get(ada, alice.user_id or 0).role is Role.OPERATOR
    client.cookies.clear()
    for name in ("alice", "victor"):
        csrf = login(client, name)
        mark = factories.audit_mark(s)
        assert f'href="/users/{ada.user_id}"' not in client.get("/").text
        for path in (f"/users/{ada.user_id}", f"/users/{ada.user_id}/delete"):
            assert client.get(path).status_code == 403, path
        r = client.post(f"/users/{victor.user_id}/role", data={"csrf_token": csrf, "role": "admin"})
        assert r.status_code == 403 and "lacks permission manage_users" in r.text
        assert client.post(f"/users/{ada.user_id}/delete", data={"csrf_token": csrf}).status_code == 403
        # someone else's token: core answers "not found", never revoking it
        r = client.post(f"/users/{ada.user_id}/tokens/{token.info.id}/revoke", data={"csrf_token": csrf})
        assert r.status_code == 404
        results = {(a.action, a.result) for a in factories.audit_since(s, mark)}
        assert ("user.update", "denied") in results and ("user.delete", "denied") in results
        client.cookies.clear()
    assert s.users.get(ada, victor.user_id or 0).role is Role.VIEWER
    assert [t.id for t in s.users.list_tokens(ada)] == [token.info.id]
    with pytest.raises(Exception, match="manage_users"):
        s.users.list_tokens(victor, ada.user_id)
