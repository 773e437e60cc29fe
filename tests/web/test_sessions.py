"""The web UI's sessions in the database (core ``SessionService``): they survive a restart of a
real server process and are valid in a second application on the same database, store only a
hash of the cookie, end when idle or at their end, when the user changes, on logout, on a
password change; a token login's session ends with its token; the housekeeping duty purges
ended ones. Run on SQLite and PostgreSQL (FLEETDECK_TEST_DB)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.housekeeping import standard_duties
from fleetdeck.core.secrets import SecretBox
from fleetdeck.core.users.entities import Credential
from fleetdeck.core.users.sessions import SessionService
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import WebSession
from fleetdeck.storage.uow import UnitOfWork
from fleetdeck.web.sessions import same_token
from tests import factories
from tests.conftest import SECRET
from tests.e2e.conftest import ServerProc
from tests.web.conftest import PASSWORD, csrf_of, login

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Clock:
    """A clock the test moves (core takes its clock as a parameter)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def store(runtime: Runtime, clock: Clock, lifetime: int = 3600, idle: int = 600) -> SessionService:
    s = runtime.services
    return SessionService(runtime.db, s.audit, s.users, SecretBox(SECRET), clock, lifetime, idle)


def stored(runtime: Runtime) -> list[WebSession]:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        rows = list(uow.session.scalars(select(WebSession).order_by(WebSession.id)))
        uow.session.expunge_all()
        return rows


def test_only_a_hash_of_the_cookie_is_stored(runtime: Runtime, alice: Actor) -> None:
    actor, credential = runtime.services.users.session_login("alice", PASSWORD, "127.0.0.1", "web")
    started = runtime.services.sessions.start(actor, credential, "127.0.0.1")
    [row] = stored(runtime)
    assert started.secret not in {row.secret_hash, row.source, row.method}
    assert row.secret_hash == SecretBox(SECRET).keyed_hash(started.secret)
    assert (row.user_id, row.method, row.via, row.token_id) == (alice.user_id, "password", "web", None)
    again, info = runtime.services.sessions.resume(started.secret, "127.0.0.1", "web")
    assert again.username == "alice"
    # the CSRF token is derived from the secret: not in the table, different per session
    assert info.csrf == started.info.csrf and info.csrf not in row.secret_hash
    other = runtime.services.sessions.start(actor, credential, "127.0.0.1")
    assert other.info.csrf != info.csrf and other.secret != started.secret


def test_sessions_end_when_idle_and_at_their_end_and_are_purged(runtime: Runtime, alice: Actor) -> None:
    clock = Clock()
    sessions = store(runtime, clock, lifetime=3600, idle=600)
    actor, credential = runtime.services.users.session_login("alice", PASSWORD, "127.0.0.1", "web")
    idle = sessions.start(actor, credential, "127.0.0.1")
    busy = sessions.start(actor, credential, "127.0.0.1")
    short = sessions.start(actor, credential, "127.0.0.1", ends=clock.now + timedelta(seconds=900))
    for _ in range(6):  # busy is used every 5 minutes: its idle expiry moves on
        clock.now += timedelta(seconds=300)
        sessions.resume(busy.secret, "127.0.0.1", "web")
    # 30 minutes: idle (10 min without use) and short (its own end at 15 min) have ended
    for ended in (idle, short):
        with pytest.raises(Exception, match="session ended"):
            sessions.resume(ended.secret, "127.0.0.1", "web")
    clock.now += timedelta(seconds=1800)
    with pytest.raises(Exception, match="session ended"):  # used within its idle time, but past its end
        sessions.resume(busy.secret, "127.0.0.1", "web")
    assert stored(runtime) == []  # a refused session's row is deleted at once
    # rows nobody asks for again are left to the purge
    forgotten = sessions.start(actor, credential, "127.0.0.1")
    fresh = sessions.start(actor, credential, "127.0.0.1")
    clock.now += timedelta(seconds=300)
    sessions.resume(fresh.secret, "127.0.0.1", "web")
    clock.now += timedelta(seconds=301)  # forgotten: 601 s without use, fresh: 301 s
    assert sessions.purge() == 1
    assert [r.secret_hash for r in stored(runtime)] == [SecretBox(SECRET).keyed_hash(fresh.secret)]
    assert forgotten.secret != fresh.secret


