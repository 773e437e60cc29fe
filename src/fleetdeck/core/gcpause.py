"""Pausing the cyclic garbage collector around a bulk build of short-lived values."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a read builds its entries. A list of 10,000
    computers' applications makes ~200,000 entries, each a few new dicts and values; every
    700 new containers the collector runs, and its full passes walk everything alive, so more
    than half the CPU went to collections that find nothing: the entries hold no reference
    cycles and are freed by reference counting. Re-enabled on the way out unless something
    else had it off (nested or concurrent reads leave it on as soon as the first one that
    turned it off is done)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
