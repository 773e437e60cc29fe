"""Worker threads waiting on the event loop: how blocking port calls (core services run in
threads) use the bus, which lives on the server's event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from fleetdeck.core.errors import Unavailable

T = TypeVar("T")
GRACE_SEC = 5.0  # beyond the call's own timeout, before a thread stops waiting for the loop


class LoopBridge:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None

    def attach(self) -> None:
        """Called on the event loop when the server starts."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def detach(self) -> None:
        self._loop = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for it here, at most ``timeout`` + a grace."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise Unavailable("the server is not running (no event loop to reach agents through)")
        if threading.get_ident() == self._thread:
            coro.close()
            raise RuntimeError("a blocking bus call on the event loop's own thread would deadlock")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout + GRACE_SEC)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Unavailable("the server's event loop did not answer in time") from None
        except concurrent.futures.CancelledError:
            raise Unavailable("the server is shutting down") from None