def test_the_housekeeping_duty_purges_ended_sessions(runtime: Runtime, alice: Actor) -> None:
    actor, credential = runtime.services.users.session_login("alice", PASSWORD, "127.0.0.1", "web")
    runtime.services.sessions.start(
        actor, credential, "127.0.0.1", ends=datetime.now(UTC) - timedelta(seconds=1)
    )
    live = runtime.services.sessions.start(actor, credential, "127.0.0.1")
    duty = {d.name: d for d in standard_duties(runtime.services)}["sessions.purge"]
    assert duty.run() == 1
    assert len(stored(runtime)) == 1
    runtime.services.sessions.resume(live.secret, "127.0.0.1", "web")


def test_unknown_and_silly_cookies_are_no_session(runtime: Runtime) -> None:
    for secret in ("", "x", "a" * 5000, "fdt_" + "0" * 40):
        with pytest.raises(Exception, match="no session"):
            runtime.services.sessions.resume(secret, "127.0.0.1", "web")


def test_a_session_is_valid_in_a_second_app_on_the_same_database(
    settings: Settings, runtime: Runtime, alice: Actor
) -> None:
    with TestClient(create_app(settings, runtime=runtime)) as first:
        login(first, "alice")
        cookie = first.cookies.get("fleetdeck_session")
        assert cookie
    second_settings = settings.model_copy(update={"data_dir": settings.data_dir.parent / "second"})
    with TestClient(create_app(second_settings)) as second:  # its own runtime: engine, services
        second.cookies.set("fleetdeck_session", cookie)
        page = second.get("/computers", follow_redirects=False)
        assert page.status_code == 200, page.headers
        csrf = csrf_of(page.text)
        # logging out there ends it here too
        assert second.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with TestClient(create_app(settings, runtime=runtime)) as first:
        first.cookies.set("fleetdeck_session", cookie)
        assert first.get("/computers", follow_redirects=False).status_code == 303


