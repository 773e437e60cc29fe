"""The bus over Redis publish/subscribe (``FLEETDECK_BUS_URL=redis://host:6379``).

Exact topics are Redis channels (SUBSCRIBE), prefix patterns Redis patterns (PSUBSCRIBE with the
prefix glob-escaped). Subscriptions share one connection, read by one task; publishing uses
another (``bus.remote``'s writer, pipelined).

Subscribing waits for Redis to confirm: the subscription and a later publish travel on different
connections, so without the confirmation an answer to a request published right after
subscribing could pass the subscription (``bus.gateway`` relies on "subscribed, then publish").

The connection that subscribes is watched by its reader: when it drops (Redis restarted, the
connection killed), the reader connects again with a growing pause and subscribes every current
pattern anew. Messages published in between are lost (at most once); see ``bus.remote``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from fleetdeck.bus.remote import RETRY_MAX_SEC, RETRY_MIN_SEC, RemoteBus

log = logging.getLogger("fleetdeck.bus")

CONFIRM_SEC = 5.0  # a subscription not confirmed by then is taken as made (the reader is away)
_GLOB = re.compile(r"([\\*?\[\]])")


class RedisBus(RemoteBus):
    scheme = "redis"

    def __init__(self, url: str, namespace: str = "fleetdeck", **kwargs: Any) -> None:
        super().__init__(url, namespace, **kwargs)
        self.client_name = f"fleetdeck-bus-{secrets.token_hex(4)}"  # findable in CLIENT LIST
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._names: dict[bytes, str] = {}  # channel or pattern on the wire -> key
        self._confirm: dict[bytes, list[asyncio.Future[None]]] = {}

    def _name(self, key: str) -> tuple[bool, bytes]:
        """(is a pattern, its name on the wire)."""
        if key.endswith("*"):
            return True, (_GLOB.sub(r"\\\1", self.wire(key[:-1])) + "*").encode()
        return False, self.wire(key).encode()

    async def _connect(self) -> None:
        # No retries inside redis-py: a failed command raises, and this bus decides what then
        # (the writer retries, the reader connects again and re-subscribes).
        self._client = Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=5,
            socket_keepalive=True,
            client_name=self.client_name,
        )
        await self._client.ping()  # type: ignore[misc]  # redis-py types sync and async in one
        self._pubsub = await self._open_pubsub()
        self._reader = asyncio.create_task(self._read_loop())

    async def _disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    async def _open_pubsub(self) -> PubSub:
        """A subscribing connection, subscribed to every current key (after a reconnect)."""
        assert self._client is not None
        pubsub = self._client.pubsub()
        await pubsub.connect()  # type: ignore[no-untyped-call]
        channels = [name for key in self.keys() for pattern, name in [self._name(key)] if not pattern]
        patterns = [name for key in self.keys() for pattern, name in [self._name(key)] if pattern]
        if channels:
            await pubsub.subscribe(*channels)
        if patterns:
            await pubsub.psubscribe(*patterns)
        return pubsub

    async def _listen(self, key: str) -> None:
        pattern, name = self._name(key)
        self._names[name] = key
        if self._pubsub is None:
            return  # reconnecting: subscribed then
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(name, []).append(confirmed)
        try:
            if pattern:
                await self._pubsub.psubscribe(name)
            else:
                await self._pubsub.subscribe(name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(confirmed, CONFIRM_SEC)
        finally:
            waiting = self._confirm.get(name, [])
            if confirmed in waiting:
                waiting.remove(confirmed)
            if not waiting:
                self._confirm.pop(name, None)

    async def _unlisten(self, key: str) -> None:
        pattern, name = self._name(key)
        self._names.pop(name, None)
        if self._pubsub is None:
            return
        if pattern:
            await self._pubsub.punsubscribe(name)
        else:
            await self._pubsub.unsubscribe(name)

    async def _send(self, batch: list[tuple[str, bytes]]) -> None:
        assert self._client is not None
        async with self._client.pipeline(transaction=False) as pipe:
            for topic, payload in batch:
                pipe.publish(topic, payload)
            await pipe.execute()

    async def _read_loop(self) -> None:
        delay = RETRY_MIN_SEC
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = await self._open_pubsub()
                    self.reconnects += 1
                    log.info("the redis bus is back; subscribed to %d patterns again", len(self.keys()))
                    delay = RETRY_MIN_SEC
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._pubsub is not None:
                    log.warning("lost the redis bus (%s); connecting again", exc)
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                    self._pubsub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SEC)
                continue
            if message is not None:
                self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            name = message["channel"]
        elif kind == "pmessage":
            name = message["pattern"]
        else:
            if kind in ("subscribe", "psubscribe"):
                for confirmed in self._confirm.pop(message["channel"], []):
                    if not confirmed.done():
                        confirmed.set_result(None)
            return
        key = self._names.get(name)
        if key is not None:
            self._deliver(key, message["channel"].decode(errors="replace"), message["data"])
