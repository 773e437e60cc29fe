"""Password hashing: the production cost by default, configurable, and hashes upgraded at login."""

from __future__ import annotations

import pydantic
import pytest
from argon2 import PasswordHasher

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.secrets import Argon2Cost, Passwords
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import User
from fleetdeck.storage.uow import UnitOfWork


def test_default_cost_is_argon2_cffis_own() -> None:
    """The defaults (settings and core) are RFC 9106's low-memory profile, as argon2-cffi ships it."""
    reference = PasswordHasher()
    cost = Argon2Cost()
    assert (cost.time_cost, cost.memory_kib, cost.parallelism) == (
        reference.time_cost,
        reference.memory_cost,
        reference.parallelism,
    )
    fields = Settings.model_fields
    assert fields["argon2_time_cost"].default == reference.time_cost
    assert fields["argon2_memory_kib"].default == reference.memory_cost
    assert fields["argon2_parallelism"].default == reference.parallelism
    stored = Passwords().hash("correct horse")
    assert stored.startswith(f"$argon2id$v=19$m={reference.memory_cost},t={reference.time_cost},p=")


def test_a_hash_of_another_cost_verifies_and_is_upgraded_at_login(runtime: Runtime, system: Actor) -> None:
    user = runtime.services.users.create(system, "cost", "old-cost-password", Role.VIEWER)
    strong = Passwords(Argon2Cost(2, 16, 1)).hash("old-cost-password")
    with UnitOfWork(runtime.db) as uow:
        row = uow.session.get(User, user.id)
        assert row is not None
        row.password_hash = strong
    actor = runtime.services.users.authenticate_password("cost", "old-cost-password", "127.0.0.1", "test")
    assert actor.user_id == user.id
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(User, user.id)
        assert row is not None
        assert row.password_hash != strong
        assert row.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")  # the suite's cost
    again = runtime.services.users.authenticate_password("cost", "old-cost-password", "127.0.0.1", "test")
    assert again.user_id == user.id


def test_memory_must_fit_the_lanes() -> None:
    with pytest.raises(pydantic.ValidationError, match="8 x argon2_parallelism"):
        Settings(argon2_memory_kib=16, argon2_parallelism=4)
