"""In-process bus: asyncio queues, one per subscription.

``QueueSubscription`` is also what the Redis and NATS backends hand out (``bus.remote``): the
network side differs, the queue a subscriber reads and its slow-consumer rule do not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fleetdeck.bus.base import Bus, Subscription


class QueueSubscription(Subscription):
    """A subscriber's queue: bounded, so a consumer that stops reading loses messages (counted
    in ``dropped``) instead of growing the process without limit."""

    def __init__(
        self, pattern: str, max_pending: int, release: Callable[[QueueSubscription], Awaitable[None]]
    ) -> None:
        self._release = release
        self.pattern = pattern
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(max_pending)
        self.dropped = 0

    def matches(self, topic: str) -> bool:
        if self.pattern.endswith("*"):
            return topic.startswith(self.pattern[:-1])
        return topic == self.pattern

    def offer(self, item: tuple[str, bytes]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1

    def end(self) -> None:
        """Wake a reader iterating over this subscription: the iteration ends."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> tuple[str, bytes] | None:
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        return item

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def close(self) -> None:
        await self._release(self)
        self.end()


class LocalBus(Bus):
    def __init__(self) -> None:
        self._subs: list[QueueSubscription] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.close()

    def _deliver(self, topic: str, payload: bytes) -> None:
        for sub in self._subs:
            if sub.matches(topic):
                sub.offer((topic, payload))

    async def publish(self, topic: str, payload: bytes) -> None:
        self._deliver(topic, payload)

    def publish_threadsafe(self, topic: str, payload: bytes) -> None:
        if self._loop is None or self._loop.is_closed():
            return  # not serving (CLI, tests): nobody in this process can be listening
        self._loop.call_soon_threadsafe(self._deliver, topic, payload)

    async def subscribe(self, pattern: str, *, max_pending: int = 10_000) -> Subscription:
        sub = QueueSubscription(pattern, max_pending, self._unsubscribe)
        self._subs.append(sub)
        return sub

    async def _unsubscribe(self, sub: QueueSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)
