"""A user's change of their own account (``UserService.update_own``: name, password with the
current one, where second-factor codes go), the renaming and new-password steps it shares with
an admin's ``update`` (``_rename``, ``_new_password``: every login of the user ends), and the
authenticator secret's ``exists``/``get`` (``SecondFactorService``). Called directly on the real
database, with refusals word for word, audit rows and what was (not) written; the web UI's and
the dialects' tests do the same through HTTP, which the mutation subset does not run."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.users.entities import UserInfo
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import User, WebSession
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

SRC = "10.1.1.1"
NEW = "a-new-password-9"


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost: these tests check passwords often."""
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=Argon2Cost(1, 8, 1))
    return build_services(runtime.db, SECRET, config, clock=clock)


def row(runtime: Runtime, user_id: int | None) -> User:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        u = uow.session.get(User, user_id)
        assert u is not None
        uow.session.expunge(u)
        return u


def sessions_of(runtime: Runtime) -> list[int]:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        return list(uow.session.scalars(select(WebSession.user_id).order_by(WebSession.id)))


def logs_in(svc: Services, username: str, password: str) -> bool:
    try:
        svc.users.session_login(username, password, SRC, "web")
    except AuthenticationFailed:
        return False
    return True


# ------------------------------------------------------------------ update_own


def test_a_user_changes_their_password_with_the_current_one_and_their_logins_end(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    ann = factories.user(svc, Role.VIEWER, "ann")
    ben = factories.user(svc, Role.VIEWER, "ben")
    svc.sessions.login("ann", factories.PASSWORD, SRC, "web")
    svc.sessions.login("ben", factories.PASSWORD, SRC, "web")
    svc.sessions.login("ann", factories.PASSWORD, SRC, "web")
    before = row(runtime, ann.user_id)
    clock.now = T0 + timedelta(hours=2)
    mark = factories.audit_mark(svc)
    info = svc.users.update_own(ann, password=NEW, current_password=factories.PASSWORD)
    assert info == UserInfo(
        id=ann.user_id or 0,
        username="ann",
        role=Role.VIEWER,
        full_name="",
        email="",
        disabled=False,
        created_at=T0,
        last_login_at=T0,
        password_expired=False,
        two_fa_send_to="",
    )
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(ann.user_id), "ok", {"password": "changed"})
    ]
    after = row(runtime, ann.user_id)
    assert (after.token_version, after.password_changed_at) == (
        before.token_version + 1,
        T0 + timedelta(hours=2),
    )
    assert after.password_hash != before.password_hash
    assert sessions_of(runtime) == [ben.user_id]  # both of hers ended, his stays
    assert logs_in(svc, "ann", NEW)
    assert not logs_in(svc, "ann", factories.PASSWORD)


def test_a_password_change_ends_only_that_users_sessions(svc: Services, runtime: Runtime) -> None:
    cat = factories.user(svc, Role.OPERATOR, "cat")
    dan = factories.user(svc, Role.VIEWER, "dan")
    svc.sessions.login("cat", factories.PASSWORD, SRC, "web")
    svc.sessions.login("dan", factories.PASSWORD, SRC, "web")
    svc.sessions.login("cat", factories.PASSWORD, SRC, "web")
    assert sessions_of(runtime) == [cat.user_id, dan.user_id, cat.user_id]
    svc.users.update_own(cat, password=NEW, current_password=factories.PASSWORD)
    assert sessions_of(runtime) == [dan.user_id]


