"""Housekeeping: two instances ("server processes") on one database run each duty in exactly
one of them; the other takes over when the holder dies (after its lease runs out; a fake clock
moves time) or stops cleanly (at once). And the standard duties do their work on real services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fleetdeck.app import Runtime
from fleetdeck.bus.topics import JOBS_QUEUED, job_status_topic
from fleetdeck.core.authz import Actor
from fleetdeck.core.computers.entities import Presence
from fleetdeck.core.housekeeping import Duty, Housekeeping, standard_duties
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus
from fleetdeck.core.leases import LeaseService
from fleetdeck.storage.db import Database

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DUTY = "test.duty"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_duty_runs_in_exactly_one_process_and_fails_over(db_url: str) -> None:
    clock = Clock()
    dbs = [Database(db_url) for _ in range(3)]
    ran: list[str] = []

    def process(n: int, holder: str) -> Housekeeping:
        duty = Duty(DUTY, 0.02, lambda: ran.append(holder), lease_sec=30)
        return Housekeeping(LeaseService(dbs[n], clock), [duty], holder)

    async def scenario() -> None:
        a, b = process(0, "node-a:1"), process(1, "node-b:2")
        await a.start()
        await until(lambda: a.runs[DUTY] >= 1, "a to take the duty")
        await b.start()
        await until(lambda: a.runs[DUTY] >= 20, "a to run it 20 more times while b asks too")
        assert b.runs[DUTY] == 0 and set(ran) == {"node-a:1"}
        assert a.held == {DUTY} and b.held == set()

        await a.stop(release=False)  # a dies: its lease stays until it runs out
        ran_by_a = len(ran)
        await asyncio.sleep(0.3)  # b asks ~15 times; the fake clock stands still
        assert b.runs[DUTY] == 0 and len(ran) == ran_by_a
        clock.now = T0 + timedelta(seconds=31)
        await until(lambda: b.runs[DUTY] >= 1, "b to take over after the lease ran out")
        assert b.held == {DUTY} and ran[-1] == "node-b:2"

        c = process(2, "node-a:3")  # a restarted: a new holder id, not a's old one
        await c.start()
        await asyncio.sleep(0.2)
        assert c.runs[DUTY] == 0  # b holds it and renews it
        await b.stop()  # a clean stop gives the lease up
        await until(lambda: c.runs[DUTY] >= 1, "c to take over at once (the clock has not moved)")
        await c.stop()
        assert set(ran) == {"node-a:1", "node-b:2", "node-a:3"}

    try:
        asyncio.run(scenario())
    finally:
        for d in dbs:
            d.dispose()


def test_standard_duties_expire_jobs_and_announce_due_ones(runtime: Runtime, admin: Actor) -> None:
    services = runtime.services
    late, waiting = (services.computers.create(admin, name).id for name in ("late", "waiting"))
    expiring = services.jobs.create_commands(
        admin, CommandRequest(command="true"), computer_ids=[late], expires_in=timedelta(milliseconds=1)
    ).job_ids[0]
    services.jobs.create_commands(admin, CommandRequest(command="true"), computer_ids=[waiting])
    services.computers.set_presence([Presence(waiting, "127.0.0.1", "1")], [], node_id="elsewhere")

    async def scenario() -> None:
        await runtime.bus.start()
        status = await runtime.bus.subscribe(job_status_topic(expiring))
        queued = await runtime.bus.subscribe(JOBS_QUEUED)
        duties = {d.name: d for d in standard_duties(services)}
        keeper = Housekeeping(services.leases, list(duties.values()), "node:1")
        await asyncio.sleep(0.01)
        assert await keeper.run_once(duties["jobs.expiry"])
        assert await status.get(5) == (job_status_topic(expiring), b"final")
        assert await keeper.run_once(duties["deployments.tick"])
        # Only connected computers are announced (the offline one's agent could not take it).
        assert await queued.get(5) == (JOBS_QUEUED, f"[{waiting}]".encode())
        await keeper.stop()
        await runtime.bus.close()

    asyncio.run(scenario())
    assert services.jobs.get(admin, expiring).status is JobStatus.EXPIRED
    assert services.leases.get("jobs.expiry") is not None


def test_stopping_twice_is_harmless(runtime: Runtime) -> None:
    """Shutdown may run twice (lifespan and signal): the second stop finds nothing to do."""
    keeper = Housekeeping(runtime.services.leases, [], "node:1")

    async def scenario() -> None:
        await keeper.start()
        await keeper.stop()
        await keeper.stop()

    asyncio.run(scenario())
    assert keeper.held == set()
