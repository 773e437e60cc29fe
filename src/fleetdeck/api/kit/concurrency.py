"""Worker threads for the synchronous core, shared fairly between callers.

Core is synchronous SQLAlchemy, so every dialect request runs in a worker thread. The threads
come from one limiter per process (``workers``); on top of it each caller (a user, an opsi
client, an address) may hold at most ``per_caller`` of them at once, so one script firing a
thousand parallel requests queues behind its own slots instead of starving every other caller.
Waiting requests hold no thread.

What holds a connection open for long (a long poll, a job stream, the UI's live views) is
capped per caller too (:class:`PerCaller`): each holds a socket and a bus subscription that the
server feeds for as long as it lasts, so one caller (a script in a loop, a stolen token) could
otherwise open thousands and take them from everyone else. Counted per user name within one
server process, where the sockets and subscriptions are held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
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


class TooMany(Exception):
    """The caller holds ``limit`` already; the transport answers in its own way (429, 4429)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} at once per caller")
        self.limit = limit


class PerCaller:
    """How many of one kind of open request each caller holds, at most ``per_caller``."""

    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._open: dict[str, int] = {}

    def held(self, caller: str) -> int:
        return self._open.get(caller, 0)

    @contextmanager
    def slot(self, caller: str) -> Iterator[None]:
        """Hold one for the block; :class:`TooMany` if the caller holds ``per_caller``."""
        if self._open.get(caller, 0) >= self.per_caller:
            raise TooMany(self.per_caller)
        self._open[caller] = self._open.get(caller, 0) + 1
        try:
            yield
        finally:
            if (left := self._open[caller] - 1) > 0:
                self._open[caller] = left
            else:
                del self._open[caller]
