"""Core's ``ChangeFeed`` port over the bus: committed changes of computers and package states,
published once per transaction on ``changes``, for transports that push events (opsi's
message bus). With several server processes every process hears every change."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from fleetdeck.bus.base import Bus
from fleetdeck.bus.topics import CHANGES
from fleetdeck.core.changes import Change

_DECODE = msgspec.json.Decoder(list[Change])


class BusChangeFeed:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def changed(self, changes: Sequence[Change]) -> None:
        self._bus.publish_threadsafe(CHANGES, msgspec.json.encode(list(changes)))


def decode_changes(payload: bytes) -> list[Change]:
    """The changes of one announcement; raises ``msgspec.DecodeError`` on a foreign payload."""
    return _DECODE.decode(payload)