def test_a_password_is_changed_only_with_the_right_current_one_and_the_rules(
    svc: Services, runtime: Runtime
) -> None:
    eve = factories.user(svc, Role.VIEWER, "eve")
    svc.sessions.login("eve", factories.PASSWORD, SRC, "web")
    before = row(runtime, eve.user_id)
    mark = factories.audit_mark(svc)
    for current in (None, "wrong-password-1", ""):
        with pytest.raises(PermissionDenied) as err:
            svc.users.update_own(eve, password=NEW, current_password=current, username="eve2")
        assert err.value.message == "the current password is wrong"
    with pytest.raises(ValidationFailed) as bad:
        svc.users.update_own(eve, password="short", current_password=factories.PASSWORD)
    assert (bad.value.message, bad.value.field) == ("password must have at least 8 characters", "password")
    with pytest.raises(ValidationFailed, match=r"^password is too long$"):
        svc.users.update_own(eve, password="x" * 1025, current_password=factories.PASSWORD)
    wrong = {"error": "the current password is wrong"}
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(eve.user_id), "denied", wrong),
        ("user.update", "user", str(eve.user_id), "denied", wrong),
        ("user.update", "user", str(eve.user_id), "denied", wrong),
        (
            "user.update",
            "user",
            str(eve.user_id),
            "invalid",
            {"error": "password must have at least 8 characters"},
        ),
        ("user.update", "user", str(eve.user_id), "invalid", {"error": "password is too long"}),
    ]
    after = row(runtime, eve.user_id)  # nothing was written
    assert (after.username, after.password_hash, after.token_version) == (
        "eve",
        before.password_hash,
        before.token_version,
    )
    assert sessions_of(runtime) == [eve.user_id]
    # exactly eight characters is enough
    svc.users.update_own(eve, password="8-chars!", current_password=factories.PASSWORD)
    assert logs_in(svc, "eve", "8-chars!")


def test_a_user_renames_themselves_to_a_free_name_and_stays_logged_in(
    svc: Services, runtime: Runtime
) -> None:
    fay = factories.user(svc, Role.OPERATOR, "fay")
    svc.sessions.login("fay", factories.PASSWORD, SRC, "web")
    version = row(runtime, fay.user_id).token_version
    mark = factories.audit_mark(svc)
    info = svc.users.update_own(fay, username="Fay.Smith@corp", two_fa_send_to="fay@example.org")
    assert (info.id, info.username, info.role, info.two_fa_send_to) == (
        fay.user_id,
        "Fay.Smith@corp",
        Role.OPERATOR,
        "fay@example.org",
    )
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(fay.user_id), "ok", {"username": ["fay", "Fay.Smith@corp"]})
    ]
    after = row(runtime, fay.user_id)
    assert (after.username, after.token_version, after.two_fa_send_to) == (
        "Fay.Smith@corp",
        version,
        "fay@example.org",
    )
    assert sessions_of(runtime) == [fay.user_id]  # a new name ends no login
    assert logs_in(svc, "Fay.Smith@corp", factories.PASSWORD)
    # the same name again changes nothing; another case of one's own name is free
    mark = factories.audit_mark(svc)
    svc.users.update_own(fay, username="Fay.Smith@corp")
    svc.users.update_own(fay, username="fay.smith@CORP")
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(fay.user_id), "ok", {}),
        ("user.update", "user", str(fay.user_id), "ok", {"username": ["Fay.Smith@corp", "fay.smith@CORP"]}),
    ]


def test_a_name_taken_in_any_case_is_refused_and_nothing_changes(svc: Services, runtime: Runtime) -> None:
    gus = factories.user(svc, Role.VIEWER, "gus")
    factories.user(svc, Role.VIEWER, "Hugo")
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as err:
        svc.users.update_own(gus, username="hUGO", two_fa_send_to="x@example.org")
    assert (err.value.message, err.value.detail) == ("user 'hUGO' already exists", {"field": "username"})
    with pytest.raises(ValidationFailed) as bad:
        svc.users.update_own(gus, username="no spaces")
    assert (bad.value.message, bad.value.field) == (
        "user name must be 1-150 characters of letters, digits, '.', '_', '@' or '-'",
        "username",
    )
    # the malformed name is refused before anything is opened: no audit row for it
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(gus.user_id), "conflict", {"error": "user 'hUGO' already exists"})
    ]
    after = row(runtime, gus.user_id)
    assert (after.username, after.two_fa_send_to) == ("gus", "")


def test_where_codes_go_is_kept_to_150_characters_and_a_password_and_name_change_together(
    svc: Services, runtime: Runtime
) -> None:
    ida = factories.user(svc, Role.VIEWER, "ida")
    svc.sessions.login("ida", factories.PASSWORD, SRC, "web")
    info = svc.users.update_own(ida, two_fa_send_to="a" * 151)
    assert info.two_fa_send_to == "a" * 150
    assert row(runtime, ida.user_id).two_fa_send_to == "a" * 150
    mark = factories.audit_mark(svc)
    info = svc.users.update_own(ida, username="ida2", password=NEW, current_password=factories.PASSWORD)
    assert info.username == "ida2"
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(ida.user_id), "ok", {"password": "changed", "username": ["ida", "ida2"]})
    ]
    assert sessions_of(runtime) == []
    assert logs_in(svc, "ida2", NEW)


