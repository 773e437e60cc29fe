"""Adapts core's ``JobNotifier`` port to bus messages."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from fleetdeck.bus.base import Bus
from fleetdeck.bus.topics import COMPUTERS_DELETED, JOBS_CANCEL, JOBS_CHANGED, JOBS_QUEUED, job_status_topic


class BusJobNotifier:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def jobs_queued(self, computer_ids: Sequence[int]) -> None:
        self._bus.publish_threadsafe(JOBS_QUEUED, msgspec.json.encode(list(computer_ids)))

    def jobs_cancelled(self, jobs: Sequence[tuple[int, int]]) -> None:
        self._bus.publish_threadsafe(JOBS_CANCEL, msgspec.json.encode([list(j) for j in jobs]))

    def jobs_finished(self, job_ids: Sequence[int]) -> None:
        for jid in job_ids:  # the same announcement as the hub's after it stores a result
            self._bus.publish_threadsafe(job_status_topic(jid), b"final")

    def jobs_changed(self, batch_ids: Sequence[int]) -> None:
        if batch_ids:  # one message per transaction, however many jobs it changed
            self._bus.publish_threadsafe(JOBS_CHANGED, msgspec.json.encode(sorted(set(batch_ids))))

    def computers_deleted(self, computer_ids: Sequence[int]) -> None:
        self._bus.publish_threadsafe(COMPUTERS_DELETED, msgspec.json.encode(list(computer_ids)))
