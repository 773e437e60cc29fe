"""Report results kept for the session that ran them, so viewing, paging and downloading a run
do not run the report again (each run is one audited core call, made by a POST).

Bounded in memory, like the sessions: a result lives ``TTL_SEC`` after its run, a session keeps
its last ``PER_SESSION`` runs, and all results together stay under ``MAX_BYTES`` (an estimate
of their cells' text; the oldest go first). A result is found only with the session id that
ran it, so a run id seen by someone else opens nothing. Per process, as the sessions are: a
restart forgets them, and the page then offers to run the report again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetdeck.core.reports.policy import ReportResult

TTL_SEC = 30 * 60
PER_SESSION = 5
MAX_BYTES = 64 * 1024 * 1024
CELL_OVERHEAD = 16  # bytes counted per cell besides its text (the dict slot, the object)


@dataclass(frozen=True, slots=True)
class KeptRun:
    id: str
    session_id: str
    report_id: int
    result: ReportResult
    size: int
    ran_at: datetime  # for "run at" on the page
    expires: float  # time.monotonic()


def estimate(result: ReportResult) -> int:
    """The result's size in memory, roughly: its cells' text plus a per-cell overhead."""
    total = sum(len(c) for c in result.columns)
    for row in result.rows:
        total += sum(len(str(v)) + CELL_OVERHEAD for v in row.values())
    return total


class KeptResults:
    """Report runs by (session, run id); the least recently stored go first when over a bound."""

    def __init__(
        self, ttl_sec: float = TTL_SEC, per_session: int = PER_SESSION, max_bytes: int = MAX_BYTES
    ) -> None:
        self.ttl = ttl_sec
        self.per_session = per_session
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, KeptRun] = OrderedDict()  # oldest first (one TTL for all)
        self._by_session: dict[str, list[str]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def keep(self, session_id: str, report_id: int, result: ReportResult) -> KeptRun | None:
        """Store a run; None when it alone is over ``max_bytes`` (the page then shows it once)."""
        size = estimate(result)
        if size > self.max_bytes:
            return None
        run = KeptRun(
            secrets.token_urlsafe(12),
            session_id,
            report_id,
            result,
            size,
            datetime.now(UTC),
            time.monotonic() + self.ttl,
        )
        with self._lock:
            self._expire(time.monotonic())
            mine = self._by_session.get(session_id, [])
            for key in mine[: max(0, len(mine) - self.per_session + 1)]:
                self._drop(key)
            self._items[run.id] = run
            self._by_session.setdefault(session_id, []).append(run.id)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))
        return run

    def get(self, session_id: str, run_id: str, report_id: int) -> KeptRun | None:
        with self._lock:
            self._expire(time.monotonic())
            run = self._items.get(run_id)
        if run is None or run.session_id != session_id or run.report_id != report_id:
            return None
        return run

    def forget_session(self, session_id: str) -> None:
        """The session ended (logout): its results go now, not when their time is up."""
        with self._lock:
            for key in list(self._by_session.get(session_id, [])):
                self._drop(key)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self, now: float) -> None:
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.expires >= now:
                return
            self._drop(oldest.id)

    def _drop(self, key: str) -> None:
        run = self._items.pop(key)
        self._bytes -= run.size
        mine = self._by_session[run.session_id]
        mine.remove(key)
        if not mine:
            del self._by_session[run.session_id]
