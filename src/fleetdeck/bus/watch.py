"""Core's ``JobWatch`` port over the bus: waiting for jobs to finish, following their output.

Final results are announced as ``job.status.<id>`` after commit (by the agent hub for agents'
results, by core's notifier for cancels and expiry). A watcher subscribes first, then reads
the statuses once, so a job that finished in between is seen either way. The bus delivers at
most once, so a rare lost announcement is caught by a slow fallback read (``poll_sec``), which
is never what normally ends a wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import msgspec

from fleetdeck.bus.backlog import OutputBacklog
from fleetdeck.bus.base import Bus, Subscription
from fleetdeck.bus.bridge import LoopBridge
from fleetdeck.bus.topics import JOB_STATUS_ALL, JOBS_CHANGED, job_output_topic, job_status_topic
from fleetdeck.core.ports import FinalCheck
from fleetdeck.protocol.messages import JobOutput, decode_from_agent

log = logging.getLogger("fleetdeck.bus")
_BATCHES = msgspec.json.Decoder(list[int])

STATUS_PREFIX = JOB_STATUS_ALL.removesuffix("*")
DRAIN_SEC = 0.05  # after the final status: output published just before it may still be queued
TAKE_ALONG_SEC = 0.001  # a batch feed's wait for announcements already queued


def _decode_output(payload: bytes) -> JobOutput | None:
    try:
        frame = decode_from_agent(payload)
    except msgspec.DecodeError:
        log.debug("ignoring an undecodable job output frame")
        return None
    return frame if isinstance(frame, JobOutput) else None


class BusJobWatch:
    def __init__(self, bus: Bus, backlog: OutputBacklog | None = None, *, poll_sec: float = 2.0) -> None:
        self._bus = bus
        self._backlog = backlog
        self.poll_sec = poll_sec
        self._bridge = LoopBridge()

    async def start(self) -> None:
        self._bridge.attach()

    async def close(self) -> None:
        self._bridge.detach()

    # ------------------------------------------------------------ waiting

    def wait_final(self, job_ids: Sequence[int], timeout: float, final: FinalCheck) -> set[int]:
        return self._bridge.run(self.await_final(job_ids, timeout, final), timeout)

    async def await_final(self, job_ids: Sequence[int], timeout: float, final: FinalCheck) -> set[int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wanted = set(job_ids)
        # One subscription for any number of jobs: a fan-out's waiter would otherwise add
        # thousands of topics, and every publish walks the subscriptions.
        sub = await self._bus.subscribe(JOB_STATUS_ALL, max_pending=100_000)
        try:
            pending = wanted - await asyncio.to_thread(final, sorted(wanted))
            next_poll = loop.time() + self.poll_sec
            while pending:
                now = loop.time()
                if now >= deadline:
                    break
                if now >= next_poll:
                    pending -= await asyncio.to_thread(final, sorted(pending))
                    next_poll = loop.time() + self.poll_sec
                    continue
                item = await sub.get(min(deadline, next_poll) - now)
                if item is not None and item[0].startswith(STATUS_PREFIX):
                    with contextlib.suppress(ValueError):
                        pending.discard(int(item[0][len(STATUS_PREFIX) :]))
        finally:
            await sub.close()
        return wanted - pending

    # ------------------------------------------------------------ following

    @contextlib.asynccontextmanager
    async def follow(self, job_id: int) -> AsyncIterator[BusJobFeed]:
        outputs = await self._bus.subscribe(job_output_topic(job_id))
        statuses = await self._bus.subscribe(job_status_topic(job_id))
        try:
            yield BusJobFeed(job_id, outputs, statuses, self._backlog, self.poll_sec)
        finally:
            await outputs.close()
            await statuses.close()

    @contextlib.asynccontextmanager
    async def batch(self, batch_id: int) -> AsyncIterator[BusBatchFeed]:
        # One topic for every batch: announcements are one per transaction and small, and a
        # topic per batch would need the publisher to know who listens.
        sub = await self._bus.subscribe(JOBS_CHANGED, max_pending=1000)
        try:
            yield BusBatchFeed(batch_id, sub)
        finally:
            await sub.close()

    @contextlib.asynccontextmanager
    async def finals(self) -> AsyncIterator[BusFinalsFeed]:
        # the one topic pattern every final announcement goes to, as ``await_final`` waits on
        sub = await self._bus.subscribe(JOB_STATUS_ALL, max_pending=10_000)
        try:
            yield BusFinalsFeed(sub)
        finally:
            await sub.close()


class BusFinalsFeed:
    def __init__(self, sub: Subscription) -> None:
        self._sub = sub

    async def finished(self, timeout: float) -> list[int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: list[int] = []
        while True:
            left = TAKE_ALONG_SEC if found else deadline - loop.time()
            if left <= 0:
                return found
            item = await self._sub.get(left)
            if item is None:
                return list(dict.fromkeys(found))
            if item[0].startswith(STATUS_PREFIX):
                with contextlib.suppress(ValueError):
                    found.append(int(item[0][len(STATUS_PREFIX) :]))


class BusBatchFeed:
    def __init__(self, batch_id: int, sub: Subscription) -> None:
        self._batch_id = batch_id
        self._sub = sub
        self.going_away = False

    def _mine(self, payload: bytes) -> bool:
        try:
            return self._batch_id in _BATCHES.decode(payload)
        except msgspec.DecodeError:
            log.debug("ignoring an undecodable jobs.changed announcement")
            return False

    async def changed(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found = False
        while True:
            # once one came, only what is queued already is taken along (a wait of a moment:
            # a zero timeout never takes a queued message on Python 3.11)
            left = TAKE_ALONG_SEC if found else deadline - loop.time()
            if left <= 0:
                return False
            item = await self._sub.get(left)
            if item is None:  # nothing (more) within the time
                return found
            found = self._mine(item[1]) or found


class BusJobFeed:
    def __init__(
        self,
        job_id: int,
        outputs: Subscription,
        statuses: Subscription,
        backlog: OutputBacklog | None,
        poll_sec: float,
    ) -> None:
        self._job_id = job_id
        self._outputs = outputs
        self._statuses = statuses
        self._backlog = backlog
        self._poll_sec = poll_sec
        self._seen: set[int] = set()  # output seqs given out: the backlog and the live feed overlap
        self.going_away = False

    def _fresh(self, payload: bytes | None) -> JobOutput | None:
        frame = _decode_output(payload) if payload is not None else None
        if frame is None or frame.seq in self._seen:
            return None
        self._seen.add(frame.seq)
        return frame

    async def outputs(self, poll: Callable[[], Awaitable[bool]]) -> AsyncIterator[JobOutput]:
        for payload in self._backlog.snapshot(self._job_id) if self._backlog else []:
            if (frame := self._fresh(payload)) is not None:
                yield frame  # what ran before this watcher came
        loop = asyncio.get_running_loop()
        out_task = asyncio.ensure_future(self._outputs.get())
        status_task = asyncio.ensure_future(self._statuses.get())
        next_poll = loop.time() + self._poll_sec
        try:
            while True:
                done, _ = await asyncio.wait(
                    {out_task, status_task},
                    timeout=max(0.0, next_poll - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if out_task in done:
                    item = out_task.result()
                    out_task = asyncio.ensure_future(self._outputs.get())
                    if (frame := self._fresh(item[1] if item else None)) is not None:
                        yield frame
                final = status_task in done
                self.going_away = final and status_task.result() is None  # the bus closed
                if not final and loop.time() >= next_poll:
                    final = await poll()
                    next_poll = loop.time() + self._poll_sec
                if final:
                    while (await asyncio.wait({out_task}, timeout=DRAIN_SEC))[0]:
                        item = out_task.result()
                        out_task = asyncio.ensure_future(self._outputs.get())
                        if (frame := self._fresh(item[1] if item else None)) is not None:
                            yield frame
                    return
        finally:
            out_task.cancel()
            status_task.cancel()
