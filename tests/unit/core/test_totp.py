"""The authenticator-app second factor in core: a code is accepted once, by whichever server
process sees it first (scale-out runs several on one database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Role
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.services import CoreConfig, build_services
from fleetdeck.core.users.totp import STEP_SEC
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock


def test_a_code_is_accepted_once_across_processes(runtime: Runtime) -> None:
    clock = ManualClock(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC))
    first = build_services(runtime.db, SECRET, CoreConfig(), clock=clock)  # two server processes
    second = build_services(runtime.db, SECRET, CoreConfig(), clock=clock)  # on one database
    alice = factories.user(first, Role.OPERATOR, "alice")
    secret = first.second_factor.create(alice, "fleetdeck").secret
    totp = pyotp.TOTP(secret)
    code = totp.at(clock.now)

    first.second_factor.verify(alice, code)
    with pytest.raises(AuthenticationFailed):
        second.second_factor.verify(alice, code)  # replayed on the other process: refused
    with pytest.raises(AuthenticationFailed):
        first.second_factor.verify(alice, totp.at(clock.now - timedelta(seconds=STEP_SEC)))  # older step

    clock.now += timedelta(seconds=STEP_SEC)
    second.second_factor.verify(alice, totp.at(clock.now))  # the next step's code is fine anywhere

    # A new secret starts afresh: its first code is not measured against the old one's steps.
    first.second_factor.delete(alice, alice.user_id or 0)
    renewed = pyotp.TOTP(second.second_factor.create(alice, "fleetdeck").secret)
    clock.now -= timedelta(seconds=STEP_SEC)
    first.second_factor.verify(alice, renewed.at(clock.now))


def test_a_code_of_the_step_before_or_after_is_accepted_but_not_two_steps_back(runtime: Runtime) -> None:
    """Clock drift of one 30-second step either way is tolerated; a code two steps old is not."""
    clock = ManualClock(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC))
    svc = build_services(runtime.db, SECRET, CoreConfig(), clock=clock)
    bea = factories.user(svc, Role.OPERATOR, "bea")
    totp = pyotp.TOTP(svc.second_factor.create(bea, "fleetdeck").secret)
    step = timedelta(seconds=STEP_SEC)
    assert len({totp.at(clock.now + n * step) for n in (-2, -1, 1)}) == 3  # three different codes
    with pytest.raises(AuthenticationFailed, match=r"^invalid code$"):
        svc.second_factor.verify(bea, totp.at(clock.now - 2 * step))
    svc.second_factor.verify(bea, totp.at(clock.now - step))
    svc.second_factor.verify(bea, totp.at(clock.now + step))  # newer than the one accepted
