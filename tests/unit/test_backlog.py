from __future__ import annotations

import asyncio

from fleetdeck.bus import LocalBus
from fleetdeck.bus.backlog import OutputBacklog
from tests.waiting import async_wait_for


def test_backlog_keeps_recent_output_bounded() -> None:
    async def body() -> None:
        bus = LocalBus()
        await bus.start()
        backlog = OutputBacklog(bus, per_job_bytes=10, max_jobs=2)
        await backlog.start()
        await bus.publish("job.status.99", b"final")  # unknown job: ignored
        for _ in range(3):
            await bus.publish("job.output.1", b"abcd")
        await bus.publish("job.output.2", b"x")
        await bus.publish("job.output.3", b"y")
        # the bus delivers in order: once the last frame is in, the backlog has seen them all
        await async_wait_for(lambda: backlog.snapshot(3) == [b"y"], what="the backlog to take job 3's output")
        assert backlog.snapshot(1) == []  # evicted: only the two most recent jobs are kept
        assert backlog.snapshot(2) == [b"x"]
        assert backlog.snapshot(3) == [b"y"]
        backlog.add(4, b"abcd")
        backlog.add(4, b"abcd")
        backlog.add(4, b"abcd")
        assert backlog.snapshot(4) == [b"abcd", b"abcd"]  # per-job cap
        await backlog.close()
        await bus.close()

    asyncio.run(body())
