"""Failed-login throttling: a sliding window in the database, per (name, address) and per address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from fleetdeck.app import Runtime
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import BACKEND
from tests.factories import ManualClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _throttle(runtime: Runtime, clock: ManualClock, pair: int, address: int, window: float) -> LoginThrottle:
    return LoginThrottle(runtime.db, clock, max_per_pair=pair, max_per_address=address, window_sec=window)


def _fail(runtime: Runtime, throttle: LoginThrottle, name: str, address: str) -> None:
    with UnitOfWork(runtime.db) as uow:
        throttle.failed(uow.session, name, address)


def test_the_pair_limit_locks_that_name_from_that_address_only(runtime: Runtime) -> None:
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=2, address=100, window=60)
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    _fail(runtime, throttle, "alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 0  # one failure: still allowed
    clock.now += timedelta(seconds=10)
    _fail(runtime, throttle, "Alice ", "10.0.0.1")  # names compare trimmed and case-folded
    # two failures in the window: the wait lasts until the older one leaves it (60 - 10 s)
    assert throttle.retry_after("alice", "10.0.0.1") == 50
    assert throttle.retry_after("alice", "10.0.0.2") == 0  # the real user elsewhere is not locked out
    assert throttle.retry_after("bob", "10.0.0.1") == 0


def test_the_address_limit_covers_every_name(runtime: Runtime) -> None:
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=100, address=3, window=60)
    for name in ("a", "b", "c"):
        _fail(runtime, throttle, name, "10.0.0.7")
    assert throttle.retry_after("d", "10.0.0.7") == 60
    assert throttle.retry_after("d", "10.0.0.8") == 0


def test_failures_leave_the_window_and_are_dropped(runtime: Runtime) -> None:
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=2, address=100, window=60)
    _fail(runtime, throttle, "k", "a")
    _fail(runtime, throttle, "k", "a")
    clock.now += timedelta(seconds=59)
    assert throttle.retry_after("k", "a") == 1
    clock.now += timedelta(seconds=2)
    assert throttle.retry_after("k", "a") == 0
    _fail(runtime, throttle, "k", "a")
    assert throttle.retry_after("k", "a") == 0  # the old failures no longer count
    assert throttle.count() == 1  # and recording the new one dropped them


def test_success_clears_the_pair_only(runtime: Runtime) -> None:
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=1, address=100, window=60)
    _fail(runtime, throttle, "a", "ip1")
    _fail(runtime, throttle, "a", "ip2")
    with UnitOfWork(runtime.db) as uow:
        throttle.succeeded(uow.session, "a", "ip1")
    assert throttle.retry_after("a", "ip1") == 0
    assert throttle.retry_after("a", "ip2") > 0


def test_clear_by_name_by_address_or_both(runtime: Runtime) -> None:
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=1, address=100, window=60)
    for name, address in (("a", "1"), ("a", "2"), ("b", "1"), ("b", "2")):
        _fail(runtime, throttle, name, address)
    with UnitOfWork(runtime.db) as uow:
        assert throttle.clear(uow.session, "A", "1") == 1
        assert throttle.clear(uow.session, None, "2") == 2
        assert throttle.clear(uow.session, "b", None) == 1
    assert throttle.count() == 0


def test_long_names_and_addresses_are_cut_not_refused(runtime: Runtime) -> None:
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=1, address=100, window=60)
    _fail(runtime, throttle, "n" * 10_000, "a" * 10_000)
    assert throttle.retry_after("n" * 10_000, "a" * 10_000) == 60


@pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock and BEGIN IMMEDIATE are SQLite's")
def test_reading_the_throttle_takes_no_write_lock(runtime: Runtime) -> None:
    """``retry_after`` (asked before every login) and ``count`` only read: on SQLite they start
    a plain ``BEGIN``, never ``BEGIN IMMEDIATE``, so they do not queue behind writers."""
    clock = ManualClock(T0)
    throttle = _throttle(runtime, clock, pair=2, address=100, window=60)
    _fail(runtime, throttle, "k", "a")
    begun: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.strip().upper().startswith("BEGIN"):
            begun.append(statement.strip().upper())

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        assert throttle.count() == 1
        assert throttle.retry_after("k", "a") == 0
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert begun == ["BEGIN", "BEGIN"]
