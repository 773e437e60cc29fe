"""Worker threads for the synchronous core, shared fairly between callers.

Core is synchronous SQLAlchemy, so every dialect request runs in a worker thread. The threads
come from one limiter per process (``workers``); on top of it each caller (a user, an opsi
client, an address) may hold at most ``per_caller`` of them at once, so one script firing a
thousand parallel requests queues behind its own slots instead of starving every other caller.
Waiting requests hold no thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

DEFAULT_WORKERS = 40  # anyio's own default thread pool size
DEFAULT_PER_CALLER = 8


class CallerLimits:
    def __init__(self, workers: int = DEFAULT_WORKERS, per_caller: int = DEFAULT_PER_CALLER) -> None:
        self.per_caller = per_caller
        self.workers = workers
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, inside the loop
        self._callers: dict[str, tuple[anyio.Semaphore, int]] = {}

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        """One of ``caller``'s slots; entries vanish when their last user leaves, so the table
        holds only callers with requests in flight."""
        sem, users = self._callers.get(caller) or (anyio.Semaphore(self.per_caller), 0)
        self._callers[caller] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem, users = self._callers[caller]
            if users <= 1:
                del self._callers[caller]
            else:
                self._callers[caller] = (sem, users - 1)

    async def run(self, caller: str, func: Callable[[], T]) -> T:
        """``func()`` in a worker thread, within ``caller``'s share."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        async with self.slot(caller):
            return await anyio.to_thread.run_sync(func, limiter=self._limiter)

    def in_flight(self) -> dict[str, int]:
        """Callers with requests in flight (for tests and diagnostics)."""
        return {caller: users for caller, (_sem, users) in self._callers.items()}
