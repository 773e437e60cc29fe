"""The web UI's sessions in core (``SessionService``), the parts ``test_web_sessions.py`` leaves
to the HTTP tests: a user's list of sessions (``of_user``), ending them (``revoke``, with its
audit row and permission), a half login made whole after its second factor (``promote``), and
the signed tokens some transports carry a session in (``seal``/``unseal``). Called directly, on
the real database; these are the tests the mutation subset runs for them."""

from __future__ import annotations

import base64
import string
from datetime import timedelta

import jwt
import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from fleetdeck.core.secrets import Argon2Cost, SecretBox
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.users.sessions import SECOND_FACTOR, SessionInfo
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_web_sessions import SRC, rows, sessions


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost: these tests log in often."""
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=Argon2Cost(1, 8, 1))
    return build_services(runtime.db, SECRET, config, clock=clock)


# ------------------------------------------------------------------ of_user


def test_a_users_sessions_are_listed_oldest_first_without_their_csrf(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    alice = factories.user(svc, Role.VIEWER, "alice")
    bob = factories.user(svc, Role.VIEWER, "bob")
    s = sessions(svc, clock)
    _, first = s.login("alice", factories.PASSWORD, SRC, "web", user_agent="Firefox")
    s.login("bob", factories.PASSWORD, SRC, "web")
    clock.now = T0 + timedelta(minutes=5)
    _, second = s.login("alice", factories.PASSWORD, "10.0.0.2", "rport", stage=SECOND_FACTOR)
    got = s.of_user(alice, alice.user_id or 0)
    assert got == [
        SessionInfo(
            first.info.id,
            alice.user_id or 0,
            "password",
            None,
            "",
            T0,
            T0 + timedelta(hours=1),
            T0,
            SRC,
            "Firefox",
            "",
            "web",
        ),
        SessionInfo(
            second.info.id,
            alice.user_id or 0,
            "password",
            None,
            "",
            T0 + timedelta(minutes=5),
            T0 + timedelta(minutes=65),
            T0 + timedelta(minutes=5),
            "10.0.0.2",
            "",
            SECOND_FACTOR,
            "rport",
        ),
    ]
    assert first.info.id < second.info.id
    assert [i.user_id for i in s.of_user(bob, bob.user_id or 0)] == [bob.user_id]


def test_only_a_user_manager_lists_someone_elses_sessions(svc: Services, clock: ManualClock) -> None:
    root = factories.user(svc, Role.ADMIN, "root")
    op = factories.user(svc, Role.OPERATOR, "op")
    viewer = factories.user(svc, Role.VIEWER, "vic")
    s = sessions(svc, clock)
    s.login("vic", factories.PASSWORD, SRC, "web")
    vid = viewer.user_id or 0
    with pytest.raises(PermissionDenied) as err:
        s.of_user(op, vid)
    assert (err.value.message, err.value.detail) == (
        "op (operator) lacks permission manage_users",
        {"perm": "manage_users"},
    )
    with pytest.raises(PermissionDenied, match=r"^vic \(viewer\) lacks permission manage_users$"):
        s.of_user(viewer, root.user_id or 0)
    assert [i.user_id for i in s.of_user(root, vid)] == [vid]
    assert [i.user_id for i in s.of_user(viewer, vid)] == [vid]
    assert s.of_user(root, vid + 1000) == []


def test_a_session_secret_is_32_random_bytes_in_url_safe_base64(svc: Services, clock: ManualClock) -> None:
    """The secret a session cookie carries is 32 bytes from the system's random source, as
    43 URL-safe base64 characters without padding (no character a cookie must escape)."""
    factories.user(svc, Role.VIEWER, "alice")
    s = sessions(svc, clock)
    secrets = [s.login("alice", factories.PASSWORD, SRC, "web")[1].secret for _ in range(2)]
    assert [len(x) for x in secrets] == [43, 43] and secrets[0] != secrets[1]
    assert all(len(base64.urlsafe_b64decode(x + "=")) == 32 for x in secrets)
    assert all(set(x) <= set(string.ascii_letters + string.digits + "-_") for x in secrets)


# ------------------------------------------------------------------ revoke


def test_one_session_is_revoked_by_its_id_and_audited(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    carol = factories.user(svc, Role.VIEWER, "carol")
    factories.user(svc, Role.VIEWER, "dave")
    cid = carol.user_id or 0
    s = sessions(svc, clock)
    _, a = s.login("carol", factories.PASSWORD, SRC, "web")
    _, b = s.login("carol", factories.PASSWORD, SRC, "web")
    _, d = s.login("dave", factories.PASSWORD, SRC, "web")
    mark = factories.audit_mark(svc)
    assert s.revoke(carol, cid, a.info.id) == 1
    assert factories.audited(svc, mark) == [
        ("session.revoke", "session", f"{cid}/{a.info.id}", "ok", {"ended": 1})
    ]
    assert [r.id for r in rows(runtime)] == [b.info.id, d.info.id]
    with pytest.raises(AuthenticationFailed, match=r"^no session$"):
        s.resume(a.secret, SRC, "web")
    assert s.resume(b.secret, SRC, "web")[0].username == "carol"


def test_all_of_a_users_sessions_are_revoked_and_counted(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    erin = factories.user(svc, Role.OPERATOR, "erin")
    factories.user(svc, Role.VIEWER, "fred")
    eid = erin.user_id or 0
    s = sessions(svc, clock)
    for _ in range(3):
        s.login("erin", factories.PASSWORD, SRC, "web")
    _, kept = s.login("fred", factories.PASSWORD, SRC, "web")
    mark = factories.audit_mark(svc)
    assert s.revoke(erin, eid) == 3
    assert factories.audited(svc, mark) == [("session.revoke", "session", str(eid), "ok", {"ended": 3})]
    assert [r.id for r in rows(runtime)] == [kept.info.id]
    mark = factories.audit_mark(svc)
    assert s.revoke(erin, eid) == 0  # none left: no error
    assert factories.audited(svc, mark) == [("session.revoke", "session", str(eid), "ok", {"ended": 0})]


def test_an_unknown_or_someone_elses_session_is_not_found_and_nothing_ends(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    gina = factories.user(svc, Role.VIEWER, "gina")
    factories.user(svc, Role.VIEWER, "hal")
    gid = gina.user_id or 0
    s = sessions(svc, clock)
    _, own = s.login("gina", factories.PASSWORD, SRC, "web")
    _, other = s.login("hal", factories.PASSWORD, SRC, "web")
    mark = factories.audit_mark(svc)
    for sid in (other.info.id, other.info.id + 100):
        with pytest.raises(NotFound) as err:
            s.revoke(gina, gid, sid)
        assert (err.value.message, err.value.object_type, err.value.object_id) == (
            f"session {sid} not found",
            "session",
            sid,
        )
    assert factories.audited(svc, mark) == [
        (
            "session.revoke",
            "session",
            f"{gid}/{other.info.id}",
            "not_found",
            {"error": f"session {other.info.id} not found"},
        ),
        (
            "session.revoke",
            "session",
            f"{gid}/{other.info.id + 100}",
            "not_found",
            {"error": f"session {other.info.id + 100} not found"},
        ),
    ]
    assert [r.id for r in rows(runtime)] == [own.info.id, other.info.id]


def test_only_a_user_manager_revokes_someone_elses_sessions(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    root = factories.user(svc, Role.ADMIN, "root")
    op = factories.user(svc, Role.OPERATOR, "op")
    ivy = factories.user(svc, Role.VIEWER, "ivy")
    iid = ivy.user_id or 0
    s = sessions(svc, clock)
    _, a = s.login("ivy", factories.PASSWORD, SRC, "web")
    _, b = s.login("ivy", factories.PASSWORD, SRC, "web")
    mark = factories.audit_mark(svc)
    for session_id in (None, a.info.id):
        with pytest.raises(PermissionDenied, match=r"^op \(operator\) lacks permission manage_users$"):
            s.revoke(op, iid, session_id)
    error = {"error": "op (operator) lacks permission manage_users"}
    assert factories.audited(svc, mark) == [
        ("session.revoke", "session", str(iid), "denied", error),
        ("session.revoke", "session", f"{iid}/{a.info.id}", "denied", error),
    ]
    assert [r.id for r in rows(runtime)] == [a.info.id, b.info.id]  # nothing ended
    assert s.revoke(root, iid, b.info.id) == 1
    assert s.revoke(root, iid) == 1
    assert rows(runtime) == []


# ------------------------------------------------------------------ promote


def test_a_half_login_is_promoted_to_a_new_full_session(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    jane = factories.user(svc, Role.OPERATOR, "jane")
    s = sessions(svc, clock, lifetime=3600, idle=600)
    _, half = s.login("jane", factories.PASSWORD, SRC, "web", stage=SECOND_FACTOR, user_agent="Safari")
    with pytest.raises(AuthenticationFailed, match=r"^this token is not valid here$"):
        s.resume(half.secret, SRC, "web")  # a half session is no full one
    actor, info = s.resume(half.secret, SRC, "web", stage=SECOND_FACTOR)
    assert info.stage == SECOND_FACTOR
    clock.now = T0 + timedelta(seconds=30)
    actor = Actor(
        user_id=actor.user_id, username=actor.username, role=actor.role, source="10.5.5.5", via="web"
    )
    full = s.promote(actor, info)
    assert full.secret != half.secret
    assert (full.info.user_id, full.info.method, full.info.token_id, full.info.stage) == (
        jane.user_id,
        "password",
        None,
        "",
    )
    assert (full.info.created_at, full.info.expires_at, full.info.source, full.info.user_agent) == (
        T0 + timedelta(seconds=30),
        T0 + timedelta(seconds=30 + 3600),
        "10.5.5.5",
        "Safari",
    )
    assert full.info.csrf == SecretBox(SECRET).keyed_hash("csrf\x00" + full.secret)
    [row] = rows(runtime)  # the half session is gone
    assert (row.id, row.renew_sec, row.stage, row.via) == (full.info.id, None, "", "web")
    assert full.info.id != half.info.id
    with pytest.raises(AuthenticationFailed, match=r"^no session$"):
        s.resume(half.secret, SRC, "web", stage=SECOND_FACTOR)
    again, _ = s.resume(full.secret, SRC, "web")  # the credential carried over is valid
    assert (again.user_id, again.username) == (jane.user_id, "jane")
    # promoted once only: the half session is gone
    with pytest.raises(AuthenticationFailed, match=r"^session ended$"):
        s.promote(actor, info)
    assert [r.id for r in rows(runtime)] == [full.info.id]


def test_a_promoted_api_session_keeps_its_token_and_takes_the_given_lifetime(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    kim = factories.user(svc, Role.VIEWER, "kim")
    token = svc.users.create_token(kim, "cli", "read+write", None)
    actor, credential = svc.users.token_session_login(token.token, SRC, "api")
    s = sessions(svc, clock)
    half = s.start(actor, credential, SRC, stage=SECOND_FACTOR)
    full = s.promote(actor, half.info, lifetime_sec=120, renew_sec=90)
    assert (full.info.method, full.info.token_id, full.info.expires_at) == (
        "api_token",
        token.info.id,
        T0 + timedelta(seconds=120),
    )
    [row] = rows(runtime)
    assert (row.id, row.renew_sec, row.token_id) == (full.info.id, 90, token.info.id)
    assert s.resume(full.secret, SRC, "api")[0].user_id == kim.user_id


def test_only_a_half_session_of_the_same_user_is_promoted(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    factories.user(svc, Role.VIEWER, "lou")
    factories.user(svc, Role.VIEWER, "max")
    s = sessions(svc, clock)
    lou, whole = s.login("lou", factories.PASSWORD, SRC, "web")
    max_, half = s.login("max", factories.PASSWORD, SRC, "web", stage=SECOND_FACTOR)
    _, lous_half = s.login("lou", factories.PASSWORD, SRC, "web", stage=SECOND_FACTOR)
    for actor, pending in ((lou, whole.info), (lou, half.info), (max_, lous_half.info)):
        with pytest.raises(AuthenticationFailed) as err:
            s.promote(actor, pending)
        assert err.value.message == "this token is not valid here"
    assert [r.id for r in rows(runtime)] == [whole.info.id, half.info.id, lous_half.info.id]
    assert s.promote(max_, half.info).info.user_id == max_.user_id


# ------------------------------------------------------------------ seal, unseal


def test_a_sealed_token_is_an_hs256_jwt_with_the_servers_key_and_no_expiry(
    svc: Services, clock: ManualClock
) -> None:
    s = sessions(svc, clock)
    claims: dict[str, object] = {"sid": "secret-1", "sub": "7", "n": 3}
    token = s.seal(claims)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(token, SecretBox(SECRET).jwt_key, algorithms=["HS256"]) == claims
    assert s.unseal(token) == claims
    # the session row decides when it ends: an "exp" in the past is no reason to refuse
    old = s.seal({"sid": "x", "exp": int((T0 - timedelta(days=1)).timestamp())})
    assert s.unseal(old)["sid"] == "x"


def test_a_token_not_sealed_by_this_server_is_refused(svc: Services, clock: ManualClock) -> None:
    s = sessions(svc, clock)
    foreign = jwt.encode({"sid": "x"}, "another key of more than thirty-two bytes", algorithm="HS256")
    unsigned = jwt.encode({"sid": "x"}, "", algorithm="none")
    other_alg = jwt.encode({"sid": "x"}, SecretBox(SECRET).jwt_key, algorithm="HS512")
    good = s.seal({"sid": "x"})
    for token in (foreign, unsigned, other_alg, "", "not.a.token", good[:-2] + "xx", "a" * 5000):
        with pytest.raises(AuthenticationFailed) as err:
            s.unseal(token)
        assert err.value.message == "invalid token"


def test_a_sealed_token_of_4096_characters_is_the_longest_unsealed(svc: Services, clock: ManualClock) -> None:
    s = sessions(svc, clock)
    made = {len(s.seal({"p": "x" * n})): n for n in range(2900, 3100)}
    at_limit = s.seal({"p": "x" * made[4096]})
    assert len(at_limit) == 4096
    assert s.unseal(at_limit) == {"p": "x" * made[4096]}
    over = s.seal({"p": "x" * made[4097]})
    with pytest.raises(AuthenticationFailed, match=r"^invalid token$"):
        s.unseal(over)
