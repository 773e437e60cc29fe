from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime, build_runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    PermissionDenied,
    TooManyAttempts,
    ValidationFailed,
)
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import User
from fleetdeck.storage.uow import UnitOfWork


def test_passwords_are_argon2_hashed(runtime: Runtime, admin: Actor) -> None:
    runtime.services.users.create(admin, "alice", "correct horse", Role.OPERATOR)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.query(User).filter_by(username="alice").one()
        assert row.password_hash.startswith("$argon2id$") and "correct horse" not in row.password_hash


def test_login_and_bearer(runtime: Runtime, admin: Actor) -> None:
    users = runtime.services.users
    users.create(admin, "bob", "bob-password", Role.VIEWER)
    result = users.login("bob", "bob-password", "10.0.0.1")
    actor = users.authenticate_bearer(result.token, "10.0.0.1", "api")
    assert (actor.username, actor.role) == ("bob", Role.VIEWER)
    with pytest.raises(AuthenticationFailed):
        users.authenticate_bearer(result.token + "x", "10.0.0.1", "api")
    # A password change revokes existing tokens.
    users.set_password(admin, actor.user_id or 0, "new-password-1")
    with pytest.raises(AuthenticationFailed):
        users.authenticate_bearer(result.token, "10.0.0.1", "api")


def test_throttling_per_user_and_per_address(runtime: Runtime, admin: Actor) -> None:
    users = runtime.services.users
    users.create(admin, "carol", "carol-password", Role.VIEWER)
    for _ in range(5):  # login_max_failures
        with pytest.raises(AuthenticationFailed):
            users.login("carol", "wrong", "10.0.0.2")
    with pytest.raises(TooManyAttempts) as exc:
        users.login("carol", "carol-password", "10.0.0.2")  # right password, but locked from there
    assert exc.value.retry_after > 0
    # Guessing from 10.0.0.2 does not lock carol out elsewhere, nor another name from there.
    assert users.login("carol", "carol-password", "10.0.0.3").token
    assert users.login("admin", "admin-password-1", "10.0.0.2").token
    audit = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "auth.login"),), limit=100))
    assert {e.result for e in audit.items} == {"ok", "failed", "throttled"}


def test_an_abusive_address_is_locked_out_for_every_name(settings: Settings, admin: Actor) -> None:
    rt = build_runtime(settings.model_copy(update={"login_max_failures_per_address": 3}), migrate_db=False)
    try:
        users = rt.services.users
        for name in ("x", "y", "z"):
            with pytest.raises(AuthenticationFailed):
                users.login(name, "wrong", "10.0.0.5")
        with pytest.raises(TooManyAttempts):
            users.login("admin", "admin-password-1", "10.0.0.5")
        assert users.login("admin", "admin-password-1", "10.0.0.6").token
    finally:
        rt.db.dispose()


def test_api_tokens(runtime: Runtime, admin: Actor) -> None:
    users = runtime.services.users
    new = users.create_token(admin, "ci", "read", datetime.now(UTC) + timedelta(days=1))
    actor = users.authenticate_bearer(new.token, "127.0.0.1", "api")
    assert actor.read_only and actor.username == "admin"
    assert users.authenticate_basic("admin", new.token, "127.0.0.1", "api").read_only
    with pytest.raises(AuthenticationFailed):
        users.authenticate_basic("someone-else", new.token, "127.0.0.1", "api")
    with pytest.raises(PermissionDenied):
        users.create(actor, "x", "password-123", Role.VIEWER)
    with pytest.raises(Conflict):
        users.create_token(admin, "ci", "read", None)
    users.revoke_token(admin, new.info.id)
    with pytest.raises(AuthenticationFailed):
        users.authenticate_bearer(new.token, "127.0.0.1", "api")


def test_a_token_given_as_basic_auth_logs_in_from_where_it_came_only_under_its_owners_name(
    runtime: Runtime, admin: Actor
) -> None:
    """``basic_login`` with an API token for the password: the actor keeps the address and the
    transport of the request, and the credential names the token; under another user's name it
    is the same refusal as a wrong password."""
    users = runtime.services.users
    new = users.create_token(admin, "ci", "read+write", None)
    actor, credential = users.basic_login("admin", new.token, "10.0.0.5", "opsi")
    assert (actor.username, actor.source, actor.via, actor.read_only) == ("admin", "10.0.0.5", "opsi", False)
    assert (credential.user_id, credential.token_id) == (admin.user_id, new.info.id)
    with pytest.raises(AuthenticationFailed) as err:
        users.basic_login("someone-else", new.token, "10.0.0.5", "opsi")
    assert err.value.message == "invalid user name or password"


def test_creating_a_name_taken_in_another_case_is_a_conflict_on_the_username(
    runtime: Runtime, admin: Actor
) -> None:
    """``create`` refuses a name that differs from an existing one only in case: the refusal
    names the field ``username`` (what a dialect shows as the bad parameter)."""
    users = runtime.services.users
    users.create(admin, "Dora", "dora-password", Role.VIEWER)
    with pytest.raises(Conflict) as err:
        users.create(admin, "dORA", "dora-password", Role.VIEWER)
    assert (err.value.message, err.value.detail) == ("user 'dORA' already exists", {"field": "username"})


def test_last_admin_cannot_be_removed(runtime: Runtime, admin: Actor) -> None:
    users = runtime.services.users
    with pytest.raises(Conflict):
        users.update(admin, admin.user_id or 0, role=Role.VIEWER)
    with pytest.raises(ValidationFailed):
        users.create(admin, "bad name!", "password-123", Role.VIEWER)
    with pytest.raises(ValidationFailed):
        users.create(admin, "short", "pw", Role.VIEWER)
