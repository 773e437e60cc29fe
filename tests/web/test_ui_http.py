"""The web UI through HTTP, without a browser: login and its audit and throttle, cookie flags,
CSRF, sessions that end when the user changes, what a viewer may do, the computers list's
query string, and the API docs' assets."""

from __future__ import annotations

import re
import warnings

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.protocol import messages as m
from fleetdeck.web import create_web
from tests import factories
from tests.web.conftest import PASSWORD, csrf_of, login


@pytest.fixture
def alice(runtime: Runtime) -> Actor:
    return factories_user(runtime, "alice", Role.OPERATOR)


@pytest.fixture
def victor(runtime: Runtime) -> Actor:
    return factories_user(runtime, "victor", Role.VIEWER)


def factories_user(runtime: Runtime, name: str, role: Role) -> Actor:
    info = runtime.services.users.create(system_actor("test"), name, PASSWORD, role)
    return Actor(user_id=info.id, username=name, role=role, source="127.0.0.1", via="test")


def test_pages_need_a_login(client: TestClient) -> None:
    for path in ("/", "/computers", "/computers/1", "/account/password"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=" + path


def test_htmx_requests_without_a_session_are_sent_to_the_login(client: TestClient) -> None:
    r = client.get("/computers", headers={"hx-request": "true"}, follow_redirects=False)
    assert r.headers["hx-redirect"].startswith("/login")


def test_login_sets_a_strict_session_cookie_and_is_audited(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    mark = factories.audit_mark(runtime.services)
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "username": "alice",
            "password": PASSWORD,
            "next": "/computers",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/computers"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("fleetdeck_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    [entry] = [a for a in factories.audit_since(runtime.services, mark) if a.action == "auth.login"]
    assert (entry.username, entry.via, entry.result) == ("alice", "web", "ok")


def test_over_https_the_cookie_is_secure(app: Starlette, alice: Actor) -> None:
    with TestClient(app, base_url="https://testserver") as c:
        page = c.get("/login")
        r = c.post(
            "/login",
            data={"csrf_token": csrf_of(page.text), "username": "alice", "password": PASSWORD},
            follow_redirects=False,
        )
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("fleetdeck_session="))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "x"]
)
def test_next_never_leaves_the_server(client: TestClient, alice: Actor, target: str) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "username": "alice", "password": PASSWORD, "next": target},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_login_without_the_csrf_cookie_token_is_refused(client: TestClient, alice: Actor) -> None:
    client.get("/login")
    r = client.post(
        "/login",
        data={"csrf_token": "forged", "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303  # still logged out


def test_wrong_password_is_shown_audited_and_throttled(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    mark = factories.audit_mark(runtime.services)
    limit = runtime.settings.login_max_failures
    for _ in range(limit):
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"csrf_token": token, "username": "alice", "password": "nope"})
        assert r.status_code == 401
        assert "Wrong user name or password." in r.text
        assert 'value="alice"' in r.text  # the name stays filled in
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    assert r.status_code == 429
    assert "Too many failed logins" in r.text
    logins = [a for a in factories.audit_since(runtime.services, mark) if a.action == "auth.login"]
    assert [a.result for a in logins] == ["failed"] * limit + ["throttled"]
    assert {a.via for a in logins} == {"web"}


def test_empty_login_fields_are_a_clear_error(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"csrf_token": token, "username": "", "password": ""})
    assert r.status_code == 400
    assert "Enter your user name and password." in r.text