def test_only_a_user_with_a_writable_login_changes_their_account(svc: Services, runtime: Runtime) -> None:
    jo = factories.user(svc, Role.ADMIN, "jo")
    token = svc.users.create_token(jo, "ro", "read", None)
    reader = svc.users.authenticate_bearer(token.token, SRC, "api")
    assert reader.read_only
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied) as err:
        svc.users.update_own(reader, username="jo2", password=NEW, current_password=factories.PASSWORD)
    assert err.value.message == "a read-only token cannot change the account"
    system = Actor(user_id=None, username="system", role=Role.ADMIN)
    with pytest.raises(PermissionDenied, match=r"^only users have accounts$"):
        svc.users.update_own(system, two_fa_send_to="x")
    assert factories.audited(svc, mark) == [
        (
            "user.update",
            "user",
            str(jo.user_id),
            "denied",
            {"error": "a read-only token cannot change the account"},
        )
    ]
    assert row(runtime, jo.user_id).username == "jo"
    ghost = Actor(user_id=(jo.user_id or 0) + 1000, username="ghost", role=Role.VIEWER)
    with pytest.raises(NotFound) as gone:
        svc.users.update_own(ghost, two_fa_send_to="x")
    assert gone.value.message == f"user {(jo.user_id or 0) + 1000} not found"


# ------------------------------------------------------------------ update: the shared steps


def test_an_admin_expiring_a_password_ends_the_users_logins_but_keeps_the_password(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    root = factories.user(svc, Role.ADMIN, "root")
    kay = factories.user(svc, Role.VIEWER, "kay")
    svc.sessions.login("kay", factories.PASSWORD, SRC, "web")
    svc.sessions.login("root", factories.PASSWORD, SRC, "web")
    before = row(runtime, kay.user_id)
    clock.now = T0 + timedelta(days=1)
    mark = factories.audit_mark(svc)
    svc.users.update(root, kay.user_id or 0, password_expired=True)
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(kay.user_id), "ok", {"password_expired": [False, True]})
    ]
    after = row(runtime, kay.user_id)
    assert (after.password_hash, after.password_changed_at, after.token_version, after.password_expired) == (
        before.password_hash,
        before.password_changed_at,
        before.token_version + 1,
        True,
    )
    assert sessions_of(runtime) == [root.user_id]
    # expired already: expiring again ends nothing more
    mark = factories.audit_mark(svc)
    svc.users.update(root, kay.user_id or 0, password_expired=True, full_name="Kay")
    assert row(runtime, kay.user_id).token_version == before.token_version + 1
    assert factories.audited(svc, mark) == [("user.update", "user", str(kay.user_id), "ok", {})]


