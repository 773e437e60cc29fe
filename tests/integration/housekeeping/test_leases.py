"""Leases on the database under test: contention, renewal, takeover after expiry (a fake
clock moves time), and two holders racing for the same lease from two threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.core.leases import LeaseService
from fleetdeck.storage.db import Database

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def test_contention_renewal_and_takeover(db: Database) -> None:
    clock = Clock()
    leases = LeaseService(db, clock)
    assert leases.acquire("jobs.expiry", "a", TTL)
    assert not leases.acquire("jobs.expiry", "b", TTL)  # a holds it
    assert leases.acquire("deployments.tick", "b", TTL)  # leases are per duty

    clock.now = T0 + timedelta(seconds=20)
    assert leases.acquire("jobs.expiry", "a", TTL)  # renewed: now until T0 + 50 s
    clock.now = T0 + timedelta(seconds=45)  # past the first term, within the renewed one
    assert not leases.acquire("jobs.expiry", "b", TTL)
    info = leases.get("jobs.expiry")
    assert info is not None and (info.holder, info.expires_at) == ("a", T0 + timedelta(seconds=50))

    clock.now = T0 + timedelta(seconds=51)  # a stopped renewing (died): b takes over
    assert leases.acquire("jobs.expiry", "b", TTL)
    assert not leases.acquire("jobs.expiry", "a", TTL)  # a is back, but b holds it now

    leases.release("jobs.expiry", "a")  # not a's to give up: nothing changes
    assert not leases.acquire("jobs.expiry", "a", TTL)
    leases.release("jobs.expiry", "b")  # a clean stop: free at once, no waiting
    assert leases.acquire("jobs.expiry", "a", TTL)
    assert leases.get("nothing") is None


def test_two_holders_racing_never_both_win(db_url: str) -> None:
    """Two "processes" (each its own engine) ask for the same fresh lease at the same moment,
    round after round: each time exactly one gets it."""
    clock = Clock()
    dbs = [Database(db_url) for _ in range(2)]
    services = [LeaseService(d, clock) for d in dbs]
    rounds = 40
    barrier = threading.Barrier(2)
    won: list[list[bool]] = [[], []]

    def contend(i: int) -> None:
        for r in range(rounds):
            barrier.wait()
            won[i].append(services[i].acquire(f"race.{r}", f"holder-{i}", TTL))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for d in dbs:
        d.dispose()
    assert [a + b for a, b in zip(won[0], won[1], strict=True)] == [1] * rounds
    assert any(won[0]) or any(won[1])
