"""Wait for a condition instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded machine (a flaky failure) or longer than needed
everywhere (a slow suite), and it says nothing about what the test waits for. These poll the
condition itself and fail with what was awaited and the last value seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class _Wait:
    """One wait: polls ``predicate`` and fails, saying what was awaited, once time is up."""

    def __init__(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        self.predicate, self.timeout, self.what = predicate, timeout, what
        self.deadline = time.monotonic() + timeout
        self.last: Any = None

    def done(self) -> bool:
        self.last = self.predicate()
        if self.last:
            return True
        if time.monotonic() >= self.deadline:
            raise AssertionError(
                f"timed out after {self.timeout}s waiting for {self.what or self.predicate};"
                f" last value: {self.last!r}"
            )
        return False


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> Any:
    """The first truthy value of ``predicate()``, polled every ``interval`` seconds."""
    wait = _Wait(predicate, timeout, what)
    while not wait.done():
        time.sleep(interval)
    return wait.last


async def async_wait_for(
    predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01, what: str = ""
) -> Any:
    """``wait_for`` inside an event loop: polls without blocking the loop, so the tasks that
    make the condition true keep running."""
    wait = _Wait(predicate, timeout, what)
    while not wait.done():
        await asyncio.sleep(interval)
    return wait.last
