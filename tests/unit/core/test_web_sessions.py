"""The web UI's sessions in core (``SessionService``, ``UserService.token_session_login`` and
``token_expiry``), called directly: what a session row holds, when a session ends (its end, idle
time, the user or token changing), how often its use is written, logout, discarding, purging,
and the audit rows of logins and logouts. ``tests/web/test_sessions.py`` covers the same through
the web application; these are the ones the mutation subset runs (docs/testing.md: the module
had no test there)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Role
from fleetdeck.core.errors import AuthenticationFailed, TooManyAttempts
from fleetdeck.core.secrets import Argon2Cost, SecretBox
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.users.sessions import SessionService
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import WebSession
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import BACKEND, SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_reads import write_transactions

SRC = "10.9.8.7"


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost: these tests log in some forty times."""
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=Argon2Cost(1, 8, 1))
    return build_services(runtime.db, SECRET, config, clock=clock)


def sessions(svc: Services, clock: ManualClock, lifetime: int = 3600, idle: int = 600) -> SessionService:
    return SessionService(svc.users._db, svc.audit, svc.users, SecretBox(SECRET), clock, lifetime, idle)


def rows(runtime: Runtime) -> list[WebSession]:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        out = list(uow.session.scalars(select(WebSession).order_by(WebSession.id)))
        uow.session.expunge_all()
        return out


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.strip().split()[0].upper())

    event.listen(runtime.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", note)


def test_a_password_login_starts_a_session_that_replaces_the_browsers_old_one(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    alice = factories.user(svc, Role.OPERATOR, "alice")
    store = sessions(svc, clock)
    mark = factories.audit_mark(svc)
    actor, first = store.login("alice", factories.PASSWORD, SRC, "web-browser-long-via")
    assert (actor.user_id, actor.username, actor.role, actor.source) == (
        alice.user_id,
        "alice",
        Role.OPERATOR,
        SRC,
    )
    [login] = [r for r in factories.audit_since(svc, mark) if r.action == "auth.login"]
    assert (login.object_type, login.object_id, login.result) == ("user", str(alice.user_id), "ok")
    info = first.info
    assert (info.user_id, info.method, info.token_id) == (alice.user_id, "password", None)
    assert (info.created_at, info.expires_at) == (T0, T0 + timedelta(hours=1))
    [row] = rows(runtime)
    assert (row.id, row.user_id, row.method, row.token_id) == (info.id, alice.user_id, "password", None)
    assert (row.via, row.source, row.last_used_at) == ("web-browser-long", SRC, T0)
    assert row.secret_hash == SecretBox(SECRET).keyed_hash(first.secret) != first.secret
    assert info.csrf == SecretBox(SECRET).keyed_hash("csrf\x00" + first.secret)

    actor, second = store.login("alice", factories.PASSWORD, SRC, "web", replaces=first.secret)
    assert [r.id for r in rows(runtime)] == [second.info.id]  # the old session is gone
    assert second.secret != first.secret and second.info.csrf != info.csrf
    with pytest.raises(AuthenticationFailed, match="no session"):
        store.resume(first.secret, SRC, "web")
    # a wrong password starts nothing, and the old session stays
    with pytest.raises(AuthenticationFailed):
        store.login("alice", "wrong password", SRC, "web", replaces=second.secret)
    assert store.count() == 1
    _, credential = svc.users.session_login("alice", factories.PASSWORD, SRC, "web")
    long = store.start(actor, credential, "x" * 100)
    assert [r.source for r in rows(runtime) if r.id == long.info.id] == ["x" * 64]


def test_a_session_ends_at_its_end_and_when_idle_and_its_use_is_written_once_a_minute(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    factories.user(svc, Role.VIEWER, "bob")
    store = sessions(svc, clock, lifetime=3600, idle=600)
    _, s = store.login("bob", factories.PASSWORD, SRC, "web")
    clock.now = T0 + timedelta(seconds=59)
    actor, info = store.resume(s.secret, "10.0.0.1", "web2")
    assert (actor.username, actor.source, actor.via, info.id) == ("bob", "10.0.0.1", "web2", s.info.id)
    assert info.csrf == s.info.csrf
    assert rows(runtime)[0].last_used_at == T0  # used 59 s later: not written
    if BACKEND == "sqlite":
        with statements(runtime) as seen:
            store.resume(s.secret, SRC, "web")
        assert "UPDATE" not in seen
    clock.now = T0 + timedelta(seconds=60)
    store.resume(s.secret, SRC, "web")
    assert rows(runtime)[0].last_used_at == T0 + timedelta(seconds=60)
    # idle: exactly 600 s after the last written use, it has ended
    clock.now = T0 + timedelta(seconds=659)
    store.resume(s.secret, SRC, "web")
    clock.now = T0 + timedelta(seconds=659 + 600)
    with pytest.raises(AuthenticationFailed, match="session ended"):
        store.resume(s.secret, SRC, "web")
    assert rows(runtime) == []  # deleted at once

    _, s = store.login("bob", factories.PASSWORD, SRC, "web")
    end = s.info.expires_at
    assert end == clock.now + timedelta(hours=1)
    while clock.now + timedelta(seconds=300) < end:
        clock.now += timedelta(seconds=300)
        store.resume(s.secret, SRC, "web")
    clock.now = end  # exactly its end
    with pytest.raises(AuthenticationFailed, match="session ended"):
        store.resume(s.secret, SRC, "web")


def test_a_resume_takes_the_write_lock_only_to_write_the_sessions_use(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    """Every request of the web UI resumes its session: it reads in a read-only transaction (on
    SQLite no ``BEGIN IMMEDIATE``, which would queue the requests behind every writer), and
    writes only when the use is due (once a minute)."""
    factories.user(svc, Role.VIEWER, "bea")
    store = sessions(svc, clock)
    _, s = store.login("bea", factories.PASSWORD, SRC, "web")
    clock.now = T0 + timedelta(seconds=30)
    with write_transactions(runtime.db.engine) as writes:
        assert store.resume(s.secret, SRC, "web")[0].username == "bea"
    if BACKEND == "sqlite":
        assert writes == []
    clock.now = T0 + timedelta(seconds=60)
    with write_transactions(runtime.db.engine) as writes:
        store.resume(s.secret, SRC, "web")
    if BACKEND == "sqlite":
        assert len(writes) == 1
    assert rows(runtime)[0].last_used_at == T0 + timedelta(seconds=60)


def test_the_idle_time_is_never_longer_than_the_lifetime(svc: Services, clock: ManualClock) -> None:
    assert sessions(svc, clock, lifetime=100, idle=600).idle == timedelta(seconds=100)
    assert sessions(svc, clock, lifetime=3600, idle=600).idle == timedelta(seconds=600)
    assert sessions(svc, clock, lifetime=3600, idle=600).lifetime == timedelta(seconds=3600)


def test_a_session_ends_when_its_user_changes(svc: Services, runtime: Runtime, clock: ManualClock) -> None:
    admin = factories.user(svc, Role.ADMIN, "root")
    carol = factories.user(svc, Role.OPERATOR, "carol")
    cid = carol.user_id or 0
    store = sessions(svc, clock)
    _, s = store.login("carol", factories.PASSWORD, SRC, "web")
    _, kept = store.login("root", factories.PASSWORD, SRC, "web")
    stale_actor, stale = svc.users.session_login("carol", factories.PASSWORD, SRC, "web")
    mark = factories.audit_mark(svc)
    svc.users.set_password(admin, cid, "another-password-2")  # ends her sessions at once
    [row] = factories.audit_since(svc, mark)
    assert row.detail == {"web_sessions_ended": 1, "api_tokens_revoked": 0}
    with pytest.raises(AuthenticationFailed, match="no session"):
        store.resume(s.secret, SRC, "web")
    # a session started from a login made before the change: its credential is out of date
    late = store.start(stale_actor, stale, SRC)
    with pytest.raises(AuthenticationFailed, match="session ended"):
        store.resume(late.secret, SRC, "web")
    assert [r.id for r in rows(runtime)] == [kept.info.id]  # and its row is deleted
    _, s = store.login("carol", "another-password-2", SRC, "web")
    svc.users.update(admin, cid, disabled=True)
    with pytest.raises(AuthenticationFailed):
        store.resume(s.secret, SRC, "web")
    assert [r.id for r in rows(runtime)] == [kept.info.id]
    assert store.resume(kept.secret, SRC, "web")[0].username == "root"


def test_unknown_and_silly_cookies_are_no_session(svc: Services, clock: ManualClock) -> None:
    factories.user(svc, Role.VIEWER, "dan")
    store = sessions(svc, clock)
    _, s = store.login("dan", factories.PASSWORD, SRC, "web")
    for secret in (None, "", "unknown", s.secret + "x", "a" * 201):
        with pytest.raises(AuthenticationFailed) as err:
            store.resume(secret, SRC, "web")
        assert err.value.message == "no session"
    assert store.count() == 1
    store.discard(None)
    store.discard("a" * 201)
    store.discard("unknown")
    assert store.count() == 1
    store.discard(s.secret)
    assert store.count() == 0


def test_a_logout_deletes_the_session_and_is_audited(svc: Services, clock: ManualClock) -> None:
    erin = factories.user(svc, Role.VIEWER, "erin")
    store = sessions(svc, clock)
    actor, s = store.login("erin", factories.PASSWORD, SRC, "web")
    _, other = store.login("erin", factories.PASSWORD, SRC, "web")
    mark = factories.audit_mark(svc)
    store.end(actor, s.info)
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result, row.detail) == (
        "auth.logout",
        "user",
        str(erin.user_id),
        "ok",
        {"method": "password"},
    )
    with pytest.raises(AuthenticationFailed):
        store.resume(s.secret, SRC, "web")
    assert store.resume(other.secret, SRC, "web")[0].username == "erin"  # the other one stays


def test_ended_sessions_are_purged_and_counted_per_user(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    f = factories.user(svc, Role.VIEWER, "frank")
    g = factories.user(svc, Role.VIEWER, "gina")
    store = sessions(svc, clock, lifetime=3600, idle=600)
    actor, credential = svc.users.session_login("frank", factories.PASSWORD, SRC, "web")
    short = store.start(actor, credential, SRC, ends=T0 + timedelta(seconds=100))
    assert short.info.expires_at == T0 + timedelta(seconds=100)
    late = store.start(actor, credential, SRC, ends=T0 + timedelta(days=1))
    assert late.info.expires_at == T0 + timedelta(hours=1)  # never after the lifetime
    store.login("gina", factories.PASSWORD, SRC, "web")
    assert (store.count(), store.count(f.user_id), store.count(g.user_id), store.count(10**9)) == (3, 2, 1, 0)
    clock.now = T0 + timedelta(seconds=99)
    assert store.purge() == 0
    clock.now = T0 + timedelta(seconds=100)  # exactly the short one's end
    assert store.purge() == 1
    clock.now = T0 + timedelta(seconds=300)
    store.resume(late.secret, SRC, "web")  # used: its idle end moves on
    clock.now = T0 + timedelta(seconds=600)  # gina's: exactly idle
    assert store.purge() == 1
    assert [r.id for r in rows(runtime)] == [late.info.id]
    assert store.purge() == 0


def test_a_token_login_starts_a_session_bound_to_the_token(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    hank = factories.user(svc, Role.OPERATOR, "hank")
    store = sessions(svc, clock, lifetime=3600)
    token = svc.users.create_token(hank, "ui", "read", T0 + timedelta(minutes=30))
    forever = svc.users.create_token(hank, "ui2", "read+write", None)
    mark = factories.audit_mark(svc)
    actor, s = store.token_login(token.token, SRC, "web")
    assert (actor.username, actor.read_only) == ("hank", True)
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "auth.login"]
    assert (row.object_type, row.object_id, row.result, row.detail) == (
        "user",
        str(hank.user_id),
        "ok",
        {"method": "api_token", "token_id": token.info.id},
    )
    assert token.token not in str(row.detail)
    assert (s.info.method, s.info.token_id) == ("api_token", token.info.id)
    assert s.info.expires_at == T0 + timedelta(minutes=30)  # the token's end, before the lifetime
    [stored] = rows(runtime)
    assert (stored.method, stored.token_id) == ("api_token", token.info.id)

    actor2, s2 = store.token_login(forever.token, SRC, "web", replaces=s.secret)
    assert actor2.read_only is False
    assert s2.info.expires_at == T0 + timedelta(hours=1)  # no end of its own: the lifetime
    assert [r.id for r in rows(runtime)] == [s2.info.id]
    svc.users.revoke_token(hank, forever.info.id)
    with pytest.raises(AuthenticationFailed):
        store.resume(s2.secret, SRC, "web")
    assert rows(runtime) == []

    _, s3 = store.token_login(token.token, SRC, "web")
    clock.now = T0 + timedelta(minutes=30)
    with pytest.raises(AuthenticationFailed, match="session ended"):
        store.resume(s3.secret, SRC, "web")


def test_token_expiry_names_the_tokens_end(svc: Services) -> None:
    ivy = factories.user(svc, Role.VIEWER, "ivy")
    ends = svc.users.create_token(ivy, "a", "read", T0 + timedelta(days=2))
    never = svc.users.create_token(ivy, "b", "read", None)
    _, with_end = svc.users.token_session_login(ends.token, SRC, "web")
    _, without = svc.users.token_session_login(never.token, SRC, "web")
    _, password = svc.users.session_login("ivy", factories.PASSWORD, SRC, "web")
    assert svc.users.token_expiry(with_end) == T0 + timedelta(days=2)
    assert svc.users.token_expiry(without) is None
    assert svc.users.token_expiry(password) is None
    assert (with_end.token_id, without.token_id, password.token_id) == (ends.info.id, never.info.id, None)


def test_a_bad_token_login_is_refused_audited_and_throttled(svc: Services, clock: ManualClock) -> None:
    jo = factories.user(svc, Role.VIEWER, "jo")
    expired = svc.users.create_token(jo, "old", "read", T0 + timedelta(minutes=1))
    clock.now = T0 + timedelta(minutes=1)
    mark = factories.audit_mark(svc)
    bad = ["not-a-token", expired.token, expired.token[:-2] + "xx", "fdt_" + "y" * 300]
    for token in bad:
        with pytest.raises(AuthenticationFailed) as err:
            svc.users.token_session_login(token, SRC, "web")
        assert not isinstance(err.value, TooManyAttempts)
    failed = [r for r in factories.audit_since(svc, mark) if r.action == "auth.login"]
    assert [(r.object_type, r.result, r.detail.get("reason")) for r in failed] == [
        ("api_token", "failed", "bad_token"),
        ("api_token", "failed", "expired_token"),
        ("api_token", "failed", "bad_token"),
        ("api_token", "failed", "bad_token"),
    ]
    assert all(expired.token not in str(r.detail) for r in failed)
    throttled: TooManyAttempts | None = None
    for _ in range(20):
        try:
            svc.users.token_session_login("fdt_wrong", SRC, "web")
        except TooManyAttempts as exc:
            throttled = exc
            break
        except AuthenticationFailed:
            continue
    assert throttled is not None, "never throttled"
    assert throttled.message == "too many failed logins; try again later"
    assert throttled.detail["retry_after"] > 0
    mark = factories.audit_mark(svc)
    good = svc.users.create_token(jo, "new", "read", None)
    with pytest.raises(TooManyAttempts):  # while throttled even a good token waits
        svc.users.token_session_login(good.token, SRC, "web")
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "auth.login"]
    assert (row.object_type, row.object_id, row.result, row.username) == (
        "api_token",
        "",
        "throttled",
        "(api token)",
    )
    # another address is not throttled, and a success clears that address's count
    actor, _ = svc.users.token_session_login(good.token, "10.0.0.2", "web")
    assert actor.username == "jo"
