"""The bus contract, run against every backend (only the local one exists so far)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fleetdeck.bus import LocalBus


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["local"])
def test_exact_and_prefix_subscriptions(backend: str) -> None:
    async def body() -> None:
        bus = LocalBus()
        await bus.start()
        exact = await bus.subscribe("jobs.queued")
        prefix = await bus.subscribe("job.output.*")
        await bus.publish("jobs.queued", b"1")
        await bus.publish("job.output.7", b"a")
        await bus.publish("jobs.other", b"x")
        assert await exact.get(1) == ("jobs.queued", b"1")
        assert await prefix.get(1) == ("job.output.7", b"a")
        assert await exact.get(0.05) is None
        await bus.close()

    run(body())


@pytest.mark.parametrize("backend", ["local"])
def test_publish_from_a_thread(backend: str) -> None:
    async def body() -> None:
        bus = LocalBus()
        await bus.start()
        sub = await bus.subscribe("t")
        thread = threading.Thread(target=bus.publish_threadsafe, args=("t", b"hi"))
        thread.start()
        thread.join()
        assert await sub.get(1) == ("t", b"hi")
        await bus.close()

    run(body())


@pytest.mark.parametrize("backend", ["local"])
def test_slow_subscriber_drops_instead_of_growing(backend: str) -> None:
    async def body() -> None:
        bus = LocalBus()
        await bus.start()
        sub = await bus.subscribe("t", max_pending=2)
        for i in range(5):
            await bus.publish("t", bytes([i]))
        assert [await sub.get(0.1) for _ in range(3)] == [("t", b"\x00"), ("t", b"\x01"), None]
        await sub.close()
        await bus.publish("t", b"after close")
        await bus.close()

    run(body())
