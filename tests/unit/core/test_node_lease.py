"""The node lease must outlast several renewals: a lease shorter than a few renewal rounds
runs out whenever one round is late, and a live process loses its name (its agents are marked
offline)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fleetdeck.core.nodes import MIN_LEASE_SEC, RENEW_SEC, RENEWALS_PER_LEASE, check_lease_sec
from fleetdeck.settings import Settings


def test_the_minimum_is_three_renewals() -> None:
    assert MIN_LEASE_SEC == RENEWALS_PER_LEASE * RENEW_SEC == 15.0
    check_lease_sec(MIN_LEASE_SEC)
    with pytest.raises(ValueError, match=r"at least 15 s \(3 renewals of the node lease, one every 5 s\)"):
        check_lease_sec(MIN_LEASE_SEC - 0.5)
    check_lease_sec(3, renew_sec=1)  # a faster renewal allows a shorter lease


@pytest.mark.parametrize("value", [3, 10, 14.9])
def test_the_setting_refuses_a_shorter_lease(value: float) -> None:
    with pytest.raises(ValidationError, match="node_lease_sec must be at least 15 s") as info:
        Settings(node_lease_sec=value)
    assert info.value.errors()[0]["loc"] == ("node_lease_sec",)


def test_the_setting_accepts_three_renewals_and_more() -> None:
    assert Settings(node_lease_sec=15).node_lease_sec == 15
    assert Settings().node_lease_sec == 30
