"""The bus contract, in the spirit of httpx's transports: small, async, backend-agnostic.

Topics are dot-separated strings. ``subscribe("jobs.queued")`` matches that topic exactly;
``subscribe("job.output.*")`` matches every topic with that prefix. Delivery is at-most-once
and fire-and-forget: durable state lives in the database, the bus only says "look again".
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator


class Subscription(abc.ABC):
    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...

    @abc.abstractmethod
    async def get(self, timeout: float | None = None) -> tuple[str, bytes] | None:
        """Next message, or None on timeout."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class Bus(abc.ABC):
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, topic: str, payload: bytes) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, pattern: str, *, max_pending: int = 10_000) -> Subscription:
        """``max_pending``: messages beyond this many unread ones are dropped (slow consumer)."""

    @abc.abstractmethod
    def publish_threadsafe(self, topic: str, payload: bytes) -> None:
        """Publish from a worker thread (core services run in threads)."""
