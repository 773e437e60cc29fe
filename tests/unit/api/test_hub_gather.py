"""The hub's batching of job results (``gather``): how long a batch waits before it is written.

Driven by a clock the test moves, not by timing: each sleep advances the clock by what was asked.
Times are whole milliseconds (``gather`` does not care about the unit), so sums are exact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fleetdeck.api.agent.hub import gather


class Scripted:
    """A clock, a sleep that moves it, and a queue that grows as ``arrivals`` say."""

    def __init__(self, arrivals: Callable[[float], int]) -> None:
        self.now = 1000.0
        self.start = self.now
        self.arrivals = arrivals
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, ms: float) -> None:
        self.sleeps.append(ms)
        self.now += ms

    def pending(self) -> int:
        return self.arrivals(self.now - self.start)

    def run(self, longest: float = 20, quiet: float = 2) -> float:
        asyncio.run(gather(self.pending, longest, quiet, sleep=self.sleep, clock=self.clock))
        return self.now - self.start


def test_a_lone_result_is_written_after_the_quiet_time_not_the_whole_interval() -> None:
    s = Scripted(lambda t: 1)
    assert s.run() == 2
    assert s.sleeps == [2]


def test_results_that_keep_coming_gather_until_the_longest_wait() -> None:
    s = Scripted(lambda t: 1 + int(t))  # one more every millisecond
    assert s.run() == 20
    assert s.sleeps == [2] * 10


def test_gathering_stops_at_the_first_quiet_step_after_a_burst() -> None:
    s = Scripted(lambda t: min(1 + int(t), 7))  # six more within 6 ms, then none
    assert s.run() == 8
    assert s.sleeps == [2] * 4


def test_the_last_step_is_cut_to_the_longest_wait() -> None:
    s = Scripted(lambda t: 1 + int(t))
    assert s.run(longest=5, quiet=2) == 5
    assert s.sleeps == [2, 2, 1]
