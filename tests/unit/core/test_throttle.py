"""Failed-login throttling: a sliding window per key (user name, address)."""

from __future__ import annotations

import time

from fleetdeck.core.users.throttle import LoginThrottle


def test_the_limit_applies_per_key_and_the_longest_wait_wins() -> None:
    throttle = LoginThrottle(max_failures=2, window_sec=60)
    assert throttle.retry_after("user:a", "ip:1") == 0
    throttle.failed("user:a", "ip:1")
    assert throttle.retry_after("user:a", "ip:1") == 0  # one failure: still allowed
    throttle.failed("user:a")
    wait = throttle.retry_after("user:a")
    assert 59 < wait <= 60
    assert throttle.retry_after("ip:1") == 0  # the address failed only once
    assert 59 < throttle.retry_after("ip:1", "user:a") <= 60
    assert throttle.retry_after("user:b") == 0


def test_success_clears_the_user_only() -> None:
    throttle = LoginThrottle(max_failures=1, window_sec=60)
    throttle.failed("user:a", "ip:1")
    throttle.succeeded("user:a")
    assert throttle.retry_after("user:a") == 0
    assert throttle.retry_after("ip:1") > 0
    throttle.succeeded("user:unknown")  # nothing to clear: fine


def test_failures_leave_the_window() -> None:
    throttle = LoginThrottle(max_failures=2, window_sec=0.2)
    throttle.failed("k")
    throttle.failed("k")
    first = throttle.retry_after("k")
    assert 0 < first <= 0.2
    time.sleep(0.25)
    assert throttle.retry_after("k") == 0
    throttle.failed("k")
    assert throttle.retry_after("k") == 0  # the old failures no longer count


def test_memory_per_key_is_bounded() -> None:
    throttle = LoginThrottle(max_failures=3, window_sec=60)
    for _ in range(100):
        throttle.failed("k")
    assert len(throttle._failures["k"]) == 6  # twice the limit is enough to know the wait
    wait = throttle.retry_after("k")
    assert 59 < wait <= 60
