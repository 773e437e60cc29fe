"""The bus over NATS core publish/subscribe (``FLEETDECK_BUS_URL=nats://host:4222``).

Topics are already dot-separated, as NATS subjects are. An exact topic is its subject; a prefix
pattern ends at a token boundary in practice (``job.output.*``) and becomes ``job.output.>``; a
prefix that ends inside a token (``jo*``) subscribes to the enclosing level and the shared
machinery filters (``bus.remote``). Characters NATS gives a meaning in a token (whitespace,
``*``, ``>``) are percent-encoded on the wire, and ``%`` itself, so every topic round-trips.

Subscribing waits for a PING/PONG round trip, after which the server has the subscription: a
message another process publishes from then on reaches it (``bus.gateway`` relies on
"subscribed, then publish"). nats-py reconnects by itself (for ever, here) and subscribes
again; what is published meanwhile waits in its buffer (``pending_size``), beyond it is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import Any
from urllib.parse import unquote

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from fleetdeck.bus.remote import RemoteBus

log = logging.getLogger("fleetdeck.bus")

_SPECIAL = re.compile(r"[%*>\s]")
ROUND_TRIP_SEC = 5  # a subscription's confirmation; longer means the server is away
PENDING_BYTES = 64 * 1024 * 1024  # a fan-out's announcements while the server is away


def escape(topic: str) -> str:
    return _SPECIAL.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), topic)


def unescape(subject: str) -> str:
    return unquote(subject) if "%" in subject else subject


class NatsBus(RemoteBus):
    scheme = "nats"

    def __init__(self, url: str, namespace: str = "fleetdeck", **kwargs: Any) -> None:
        super().__init__(url, namespace, **kwargs)
        self.client_name = f"fleetdeck-bus-{secrets.token_hex(4)}"
        self._nc: Client | None = None
        self._nsubs: dict[str, NatsSubscription] = {}
        self._closing = False

    def wire(self, topic: str) -> str:
        return super().wire(escape(topic))

    def unwire(self, wire_topic: str) -> str | None:
        topic = super().unwire(wire_topic)
        return None if topic is None else unescape(topic)

    def subject(self, key: str) -> str:
        if not key.endswith("*"):
            return self.wire(key)
        prefix = key[:-1]
        return self.wire(prefix[: prefix.rfind(".") + 1]) + ">"

    async def _connect(self) -> None:
        async def disconnected() -> None:
            if not self._closing:
                log.warning("lost the nats bus; connecting again")

        async def reconnected() -> None:
            self.reconnects += 1
            log.info("the nats bus is back; subscribed to %d patterns again", len(self._nsubs))

        async def error(exc: Exception) -> None:
            log.debug("nats bus: %s", exc)

        self._nc = await nats.connect(
            self.url,
            name=self.client_name,
            connect_timeout=5,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            ping_interval=10,
            max_outstanding_pings=3,
            pending_size=PENDING_BYTES,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        self._closing = True
        self._nsubs.clear()
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.close(), 5)
            except Exception as exc:  # the process is stopping anyway
                log.debug("closing the nats connection: %s", exc)

    async def _listen(self, key: str) -> None:
        assert self._nc is not None

        async def deliver(msg: Msg) -> None:
            self._deliver(key, msg.subject, msg.data)

        self._nsubs[key] = await self._nc.subscribe(self.subject(key), cb=deliver)
        if self._nc.is_connected:
            await self._round_trip()

    async def _round_trip(self) -> None:
        """Return once the server has every command sent so far (the new SUB above all), so a
        publish by another process from now on reaches it, as the contract says.

        ``Client.flush`` alone does not promise that in nats-py 2.16: ``subscribe`` leaves the
        SUB in the client's pending buffer for its flusher task, while ``flush`` writes its PING
        straight to the socket, so the PING can overtake the SUB and the PONG come back before
        the server has the subscription (about 1 subscribe in 20 lost its first message under
        load). Pushing the pending buffer out first puts the PING behind the SUB.
        """
        assert self._nc is not None
        flush_pending = getattr(self._nc, "_flush_pending", None)
        if flush_pending is not None:
            # Bounded: it waits for the flusher task without a timeout of its own, and a
            # connection lost just now leaves that wait unanswered (the flush below then fails
            # and the reconnect subscribes again).
            await asyncio.wait_for(flush_pending(force_flush=True), ROUND_TRIP_SEC)
        else:  # a nats-py without it: a first round trip lets the flusher task run
            await self._nc.flush(timeout=ROUND_TRIP_SEC)
        await self._nc.flush(timeout=ROUND_TRIP_SEC)

    async def _unlisten(self, key: str) -> None:
        sub = self._nsubs.pop(key, None)
        if sub is not None:
            await sub.unsubscribe()

    async def _send(self, batch: list[tuple[str, bytes]]) -> None:
        assert self._nc is not None
        for subject, payload in batch:
            await self._nc.publish(subject, payload)
