"""Passwords and tokens as an attacker would probe them: a read-only token changes no password,
and an admin's reset of a user's password revokes the user's API tokens."""

from __future__ import annotations

import pytest

from fleetdeck.api.kit.credentials import CredentialCache
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed, PermissionDenied
from fleetdeck.core.query import Query

PASSWORD = "a-long-password-1"


@pytest.fixture
def alice(runtime: Runtime, admin: Actor) -> int:
    return runtime.services.users.create(admin, "alice", PASSWORD, Role.OPERATOR).id


def test_a_read_only_token_changes_no_password(runtime: Runtime, admin: Actor, alice: int) -> None:
    users = runtime.services.users
    alice_actor = Actor(user_id=alice, username="alice", role=Role.OPERATOR)
    token = users.create_token(alice_actor, "ro", "read", None)
    reader = users.authenticate_bearer(token.token, "", "test")
    with pytest.raises(PermissionDenied, match="read-only token"):
        users.set_password(reader, alice, "another-password-9", current_password=PASSWORD)
    assert users.authenticate_password("alice", PASSWORD, "", "test").user_id == alice  # unchanged


def test_an_admins_reset_revokes_the_users_api_tokens(runtime: Runtime, admin: Actor, alice: int) -> None:
    users = runtime.services.users
    alice_actor = Actor(user_id=alice, username="alice", role=Role.OPERATOR)
    kept = users.create_token(alice_actor, "mine", "read+write", None)
    users.set_password(alice_actor, alice, "alices-own-choice-1", current_password=PASSWORD)
    assert users.authenticate_bearer(kept.token, "", "test").user_id == alice  # her own change keeps them
    users.set_password(admin, alice, "reset-by-admin-1")
    with pytest.raises(AuthenticationFailed):
        users.authenticate_bearer(kept.token, "", "test")
    entries = runtime.services.audit.find(admin, Query(limit=None)).items
    reset = next(e for e in entries if e.action == "user.password" and e.user_id == admin.user_id)
    assert reset.detail == {"web_sessions_ended": 0, "api_tokens_revoked": 1}


def test_a_deleted_users_token_is_not_a_later_users(runtime: Runtime, admin: Actor) -> None:
    """A login token and a cached credential of a deleted user do not work for the next user,
    even one with the same name and (on SQLite before ids were made unique forever) the same id."""
    users = runtime.services.users
    cache = CredentialCache()
    old = users.create(admin, "bob", PASSWORD, Role.VIEWER)
    token = users.login("bob", PASSWORD, "127.0.0.1").token
    cache.authenticate_basic(users, "bob", PASSWORD, "", "test")
    users.delete(admin, old.id)
    new = users.create(admin, "bob", PASSWORD, Role.ADMIN)
    with pytest.raises(AuthenticationFailed):
        users.authenticate_bearer(token, "", "test")
    actor = cache.authenticate_basic(users, "bob", PASSWORD, "", "test")  # verified anew, as the new bob
    assert actor.user_id == new.id and actor.role is Role.ADMIN
