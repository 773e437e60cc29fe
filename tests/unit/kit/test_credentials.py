"""The kit's credential cache: a password verified once is not hashed again for a while, and
the cache never outlives a change to the user (password, disabling, deletion, role)."""

from __future__ import annotations

from datetime import datetime

import pytest

from fleetdeck.api.kit.credentials import CredentialCache
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.query import Query
from fleetdeck.core.users.entities import Credential

PASSWORD = "a-long-password-1"


def last_login(runtime: Runtime, user_id: int, admin: Actor) -> datetime | None:
    """Moves exactly when core verified the password (a cache hit does not)."""
    return runtime.services.users.get(admin, user_id).last_login_at


@pytest.fixture
def alice(runtime: Runtime, admin: Actor) -> int:
    return runtime.services.users.create(admin, "alice", PASSWORD, Role.OPERATOR).id


def test_a_second_call_is_served_from_the_cache(runtime: Runtime, admin: Actor, alice: int) -> None:
    cache = CredentialCache()
    users = runtime.services.users
    first = cache.authenticate_basic(users, "alice", PASSWORD, "10.0.0.1", "test")
    verified_at = last_login(runtime, alice, admin)
    assert verified_at is not None and first.user_id == alice and first.role is Role.OPERATOR
    for _ in range(3):
        again = cache.authenticate_basic(users, "alice", PASSWORD, "10.0.0.2", "oco")
        assert (again.user_id, again.source, again.via) == (alice, "10.0.0.2", "oco")
    assert last_login(runtime, alice, admin) == verified_at  # no second verification
    assert len(cache) == 1


def test_what_the_cache_holds_is_no_secret(runtime: Runtime, alice: int) -> None:
    cache = CredentialCache()
    cache.authenticate_basic(runtime.services.users, "alice", PASSWORD, "", "test")
    ((key, (credential, _expires)),) = cache._items.items()
    assert isinstance(key, bytes) and len(key) == 32 and PASSWORD.encode() not in key
    assert isinstance(credential, Credential) and PASSWORD not in repr(credential)


def test_a_wrong_password_is_never_cached(runtime: Runtime, alice: int) -> None:
    cache = CredentialCache()
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            cache.authenticate_basic(runtime.services.users, "alice", "wrong-password", "", "test")
    assert len(cache) == 0
    entries = runtime.services.audit.find(Actor(None, "a", Role.ADMIN), Query(limit=None)).items
    assert sum(1 for e in entries if e.action == "auth.login" and e.result == "failed") == 2  # each one seen


def test_a_password_change_ends_the_cached_login(runtime: Runtime, admin: Actor, alice: int) -> None:
    cache = CredentialCache()
    users = runtime.services.users
    cache.authenticate_basic(users, "alice", PASSWORD, "", "test")
    users.set_password(admin, alice, "another-password-2")
    with pytest.raises(AuthenticationFailed):
        cache.authenticate_basic(users, "alice", PASSWORD, "", "test")
    assert len(cache) == 0
    assert cache.authenticate_basic(users, "alice", "another-password-2", "", "test").user_id == alice


def test_disabling_or_deleting_the_user_ends_the_cached_login(
    runtime: Runtime, admin: Actor, alice: int
) -> None:
    cache = CredentialCache()
    users = runtime.services.users
    bob = users.create(admin, "bob", PASSWORD, Role.VIEWER).id
    cache.authenticate_basic(users, "alice", PASSWORD, "", "test")
    cache.authenticate_basic(users, "bob", PASSWORD, "", "test")
    users.update(admin, alice, disabled=True)
    users.delete(admin, bob)
    for name in ("alice", "bob"):
        with pytest.raises(AuthenticationFailed):
            cache.authenticate_basic(users, name, PASSWORD, "", "test")
    assert len(cache) == 0


def test_a_role_change_shows_at_the_next_call(runtime: Runtime, admin: Actor, alice: int) -> None:
    cache = CredentialCache()
    users = runtime.services.users
    assert cache.authenticate_basic(users, "alice", PASSWORD, "", "test").role is Role.OPERATOR
    users.update(admin, alice, role=Role.VIEWER)
    assert cache.authenticate_basic(users, "alice", PASSWORD, "", "test").role is Role.VIEWER


def test_entries_expire_and_the_cache_is_bounded(runtime: Runtime, admin: Actor, alice: int) -> None:
    users = runtime.services.users
    expired = CredentialCache(ttl=0)
    expired.authenticate_basic(users, "alice", PASSWORD, "", "test")
    first = last_login(runtime, alice, admin)
    expired.authenticate_basic(users, "alice", PASSWORD, "", "test")
    assert last_login(runtime, alice, admin) != first  # verified again
    small = CredentialCache(max_entries=1)
    users.create(admin, "carol", PASSWORD, Role.VIEWER)
    small.authenticate_basic(users, "alice", PASSWORD, "", "test")
    small.authenticate_basic(users, "carol", PASSWORD, "", "test")
    assert len(small) == 1


def test_api_tokens_pass_through_and_their_revocation_counts(
    runtime: Runtime, admin: Actor, alice: int
) -> None:
    users = runtime.services.users
    alice_actor = Actor(user_id=alice, username="alice", role=Role.OPERATOR)
    token = users.create_token(alice_actor, "script", "read", None)
    cache = CredentialCache()
    actor, credential = cache.login(users, "alice", token.token, "", "test")
    assert actor.read_only and credential.token_id == token.info.id
    assert len(cache) == 0
    assert users.resume(credential, "", "test").read_only
    users.revoke_token(alice_actor, token.info.id)
    with pytest.raises(AuthenticationFailed):
        users.resume(credential, "", "test")