@pytest.mark.e2e
def test_a_session_survives_a_restart_of_the_real_server(server_factory: Callable[..., ServerProc]) -> None:
    srv = server_factory()
    srv.create_user("alice", PASSWORD, Role.OPERATOR)
    srv.start()
    with httpx.Client(base_url=srv.url, timeout=30) as browser:
        page = browser.get("/login")
        r = browser.post(
            "/login", data={"csrf_token": csrf_of(page.text), "username": "alice", "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        csrf = csrf_of(browser.get("/computers").text)
        srv.stop()
        srv.start()
        page = browser.get("/computers")
        assert page.status_code == 200 and "Log in to fleetdeck" not in page.text
        assert same_token(csrf, csrf_of(page.text))  # the same session, with the same CSRF token
        # another process (the CLI) sets alice's password: the session ends at once
        srv.cli("user", "passwd", "alice", "--password", "another-password-2")
        r = browser.get("/computers")
        assert r.status_code == 303 and r.headers["location"].endswith("&expired=1")


def test_disabling_the_user_ends_every_session_at_once(runtime: Runtime, admin: Actor, alice: Actor) -> None:
    actor, credential = runtime.services.users.session_login("alice", PASSWORD, "127.0.0.1", "web")
    one = runtime.services.sessions.start(actor, credential, "127.0.0.1")
    runtime.services.sessions.start(actor, credential, "127.0.0.2")
    assert alice.user_id is not None
    assert runtime.services.sessions.count(alice.user_id) == 2
    runtime.services.users.update(admin, alice.user_id, disabled=True)
    assert runtime.services.sessions.count(alice.user_id) == 0
    with pytest.raises(Exception, match="no session"):
        runtime.services.sessions.resume(one.secret, "127.0.0.1", "web")


def test_a_password_change_ends_every_session(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    other = TestClient(client.app)
    login(other, "alice")
    csrf = login(client, "alice")
    assert alice.user_id is not None
    assert runtime.services.sessions.count(alice.user_id) == 2
    form = {
        "csrf_token": csrf,
        "current_password": PASSWORD,
        "new_password": "new-pass-123",
        "confirm": "new-pass-123",
    }
    assert client.post("/account/password", data=form).status_code == 200
    assert runtime.services.sessions.count(alice.user_id) == 1  # this browser's new one
    assert client.get("/computers", follow_redirects=False).status_code == 200
    assert other.get("/computers", follow_redirects=False).status_code == 303


# ------------------------------------------------------------------ token login


def token_login(client: TestClient, token: str) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "method": "token", "token": token, "next": "/computers"},
        follow_redirects=False,
    )


def test_token_login_is_bound_to_the_token_and_audited_without_it(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    page = client.get("/login")
    assert 'name="method" value="token"' in page.text and 'id="token"' in page.text
    new = runtime.services.users.create_token(alice, "browser", "read+write", None)
    mark = factories.audit_mark(runtime.services)
    r = token_login(client, new.token)
    assert r.status_code == 303 and r.headers["location"] == "/computers"
    assert "Log out" in client.get("/computers").text
    [row] = stored(runtime)
    assert (row.method, row.token_id, row.user_id) == ("api_token", new.info.id, alice.user_id)
    [record] = factories.audit_since(runtime.services, mark)
    assert (record.action, record.username, record.result) == ("auth.login", "alice", "ok")
    assert record.detail == {"method": "api_token", "token_id": new.info.id}
    assert new.token not in str(record.detail) and new.token[4:] not in str(record.detail)
    # revoking the token ends the session at once
    runtime.services.users.revoke_token(alice, new.info.id)
    r = client.get("/computers", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("&expired=1")
    assert stored(runtime) == []


def test_a_token_sessions_end_is_the_tokens_expiry(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    ends = datetime.now(UTC) + timedelta(hours=2)
    new = runtime.services.users.create_token(alice, "short", "read", ends)
    r = token_login(client, new.token)
    assert r.status_code == 303
    [row] = stored(runtime)
    assert abs((row.expires_at - ends).total_seconds()) < 1
    cookie = r.headers["set-cookie"]
    assert "Max-Age=71" in cookie or "Max-Age=72" in cookie, cookie  # about 7200 s, not the 12 h lifetime


def test_a_read_only_token_gives_a_read_only_session(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    new = runtime.services.users.create_token(alice, "look", "read", None)
    assert token_login(client, new.token).status_code == 303
    page = client.get("/account/tokens")
    r = client.post(
        "/account/tokens",
        data={"csrf_token": csrf_of(page.text), "name": "more", "scope": "read", "expires": "never"},
    )
    assert r.status_code == 403 and "a read-only token cannot create tokens" in r.text
    assert [t.name for t in runtime.services.users.list_tokens(alice)] == ["look"]


def test_bad_tokens_are_said_audited_and_throttled(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    mark = factories.audit_mark(runtime.services)
    r = token_login(client, "")
    assert r.status_code == 400 and "Enter an API token." in r.text
    wrong = "fdt_" + "A" * 43
    r = token_login(client, wrong)
    assert r.status_code == 401 and "Unknown or revoked API token." in r.text
    r = token_login(client, "not-a-token")
    assert r.status_code == 401
    records = factories.audit_since(runtime.services, mark)
    assert [(a.action, a.result, a.detail.get("reason")) for a in records] == [
        ("auth.login", "failed", "bad_token"),
        ("auth.login", "failed", "bad_token"),
    ]
    assert all(wrong[4:] not in str(a.detail) + a.object_id for a in records)
    for _ in range(10):
        r = token_login(client, wrong)
        if r.status_code == 429:
            break
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert not any(a.username == "alice" for a in factories.audit_since(runtime.services, mark))


def test_a_token_login_resumes_only_while_the_token_lives(runtime: Runtime, alice: Actor) -> None:
    clock = Clock()
    sessions = store(runtime, clock)
    new = runtime.services.users.create_token(alice, "t", "read+write", None)
    actor, credential = runtime.services.users.token_session_login(new.token, "127.0.0.1", "web")
    assert isinstance(credential, Credential) and credential.token_id == new.info.id
    started = sessions.start(actor, credential, "127.0.0.1")
    sessions.resume(started.secret, "127.0.0.1", "web")
    runtime.services.users.revoke_token(alice, new.info.id)
    with pytest.raises(Exception, match=r"no session|session ended"):
        sessions.resume(started.secret, "127.0.0.1", "web")


def test_csrf_tokens_compare_only_when_both_are_there() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("abc", None)
    assert not same_token("", "")
