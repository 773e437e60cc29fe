"""``fleetdeck server`` with uvicorn settings overridden from the environment, for comparisons
made by ``bench/agents.py --ws-impl/--server-deflate`` without editing the server:

* ``FDBENCH_WS``: uvicorn WebSocket implementation (``wsproto``, ``websockets-sansio``).
* ``FDBENCH_WS_DEFLATE``: ``0``/``1``, whether the server accepts permessage-deflate.
* ``FDBENCH_SQLITE_WRITE_LOCK=1``: write transactions on SQLite queue on one process-wide lock
  instead of in SQLite's busy handler (which sleeps 1, 2, 5, 10, ... ms between retries even
  when the lock was freed right after the first try). An experiment, not a fix.
* ``FDBENCH_GC_THRESHOLD=a,b,c``: the server's ``gc.set_threshold`` (``cli/server.py``
  ``GC_THRESHOLDS``); ``python`` leaves the garbage collector as Python sets it up
  (700,10,10, nothing frozen).
* ``FDBENCH_GC_LOG=1``: log every garbage collection of generation 2 (and a summary per
  generation at exit) to the server's stderr, to see what the cyclic GC costs under load.

Usage: ``python bench/server_variant.py server --data-dir D --port P`` (same arguments as
``python -m fleetdeck``).
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn

_init = uvicorn.Config.__init__


def _patched_init(self: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
    if os.environ.get("FDBENCH_WS"):
        kwargs["ws"] = os.environ["FDBENCH_WS"]
    if os.environ.get("FDBENCH_WS_DEFLATE"):
        kwargs["ws_per_message_deflate"] = os.environ["FDBENCH_WS_DEFLATE"] == "1"
    _init(self, *args, **kwargs)


uvicorn.Config.__init__ = _patched_init  # type: ignore[method-assign]


def _queue_sqlite_writers() -> None:
    import threading
    from types import TracebackType

    from fleetdeck.storage.uow import UnitOfWork

    lock = threading.RLock()
    enter, leave = UnitOfWork.__enter__, UnitOfWork.__exit__

    def locked_enter(self: UnitOfWork) -> UnitOfWork:
        locked = not self._readonly and self._db.dialect == "sqlite"
        if locked:
            lock.acquire()
        self._fdbench_locked = locked  # type: ignore[attr-defined]
        try:
            return enter(self)
        except BaseException:
            if locked:
                lock.release()
            raise

    def locked_exit(
        self: UnitOfWork,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            leave(self, exc_type, exc, tb)
        finally:
            if getattr(self, "_fdbench_locked", False):
                lock.release()

    UnitOfWork.__enter__ = locked_enter  # type: ignore[method-assign]
    UnitOfWork.__exit__ = locked_exit  # type: ignore[method-assign]


if os.environ.get("FDBENCH_SQLITE_WRITE_LOCK") == "1":
    _queue_sqlite_writers()


def _log_gc() -> None:
    import atexit
    import gc
    import signal
    import sys
    import time

    started: list[float] = [0.0]
    totals = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        dt = time.perf_counter() - started[0]
        gen = info["generation"]
        totals[gen][0] += 1
        totals[gen][1] += dt
        if gen == 2:
            print(
                f"[{time.strftime('%H:%M:%S')}] gc gen2: {dt * 1000:.1f} ms, {len(gc.get_objects())} objects",
                file=sys.stderr,
                flush=True,
            )

    def summary(*_: object) -> None:
        for gen, (n, t) in totals.items():
            print(
                f"[{time.strftime('%H:%M:%S')}] gc gen{gen}: {n} collections, {t:.2f} s",
                file=sys.stderr,
                flush=True,
            )

    gc.callbacks.append(callback)
    atexit.register(summary)
    signal.signal(signal.SIGUSR1, summary)  # totals so far: kill -USR1 <server pid>


if os.environ.get("FDBENCH_GC_LOG") == "1":
    _log_gc()
if os.environ.get("FDBENCH_GC_THRESHOLD"):
    from fleetdeck.cli import server as _server

    if os.environ["FDBENCH_GC_THRESHOLD"] == "python":
        _server.tune_gc = lambda: None
    else:
        a, b, c = (int(x) for x in os.environ["FDBENCH_GC_THRESHOLD"].split(","))
        _server.GC_THRESHOLDS = (a, b, c)

if __name__ == "__main__":
    from fleetdeck.cli import main

    main()
