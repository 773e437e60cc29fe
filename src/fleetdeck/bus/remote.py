"""What the bus backends that reach other server processes (Redis, NATS) have in common.

A process holds few network subscriptions and many local subscribers: every subscriber gets a
``QueueSubscription`` (the in-process bus's), and the backend subscribes on the network once per
distinct pattern (a "key"), however many local subscribers share it, and unsubscribes when the
last one closes. A message arriving for a key goes to that key's subscribers only, so a topic
that matches an exact and a prefix subscription reaches each subscriber exactly once.

Publishing never waits for the network: ``publish`` and ``publish_threadsafe`` append to one
outgoing queue, in order, and a writer task sends what has gathered in batches (a fan-out's
ten thousand ``job.status`` announcements become a few round trips, not ten thousand). The
queue is bounded (``max_outgoing``): while the bus is away it fills, and beyond the bound
messages are dropped and counted. That is the contract's at-most-once: durable state is in the
database, the bus only says "look again", and every reader has a slow fallback (a job watcher
polls, housekeeping re-announces queued jobs).

Topics travel under a namespace (``<namespace>.<topic>``): one Redis or NATS can serve several
installations, or the tests of several runs at once, without their messages mixing.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import deque
from typing import ClassVar

from fleetdeck.bus.base import Bus, Subscription
from fleetdeck.bus.local import QueueSubscription

log = logging.getLogger("fleetdeck.bus")

BATCH = 1000  # messages per network write
RETRY_MIN_SEC = 0.1
RETRY_MAX_SEC = 2.0


class BusUnavailable(RuntimeError):
    """The bus could not be reached when the server started."""


class RemoteBus(Bus):
    scheme: ClassVar[str]  # for messages: "redis", "nats"

    def __init__(
        self,
        url: str,
        namespace: str = "fleetdeck",
        *,
        max_outgoing: int = 200_000,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.connect_timeout = connect_timeout
        self._prefix = namespace + "."
        self._subs: dict[str, list[QueueSubscription]] = {}
        self._keys_lock = asyncio.Lock()  # a key's network (un)subscribe and its local list agree
        self._out: deque[tuple[str, bytes]] = deque()
        self._max_outgoing = max_outgoing
        self._out_event = asyncio.Event()
        self._empty = asyncio.Event()  # nothing waits to be sent (a clean close waits for it)
        self._empty.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[None] | None = None
        self.dropped_outgoing = 0  # published while the queue was full (the bus away too long)
        self.reconnects = 0  # times the connection was lost and made again (diagnostics, tests)

    # ------------------------------------------------------------ what a backend provides

    @abc.abstractmethod
    async def _connect(self) -> None:
        """Connect; raise on failure (``start`` turns that into ``BusUnavailable``)."""

    @abc.abstractmethod
    async def _disconnect(self) -> None: ...

    @abc.abstractmethod
    async def _listen(self, key: str) -> None:
        """Subscribe on the network to ``key`` (a contract pattern); once this returns, messages
        published afterwards by any process reach ``_deliver(key, ...)``."""

    @abc.abstractmethod
    async def _unlisten(self, key: str) -> None: ...

    @abc.abstractmethod
    async def _send(self, batch: list[tuple[str, bytes]]) -> None:
        """Publish ``batch`` (wire topics), in order; raise if the connection failed."""

    # ------------------------------------------------------------ topics on the wire

    def wire(self, topic: str) -> str:
        return self._prefix + topic

    def unwire(self, wire_topic: str) -> str | None:
        """The contract topic of a wire topic, or None for one outside this namespace."""
        return wire_topic[len(self._prefix) :] if wire_topic.startswith(self._prefix) else None

    def keys(self) -> list[str]:
        """The patterns subscribed now (re-subscribed after a reconnect)."""
        return list(self._subs)

    # ------------------------------------------------------------ the contract

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._connect(), self.connect_timeout)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self._disconnect()
            why = str(exc) or type(exc).__name__
            raise BusUnavailable(
                f"cannot reach the {self.scheme} bus at {self.url} (FLEETDECK_BUS_URL): {why}"
            ) from exc
        self._writer = asyncio.create_task(self._write_loop())

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):  # what is still queued goes out if it can
                await asyncio.wait_for(self._empty.wait(), 2.0)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        subs = [sub for subs in self._subs.values() for sub in subs]
        self._subs.clear()
        for sub in subs:
            sub.end()
        await self._disconnect()

    async def publish(self, topic: str, payload: bytes) -> None:
        self._enqueue(topic, payload)

    def publish_threadsafe(self, topic: str, payload: bytes) -> None:
        if self._loop is None or self._loop.is_closed():
            return  # not serving (CLI, tests): this process has no connection to publish on
        self._loop.call_soon_threadsafe(self._enqueue, topic, payload)

    def _enqueue(self, topic: str, payload: bytes) -> None:
        if len(self._out) >= self._max_outgoing:
            self.dropped_outgoing += 1
            if self.dropped_outgoing % 10_000 == 1:
                log.warning(
                    "the %s bus is not taking messages; %d dropped so far", self.scheme, self.dropped_outgoing
                )
            return
        self._out.append((self.wire(topic), payload))
        self._empty.clear()
        self._out_event.set()

    async def subscribe(self, pattern: str, *, max_pending: int = 10_000) -> Subscription:
        sub = QueueSubscription(pattern, max_pending, self._unsubscribe)
        async with self._keys_lock:
            subs = self._subs.setdefault(pattern, [])
            subs.append(sub)
            if len(subs) == 1:
                try:
                    await self._listen(pattern)
                except Exception as exc:  # away: the reconnect subscribes every key again
                    log.warning("subscribing to %s on the %s bus failed: %s", pattern, self.scheme, exc)
        return sub

    async def _unsubscribe(self, sub: QueueSubscription) -> None:
        async with self._keys_lock:
            subs = self._subs.get(sub.pattern)
            if subs is None or sub not in subs:
                return
            subs.remove(sub)
            if subs:
                return
            del self._subs[sub.pattern]
            try:
                await self._unlisten(sub.pattern)
            except Exception as exc:  # away: not subscribed again after the reconnect either
                log.debug("unsubscribing from %s failed: %s", sub.pattern, exc)

    def _deliver(self, key: str, wire_topic: str, payload: bytes) -> None:
        topic = self.unwire(wire_topic)
        if topic is None:
            return
        for sub in self._subs.get(key, ()):
            if sub.matches(topic):  # a backend may subscribe wider than the pattern (NATS)
                sub.offer((topic, payload))

    async def _write_loop(self) -> None:
        delay = RETRY_MIN_SEC
        while True:
            await self._out_event.wait()
            self._out_event.clear()
            while self._out:
                batch = [self._out[i] for i in range(min(BATCH, len(self._out)))]
                try:
                    await self._send(batch)
                except Exception as exc:
                    # Kept and sent again once the bus is back (a few may then arrive twice:
                    # harmless for "look again" messages, and the readers drop duplicates).
                    log.warning("publishing on the %s bus failed (%s); retrying", self.scheme, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_SEC)
                    continue
                delay = RETRY_MIN_SEC
                for _ in batch:
                    self._out.popleft()
            self._empty.set()
