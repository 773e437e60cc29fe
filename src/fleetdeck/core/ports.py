"""What core needs from the outside, as small Protocols injected by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class JobNotifier(Protocol):
    """Told after commit that computers have new work, so whoever holds their connections can
    deliver it. Called from worker threads; must not block."""

    def jobs_queued(self, computer_ids: Sequence[int]) -> None: ...

    def jobs_cancelled(self, jobs: Sequence[tuple[int, int]]) -> None:
        """(computer_id, job_id) pairs whose running job should be stopped."""
        ...


class NullNotifier:
    """For the CLI and unit tests: nobody holds agent connections in this process."""

    def jobs_queued(self, computer_ids: Sequence[int]) -> None:
        return None

    def jobs_cancelled(self, jobs: Sequence[tuple[int, int]]) -> None:
        return None


class Waker(Protocol):
    """Sends Wake-on-LAN packets to computers (implemented by the WOL service)."""

    def wake(self, computer_ids: Sequence[int]) -> int:
        """Returns the number of magic packets sent."""
        ...


class NullWaker:
    def wake(self, computer_ids: Sequence[int]) -> int:
        return 0