def test_an_admin_renames_and_sets_a_password_in_one_update(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    root = factories.user(svc, Role.ADMIN, "root")
    lee = factories.user(svc, Role.VIEWER, "lee")
    factories.user(svc, Role.VIEWER, "mia")
    svc.sessions.login("lee", factories.PASSWORD, SRC, "web")
    clock.now = T0 + timedelta(minutes=3)
    mark = factories.audit_mark(svc)
    info = svc.users.update(root, lee.user_id or 0, username="lee.b", password=NEW)
    assert info.username == "lee.b"
    assert factories.audited(svc, mark) == [
        ("user.update", "user", str(lee.user_id), "ok", {"username": ["lee", "lee.b"], "password": "changed"})
    ]
    assert row(runtime, lee.user_id).password_changed_at == T0 + timedelta(minutes=3)
    assert sessions_of(runtime) == []
    assert logs_in(svc, "lee.b", NEW)
    with pytest.raises(Conflict, match=r"^user 'MIA' already exists$"):
        svc.users.update(root, lee.user_id or 0, username="MIA", password="another-one-1")
    assert logs_in(svc, "lee.b", NEW)  # the refused update set no password either
    assert row(runtime, lee.user_id).username == "lee.b"


# ------------------------------------------------------------------ the authenticator secret


def test_an_authenticator_secret_exists_once_made_and_is_shown_again_to_its_user(
    svc: Services, clock: ManualClock
) -> None:
    nat = factories.user(svc, Role.VIEWER, "nat")
    oli = factories.user(svc, Role.VIEWER, "oli")
    nid = nat.user_id or 0
    assert (svc.second_factor.exists(nid), svc.second_factor.exists(oli.user_id or 0)) == (False, False)
    with pytest.raises(NotFound) as err:
        svc.second_factor.get(nat, "Fleetdeck")
    assert (err.value.message, err.value.object_type, err.value.object_id) == (
        "authenticator secret nat not found",
        "authenticator secret",
        "nat",
    )
    made = svc.second_factor.create(nat, "Fleetdeck")
    assert (svc.second_factor.exists(nid), svc.second_factor.exists(oli.user_id or 0)) == (True, False)
    shown = svc.second_factor.get(nat, "Acme IT")
    assert shown.secret == made.secret and len(shown.secret) == 32
    uri = urlsplit(shown.uri)
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == ("otpauth", "totp", "/Acme IT:nat")
    assert parse_qs(uri.query) == {"secret": [made.secret], "issuer": ["Acme IT"]}
    assert shown.uri == pyotp.TOTP(made.secret).provisioning_uri(name="nat", issuer_name="Acme IT")
    with pytest.raises(NotFound, match=r"^authenticator secret oli not found$"):
        svc.second_factor.get(oli, "Fleetdeck")
    nobody = Actor(user_id=None, username="system", role=Role.ADMIN)
    with pytest.raises(NotFound) as none:
        svc.second_factor.get(nobody, "Fleetdeck")
    assert (none.value.message, none.value.object_type) == ("user system not found", "user")
    svc.second_factor.delete(nat, nid)
    assert svc.second_factor.exists(nid) is False
    with pytest.raises(NotFound):
        svc.second_factor.get(nat, "Fleetdeck")


# ------------------------------------------------------------------ an expired password at login


def test_an_expired_password_is_changed_at_login_and_older_credentials_end(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    """``password_login`` with ``new_password`` for a user whose password an admin expired: the
    new one is set, the credential it returns carries the next version (so every earlier one,
    and the expiry's, no longer resumes), and the change is audited as the user's own."""
    root = factories.user(svc, Role.ADMIN, "root")
    kay = factories.user(svc, Role.VIEWER, "kay")
    svc.users.update(root, kay.user_id or 0, password_expired=True)
    expired = row(runtime, kay.user_id)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed, match=r"^password has expired, please change your password$"):
        svc.users.password_login("kay", factories.PASSWORD, SRC, "web")
    assert factories.audited(svc, mark) == [
        ("auth.login", "user", str(kay.user_id), "refused", {"reason": "password_expired"})
    ]
    with pytest.raises(ValidationFailed, match=r"^the new password must differ from the old one$"):
        svc.users.password_login("kay", factories.PASSWORD, SRC, "web", new_password=factories.PASSWORD)
    assert row(runtime, kay.user_id).token_version == expired.token_version  # refused: nothing written
    clock.now = T0 + timedelta(hours=2)
    mark = factories.audit_mark(svc)
    actor, credential = svc.users.password_login("kay", factories.PASSWORD, SRC, "web", new_password=NEW)
    assert (actor.user_id, credential.user_id, credential.version) == (
        kay.user_id,
        kay.user_id,
        expired.token_version + 1,
    )
    after = row(runtime, kay.user_id)
    assert (after.token_version, after.password_expired, after.password_changed_at, after.last_login_at) == (
        expired.token_version + 1,
        False,
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=2),
    )
    assert factories.audited(svc, mark) == [
        ("user.password", "user", str(kay.user_id), "ok", {"reason": "password_expired"})
    ]
    assert svc.users.resume(credential, SRC, "web").user_id == kay.user_id
    assert logs_in(svc, "kay", NEW) and not logs_in(svc, "kay", factories.PASSWORD)


def test_an_api_token_is_created_once_by_name_and_audited(svc: Services) -> None:
    """``create_token``: the audit row names the token (object type ``api_token``, its id, name
    and scope, never the secret); a second token of the same name is refused."""
    kay = factories.user(svc, Role.OPERATOR, "kay")
    mark = factories.audit_mark(svc)
    made = svc.users.create_token(kay, "ci", "read", None)
    assert factories.audited(svc, mark) == [
        ("token.create", "api_token", str(made.info.id), "ok", {"name": "ci", "scope": "read"})
    ]
    assert made.token not in str(factories.audit_since(svc, mark))
    with pytest.raises(Conflict, match=r"^you already have a token named 'ci'$"):
        svc.users.create_token(kay, "ci", "read", None)
