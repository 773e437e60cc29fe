"""Failed-login throttling per user name and per source address (sliding window, in memory).

In memory is enough for one server process; a multi-process deployment will move the counters
to the shared store behind the same interface.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    def __init__(self, max_failures: int, window_sec: float) -> None:
        self._max = max_failures
        self._window = window_sec
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self._window:
            q.popleft()
        if not q:
            del self._failures[key]
            return deque()
        return q

    def retry_after(self, *keys: str) -> float:
        """Seconds to wait before another attempt is allowed; 0 if allowed now."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                q = self._prune(key, now)
                if len(q) >= self._max:
                    wait = max(wait, q[0] + self._window - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
                q = self._failures[key]
                while len(q) > self._max * 2:
                    q.popleft()

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)
