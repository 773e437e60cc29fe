"""How server processes reach agents and each other: a small publish/subscribe contract.

One process: ``LocalBus``. Several processes: ``RedisBus`` or ``NatsBus`` (``bus.remote``),
chosen by ``FLEETDECK_BUS_URL`` (``bus_from_url``); all three pass the same contract suite
(tests/integration/bus).
"""

from fleetdeck.bus.base import Bus, Subscription
from fleetdeck.bus.local import LocalBus

__all__ = ["BUS_SCHEMES", "Bus", "LocalBus", "Subscription", "bus_from_url"]

# URL schemes of FLEETDECK_BUS_URL, and which backend each one means.
BUS_SCHEMES = {"redis": "redis", "rediss": "redis", "unix": "redis", "nats": "nats", "tls": "nats"}


def bus_from_url(url: str | None, namespace: str = "fleetdeck") -> Bus:
    """The bus an installation's processes share: in-process without a URL. The backends'
    client libraries are imported only when asked for."""
    if not url:
        return LocalBus()
    backend = BUS_SCHEMES.get(url.partition("://")[0].lower())
    if backend == "redis":
        from fleetdeck.bus.redis_bus import RedisBus

        return RedisBus(url, namespace)
    if backend == "nats":
        from fleetdeck.bus.nats_bus import NatsBus

        return NatsBus(url, namespace)
    raise ValueError(f"unknown bus URL {url!r}: use redis://, rediss://, nats:// or tls://")