def test_forms_without_the_session_token_are_refused(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    csrf = login(client, "alice")
    r = client.post(f"/computers/{cid}/notes", data={"notes": "no token"})
    assert r.status_code == 403
    r = client.post(f"/computers/{cid}/notes", data={"notes": "bad", "csrf_token": "x" * 43})
    assert r.status_code == 403
    assert runtime.services.computers.get(alice, cid).summary.notes == ""
    # the form field or the header htmx sends
    r = client.post(
        f"/computers/{cid}/notes", data={"notes": "by form", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert runtime.services.computers.get(alice, cid).summary.notes == "by form"
    r = client.post(f"/computers/{cid}/notes", data={"notes": "by header"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200
    assert runtime.services.computers.get(alice, cid).summary.notes == "by header"
    assert "Notes saved." in r.text


def test_a_viewer_sees_no_write_form_and_core_refuses_anyway(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    runtime.services.computers.update(alice, cid, notes="read me")
    csrf = login(client, "victor")
    page = client.get(f"/computers/{cid}")
    assert page.status_code == 200
    assert "read me" in page.text
    assert "Save notes" not in page.text
    assert 'action="/computers/' not in page.text
    r = client.post(f"/computers/{cid}/notes", data={"notes": "mine", "csrf_token": csrf})
    assert r.status_code == 403
    assert "lacks permission manage_computers" in r.text
    assert runtime.services.computers.get(alice, cid).summary.notes == "read me"


@pytest.mark.parametrize("change", ["disable", "delete", "password"])
def test_the_session_ends_when_the_user_changes(
    client: TestClient, runtime: Runtime, admin: Actor, alice: Actor, change: str
) -> None:
    login(client, "alice")
    assert client.get("/").status_code == 200
    assert alice.user_id is not None
    if change == "disable":
        runtime.services.users.update(admin, alice.user_id, disabled=True)
    elif change == "delete":
        runtime.services.users.delete(admin, alice.user_id)
    else:
        runtime.services.users.set_password(admin, alice.user_id, "another-password-2")
    r = client.get("/computers", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].endswith("&expired=1")
    assert "Your session ended" in client.get(r.headers["location"]).text


def test_logout_ends_the_session_and_is_audited(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    csrf = login(client, "alice")
    cookie = client.cookies.get("fleetdeck_session")
    mark = factories.audit_mark(runtime.services)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303
    # the old cookie is dead on the server, not just deleted in this browser
    client.cookies.set("fleetdeck_session", cookie or "")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert [(a.action, a.username) for a in factories.audit_since(runtime.services, mark)] == [
        ("auth.logout", "alice")
    ]


def test_password_change(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    csrf = login(client, "alice")
    form = {
        "csrf_token": csrf,
        "current_password": "wrong",
        "new_password": "new-pass-123",
        "confirm": "new-pass-123",
    }
    r = client.post("/account/password", data=form)
    assert r.status_code == 400
    assert "The current password is wrong." in r.text
    r = client.post("/account/password", data={**form, "current_password": PASSWORD, "confirm": "other"})
    assert "differ" in r.text
    r = client.post(
        "/account/password", data={**form, "current_password": PASSWORD, "new_password": "x", "confirm": "x"}
    )
    assert r.status_code == 400
    r = client.post("/account/password", data={**form, "current_password": PASSWORD})
    assert r.status_code == 200
    assert "Your password was changed." in r.text
    assert client.get("/").status_code == 200  # this browser stays logged in, with a new session
    # the new password is the one core checks now
    runtime.services.users.authenticate_password("alice", "new-pass-123", "127.0.0.1", "test")


def test_dashboard_counts(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    ids = [factories.computer(s, alice, f"pc{n}") for n in range(3)]
    s.computers.set_online(
        ids[0], node_id=runtime.settings.node_id, remote_address="10.0.0.1", agent_version="1"
    )
    job = factories.commands(s, alice, ids[:2])
    factories.deliver(s, ids[0])
    factories.finish(s, ids[0], job[0], status="failed", exit_code=1)
    login(client, "alice")
    page = client.get("/").text
    assert re.search(r'id="computers-online">1</strong> of 3 online', page)
    assert "Jobs in the last 24 hours: queued 1, running 0, succeeded 0, failed 1" in page


def test_computers_list_filters_sorts_and_pages(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    ids = {
        name: factories.computer(s, alice, name, os=os, macs=["02:00:00:00:00:0" + str(n)])
        for n, (name, os) in enumerate(
            [
                ("web1", "Debian GNU/Linux"),
                ("web2", "Ubuntu"),
                ("db1", "Debian GNU/Linux"),
                ("mail", "Windows"),
            ]
        )
    }
    s.computers.set_online(
        ids["web2"], node_id=runtime.settings.node_id, remote_address="10.0.0.9", agent_version="1"
    )
    gid = factories.group(s, alice, "servers", [ids["db1"], ids["web1"]])
    login(client, "alice")

    def names(query: str) -> list[str]:
        page = client.get(
            "/computers" + query, headers={"hx-request": "true", "hx-target": "computers-table"}
        )
        assert page.status_code == 200
        assert "<html" not in page.text  # htmx gets the table alone
        return re.findall(r'<a href="/computers/\d+">([^<]+)</a>', page.text)

    assert names("") == ["db1", "mail", "web1", "web2"]
    assert names("?sort=-hostname") == ["web2", "web1", "mail", "db1"]
    assert names("?q=web") == ["web1", "web2"]
    assert names("?q=10.0.0.9") == ["web2"]
    assert names("?os=debian") == ["db1", "web1"]
    assert names(f"?group={gid}") == ["db1", "web1"]
    assert names("?online=yes") == ["web2"]
    assert names("?online=no&q=web") == ["web1"]
    assert names("?size=25&page=2") == []
    # what a user may type into the address bar falls back to defaults, never a 500
    assert names("?sort=password&size=7&page=-3&group=x&online=maybe") == ["db1", "mail", "web1", "web2"]
    full = client.get("/computers?q=web").text
    assert "<html" in full
    assert 'value="web"' in full


def test_computer_detail_shows_inventory_and_jobs(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1", os="Debian GNU/Linux", macs=["02:00:00:00:00:01"])
    factories.commands(s, alice, [cid], "uname -a")
    login(client, "alice")
    page = client.get(f"/computers/{cid}").text
    assert "Debian GNU/Linux" in page
    assert "02:00:00:00:00:01" in page
    assert "uname -a" in page
    assert "Save notes" in page  # an operator may
    assert client.get(f"/computers/{cid}/state").text.count("offline") >= 1
    missing = client.get("/computers/999", headers={"accept": "text/html"})
    assert missing.status_code == 404
    assert "computer 999 not found" in missing.text


def test_software_search(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    inv = m.Inventory(
        hostname="pc1",
        os="Debian GNU/Linux",
        software=[
            m.Software("openssl", "3.0.15"),
            m.Software("openssh-server", "9.2"),
            m.Software("vim", "9.0"),
        ],
        filesystems=[m.Filesystem("/", "ext4", 100 * 2**30, 25 * 2**30, "/dev/sda1")],
    )
    s.computers.record_inventory(agent_actor(cid, "pc1", "127.0.0.1"), cid, inv, m.inventory_digest(inv))
    login(client, "alice")
    page = client.get(f"/computers/{cid}").text
    assert "3 packages of 3" in page
    assert 'value="75" max="100"' in page  # / is 75 % used
    found = client.get(f"/computers/{cid}/software?q=OPENS").text
    assert "2 packages matching" in found
    assert "openssl" in found
    assert "openssh-server" in found
    assert "vim" not in found


def test_unknown_paths_stay_json_for_api_clients(client: TestClient) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert client.delete("/healthz").status_code == 405
    assert client.get("/api/v1/nothing").json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/redoc"])
def test_api_docs_load_only_local_assets(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', page.text)
    assert urls
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "cdn" not in page.text.lower()
    assert "fonts.googleapis" not in page.text
    for url in urls:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


def test_missing_assets_are_named_on_the_page(runtime: Runtime, tmp_path: object) -> None:
    web = create_web(runtime.services, assets_dir=tmp_path)  # type: ignore[arg-type]
    app = Starlette(routes=[web])
    with TestClient(app) as c:
        page = c.get("/login")
    assert page.status_code == 200
    assert "Browser assets of the web UI are missing (htmx.min.js" in page.text
    assert "make assets" in page.text
