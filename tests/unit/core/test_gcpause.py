"""The CMDB's bulk reads pause the cyclic garbage collector (more than half their CPU went to
collections that found nothing) and must always give it back, on errors too, and leave it off
when something else had turned it off."""

from __future__ import annotations

import gc

import pytest

from fleetdeck.core.gcpause import no_cyclic_gc


def test_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), no_cyclic_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with no_cyclic_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
