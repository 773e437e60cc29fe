"""How server processes reach agents and each other: a small publish/subscribe contract.

One process: ``LocalBus``. Several processes: a Redis or NATS backend implementing the same
contract (a later step), tested by the same contract suite (tests/integration/bus).
"""

from fleetdeck.bus.base import Bus, Subscription
from fleetdeck.bus.local import LocalBus

__all__ = ["Bus", "LocalBus", "Subscription"]
