"""JobWatch over the bus with the real agent hub and core: a wait ends on the hub's (or core's)
announcement after commit, not by reading the database again (the fallback read is set to
once an hour here, and the reads are counted), and ends at its timeout with jobs unfinished."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fleetdeck.api.agent.hub import AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus
from fleetdeck.protocol import messages as m

HOUR = 3600.0


def _jobs(runtime: Runtime, admin: Actor, n: int) -> tuple[list[int], list[int]]:
    cids = [runtime.services.computers.create(admin, f"pc-{i}").id for i in range(n)]
    created = runtime.services.jobs.create_commands(admin, CommandRequest(command="true"), computer_ids=cids)
    return cids, created.job_ids


class CountedReads:
    """The port's ``final`` input: core's real read, counted."""

    def __init__(self, runtime: Runtime, admin: Actor) -> None:
        self.runtime, self.admin = runtime, admin
        self.calls = 0

    def __call__(self, job_ids: Sequence[int]) -> set[int]:
        self.calls += 1
        return self.runtime.services.jobs.final_among(self.admin, job_ids)


async def _until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def test_wait_ends_on_the_hubs_announcement(runtime: Runtime, admin: Actor) -> None:
    cids, jids = _jobs(runtime, admin, 2)
    reads = CountedReads(runtime, admin)

    async def scenario() -> None:
        await runtime.bus.start()
        runtime.watch.poll_sec = HOUR
        hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id="n1", flush_interval=0.01))
        await hub.start()
        try:
            waiting = asyncio.ensure_future(runtime.watch.await_final(jids, HOUR, reads))
            await _until(lambda: reads.calls == 1)  # subscribed, then read once: none final yet
            for cid, jid in zip(cids, jids, strict=True):
                hub.job_result(cid, m.JobResult(job_id=jid, status="succeeded", exit_code=0, stdout="ok"))
            done = await asyncio.wait_for(waiting, 30)  # a guard against hanging, not a timing
            assert done == set(jids)
            assert reads.calls == 1  # the results came from the bus, not from reading again
        finally:
            await hub.stop()
            await runtime.bus.close()

    asyncio.run(scenario())
    assert [j.status for j in runtime.services.jobs.wait(admin, jids, 0)] == [JobStatus.SUCCEEDED] * 2


def test_wait_ends_on_cores_announcement_of_a_cancel(runtime: Runtime, admin: Actor) -> None:
    _, (jid,) = _jobs(runtime, admin, 1)
    reads = CountedReads(runtime, admin)

    async def scenario() -> None:
        await runtime.bus.start()
        runtime.watch.poll_sec = HOUR
        waiting = asyncio.ensure_future(runtime.watch.await_final([jid], HOUR, reads))
        await _until(lambda: reads.calls == 1)
        await asyncio.to_thread(runtime.services.jobs.cancel, admin, jid)  # straight to core, as opsi does
        assert await asyncio.wait_for(waiting, 30) == {jid}
        assert reads.calls == 1
        await runtime.bus.close()

    asyncio.run(scenario())


def test_jobs_wait_from_a_worker_thread(runtime: Runtime, admin: Actor) -> None:
    """The blocking call core makes: a job that finished before the wait is seen by the one
    read after subscribing; unfinished jobs come back as they are when the timeout passes."""
    cids, (done_id, open_id) = _jobs(runtime, admin, 2)
    runtime.services.jobs.record_results(
        [(cids[0], m.JobResult(job_id=done_id, status="failed", exit_code=3))]
    )

    async def scenario() -> None:
        await runtime.bus.start()
        await runtime.watch.start()
        runtime.watch.poll_sec = HOUR
        jobs = runtime.services.jobs
        already = await asyncio.wait_for(asyncio.to_thread(jobs.wait, admin, [done_id], HOUR), 30)
        assert [(j.id, j.status, j.exit_code) for j in already] == [(done_id, JobStatus.FAILED, 3)]
        both = await asyncio.to_thread(jobs.wait, admin, [open_id, done_id], 0.3)
        assert [(j.id, j.status) for j in both] == [(open_id, JobStatus.QUEUED), (done_id, JobStatus.FAILED)]
        await runtime.watch.close()
        await runtime.bus.close()

    asyncio.run(scenario())


def test_a_batch_feed_hears_its_batchs_changes_only(runtime: Runtime, admin: Actor) -> None:
    """``JobWatch.batch`` (the deployment page's stream follows it): core's ``jobs_changed``
    after commit wakes the feed of that batch; another batch's, or a foreign payload, do not."""
    cids, jids = _jobs(runtime, admin, 2)
    batch_id = runtime.services.jobs.get(admin, jids[0]).batch_id

    async def scenario() -> None:
        await runtime.bus.start()
        try:
            async with runtime.watch.batch(batch_id) as feed:
                assert await feed.changed(0.05) is False  # nothing yet
                await runtime.bus.publish("jobs.changed", b"[424242]")
                await runtime.bus.publish("jobs.changed", b"not json")
                assert await feed.changed(0.2) is False
                update = m.JobUpdate(job_id=jids[0], status="running", at=0.0)
                await asyncio.to_thread(runtime.services.jobs.record_updates, [(cids[0], update)])
                assert await feed.changed(30) is True  # a guard against hanging, not a timing
                results = [
                    (c, m.JobResult(job_id=j, status="succeeded", exit_code=0))
                    for c, j in zip(cids, jids, strict=True)
                ]
                await asyncio.to_thread(runtime.services.jobs.record_results, results)
                assert await feed.changed(30) is True
                assert await feed.changed(0.05) is False  # one transaction: one announcement
                for _ in range(3):  # queued meanwhile: one wake takes them all along
                    await runtime.bus.publish("jobs.changed", f"[{batch_id}]".encode())
                assert await feed.changed(30) is True
                assert await feed.changed(0.05) is False
        finally:
            await runtime.bus.close()

    asyncio.run(scenario())


def test_a_finals_feed_hears_every_job_that_ends(runtime: Runtime, admin: Actor) -> None:
    """``JobWatch.finals`` (rport's ``/ws/uploads`` follows it): the ids of jobs announced final
    after commit, of any batch, each once per wake; what came meanwhile is taken along; other
    topics and junk ids are not jobs."""
    cids, jids = _jobs(runtime, admin, 3)

    async def scenario() -> None:
        await runtime.bus.start()
        try:
            async with runtime.watch.finals() as feed:
                assert await feed.finished(0.05) == []  # nothing yet
                await runtime.bus.publish("job.status.junk", b"final")
                await runtime.bus.publish("jobs.changed", b"[1]")
                assert await feed.finished(0.2) == []
                first = [(cids[0], m.JobResult(job_id=jids[0], status="succeeded", exit_code=0))]
                await asyncio.to_thread(runtime.services.jobs.record_results, first)
                # recorded by core here, announced as the hub does after its commit
                await runtime.bus.publish(f"job.status.{jids[0]}", b"final")
                assert await feed.finished(30) == [jids[0]]  # a guard against hanging, not a timing
                for jid in (jids[1], jids[2], jids[1]):
                    await runtime.bus.publish(f"job.status.{jid}", b"final")
                assert await feed.finished(30) == [jids[1], jids[2]]
                assert await feed.finished(0.05) == []
        finally:
            await runtime.bus.close()

    asyncio.run(scenario())
