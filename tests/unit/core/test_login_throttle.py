"""Failed-login throttling: guessing is slowed per (name, address) and per address, an attacker
cannot lock the admin out from elsewhere, and an admin can clear a ban (audited)."""

from __future__ import annotations

import pytest

from fleetdeck.app import Runtime, build_runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed, PermissionDenied, TooManyAttempts
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.settings import Settings

PASSWORD = "admin-password-1"  # tests/conftest.py's admin


def fail(runtime: Runtime, name: str, address: str, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationFailed):
            runtime.services.users.authenticate_password(name, "wrong-password", address, "test")


def login(runtime: Runtime, name: str, address: str, password: str = PASSWORD) -> Actor:
    return runtime.services.users.authenticate_password(name, password, address, "test")


def test_failures_for_other_names_do_not_lock_the_admin_out(runtime: Runtime, admin: Actor) -> None:
    for name in ("root", "administrator", "test", "guest", "oracle", "pi"):
        fail(runtime, name, "10.0.0.7", 5)  # each name now waits at that address
    assert login(runtime, "admin", "10.0.0.7").user_id == admin.user_id
    with pytest.raises(TooManyAttempts):
        login(runtime, "root", "10.0.0.7", "anything")


def test_guessing_a_name_locks_it_at_that_address_only(runtime: Runtime, admin: Actor) -> None:
    fail(runtime, "admin", "198.51.100.4", 5)
    with pytest.raises(TooManyAttempts) as caught:
        login(runtime, "admin", "198.51.100.4")  # even the right password waits there
    assert 0 < caught.value.retry_after <= 300
    assert login(runtime, "admin", "10.0.0.8").user_id == admin.user_id  # the real admin elsewhere


def test_an_address_with_too_many_failures_waits_for_every_name(
    settings: Settings, runtime: Runtime, admin: Actor
) -> None:
    tight = build_runtime(settings.model_copy(update={"login_max_failures_per_address": 8}), migrate_db=False)
    try:
        for n in range(8):
            fail(tight, f"user{n}", "203.0.113.5")
        with pytest.raises(TooManyAttempts):
            login(tight, "admin", "203.0.113.5")
        assert login(tight, "admin", "203.0.113.6").user_id == admin.user_id
    finally:
        tight.db.dispose()


def test_a_success_clears_that_pair(runtime: Runtime, admin: Actor) -> None:
    fail(runtime, "admin", "10.1.1.1", 4)
    login(runtime, "admin", "10.1.1.1")
    fail(runtime, "admin", "10.1.1.1", 4)  # counted from zero again: still allowed
    assert login(runtime, "admin", "10.1.1.1").user_id == admin.user_id


def test_failures_are_shared_by_every_process_on_the_database(
    settings: Settings, runtime: Runtime, admin: Actor
) -> None:
    other = build_runtime(settings, migrate_db=False)  # another server process, same database
    try:
        fail(runtime, "admin", "10.2.2.2", 3)
        fail(other, "admin", "10.2.2.2", 2)
        with pytest.raises(TooManyAttempts):
            login(other, "admin", "10.2.2.2")
        with pytest.raises(TooManyAttempts):
            login(runtime, "admin", "10.2.2.2")
    finally:
        other.db.dispose()


def test_unlock_clears_a_name_or_an_address_and_is_audited(
    runtime: Runtime, admin: Actor, system: Actor
) -> None:
    users = runtime.services.users
    fail(runtime, "admin", "10.3.3.3", 5)
    fail(runtime, "bob", "10.3.3.4", 5)
    viewer = users.create(system, "victor", "victor-password-1", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        users.unlock(Actor(viewer.id, "victor", Role.VIEWER), "admin")
    assert users.unlock(admin, "admin") == 5
    assert login(runtime, "admin", "10.3.3.3").user_id == admin.user_id
    assert users.unlock(admin, address="10.3.3.4") == 5
    with pytest.raises(AuthenticationFailed) as still:
        login(runtime, "bob", "10.3.3.4", "anything")
    assert not isinstance(still.value, TooManyAttempts)  # checked again, not waiting
    query = Query(where=(Cond("action", Op.EQ, "user.unlock"),), limit=None)
    results = sorted(e.result for e in runtime.services.audit.find(admin, query).items)
    assert results == ["denied", "ok", "ok"]
