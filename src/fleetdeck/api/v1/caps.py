"""Per-caller caps on what holds a connection open (long polls, job streams).

Each such request holds a socket and a bus subscription that the server feeds for as long as
it lasts, so one caller (a script in a loop, a stolen token) could otherwise open thousands
and take them from everyone else. A cap is counted per user name within one server process
(one app: ``app.state``), which is where the sockets and subscriptions are held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class TooMany(Exception):
    """The caller holds ``limit`` already; the transport answers in its own way (429, 4429)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} at once per caller")
        self.limit = limit


class PerCaller:
    """How many of one kind of open request each caller holds, at most ``per_caller``."""

    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._open: dict[str, int] = {}

    def held(self, caller: str) -> int:
        return self._open.get(caller, 0)

    @contextmanager
    def slot(self, caller: str) -> Iterator[None]:
        """Hold one for the block; :class:`TooMany` if the caller holds ``per_caller``."""
        if self._open.get(caller, 0) >= self.per_caller:
            raise TooMany(self.per_caller)
        self._open[caller] = self._open.get(caller, 0) + 1
        try:
            yield
        finally:
            if (left := self._open[caller] - 1) > 0:
                self._open[caller] = left
            else:
                del self._open[caller]
