"""Reconnect delays: full jitter within exponential bounds, and reset after a stable link."""

from __future__ import annotations

import random

import pytest

from fleetdeck.agent.backoff import Backoff, backoff_delay


def lo(a: float, b: float) -> float:
    return a


def hi(a: float, b: float) -> float:
    return b


def test_bounds_grow_exponentially_then_cap() -> None:
    assert [backoff_delay(n, 1.0, 60.0, hi) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert all(backoff_delay(n, 1.0, 60.0, lo) == 1.0 for n in range(8))
    assert backoff_delay(10_000, 1.0, 60.0, hi) == 60.0  # no overflow after days of failures


def test_full_jitter_spreads_delays() -> None:
    rng = random.Random(42)
    delays = [backoff_delay(10, 1.0, 60.0, rng.uniform) for _ in range(2000)]
    assert all(1.0 <= d <= 60.0 for d in delays)
    # Uniform over [1, 60]: both halves are well populated (not clustered at the cap).
    assert sum(d < 30.5 for d in delays) > 800
    assert sum(d >= 30.5 for d in delays) > 800


def test_reset_only_after_a_stable_connection() -> None:
    b = Backoff(1.0, 60.0, hi)
    assert [b.next_delay() for _ in range(4)] == [1, 2, 4, 8]
    b.connection_ended(5.0)  # short-lived: keep backing off
    assert b.next_delay() == 16
    b.connection_ended(61.0)
    assert b.next_delay() == 1


def test_bye_jitter_within_window() -> None:
    assert Backoff(1.0, 60.0, hi).jitter(30.0) == 30.0
    assert Backoff(1.0, 60.0, lo).jitter(30.0) == 0.0
    rng = random.Random(1)
    b = Backoff(1.0, 60.0, rng.uniform)
    assert all(0.0 <= b.jitter(5.0) <= 5.0 for _ in range(100))


def test_invalid_bounds() -> None:
    with pytest.raises(ValueError, match="reconnect"):
        Backoff(5.0, 1.0)


def test_coming_back_keeps_every_delay_within_the_window() -> None:
    """After a Bye (or a healthy connection's drop) the retries start over and stay within the
    server's window however long the restart takes, until a session is up again."""
    b = Backoff(1.0, 60.0, hi)
    assert [b.next_delay() for _ in range(5)] == [1, 2, 4, 8, 16]
    b.returning(5.0)
    assert [b.next_delay() for _ in range(6)] == [1, 2, 4, 5, 5, 5]
    b.connected()  # up again: the ordinary cap, and the count goes on until the link is stable
    assert b.next_delay() == 60
    b.returning(0.2)  # a window below the minimum: the minimum
    assert b.next_delay() == 1.0
