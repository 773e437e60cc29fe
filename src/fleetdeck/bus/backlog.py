"""Recent output of running jobs, so a viewer who connects mid-run sees it from the start.

Fed from the bus like any other subscriber, so with several server processes every process has
the backlog no matter which one holds the agent. Bounded: per job and in the number of jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from fleetdeck.bus.base import Bus, Subscription

OUTPUT_PREFIX = "job.output."
STATUS_PREFIX = "job.status."


class OutputBacklog:
    def __init__(self, bus: Bus, *, per_job_bytes: int = 256 * 1024, max_jobs: int = 2000) -> None:
        self._bus = bus
        self._per_job = per_job_bytes
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[int, tuple[int, list[bytes]]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._bus.subscribe("job.*", max_pending=100_000)
        self._task = asyncio.create_task(self._run(self._sub))

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def snapshot(self, job_id: int) -> list[bytes]:
        entry = self._jobs.get(job_id)
        return list(entry[1]) if entry else []

    def add(self, job_id: int, frame: bytes) -> None:
        size, frames = self._jobs.pop(job_id, (0, []))
        if size + len(frame) <= self._per_job:
            frames.append(frame)
            size += len(frame)
        self._jobs[job_id] = (size, frames)
        while len(self._jobs) > self._max_jobs:
            self._jobs.popitem(last=False)

    async def _run(self, sub: Subscription) -> None:
        async for topic, payload in sub:
            if topic.startswith(OUTPUT_PREFIX):
                with contextlib.suppress(ValueError):
                    self.add(int(topic[len(OUTPUT_PREFIX) :]), payload)
            elif topic.startswith(STATUS_PREFIX):
                with contextlib.suppress(ValueError, KeyError):
                    # Finished: first in line for eviction, but kept for viewers racing the end.
                    self._jobs.move_to_end(int(topic[len(STATUS_PREFIX) :]), last=False)
