"""core's action sequencing (opsi's algorithm), without a database."""

from __future__ import annotations

from typing import Any

from fleetdeck.core.packages.ordering import Group, Offered, Rule, State, action_groups

BOTH = frozenset({"setup", "uninstall"})


def flat(groups: list[Group[Any]]) -> list[tuple[str, str]]:
    return [(a.product, a.action) for g in groups for a in g.actions]


def test_priorities_order_independent_groups() -> None:
    offered = {
        "low": Offered(priority=-10, actions=BOTH),
        "mid": Offered(priority=0, actions=BOTH),
        "high": Offered(priority=50, actions=BOTH),
    }
    groups = action_groups([(p, "setup", None) for p in ("low", "mid", "high")], offered, lambda _: State())
    assert flat(groups) == [("high", "setup"), ("mid", "setup"), ("low", "setup")]


def test_before_beats_priority_inside_a_group_and_after_follows() -> None:
    offered = {
        "app": Offered(
            priority=90,
            actions=BOTH,
            rules=(
                Rule("app", "setup", "runtime", required_status="installed", requirement_type="before"),
                Rule("app", "setup", "docs", required_action="setup", requirement_type="after"),
            ),
        ),
        "runtime": Offered(priority=-50, actions=BOTH),
        "docs": Offered(priority=100, actions=BOTH),
    }
    groups = action_groups([("app", "setup", "mine")], offered, lambda _: State())
    assert flat(groups) == [("runtime", "setup"), ("app", "setup"), ("docs", "setup")]
    assert groups[0].actions[1].request == "mine" and groups[0].actions[0].request is None
    assert groups[0].priority == 100  # the highest positive priority of the group counts


def test_unfulfillable_and_unknown_requirements_are_left_out() -> None:
    offered = {
        "app": Offered(
            priority=0,
            actions=BOTH,
            rules=(
                Rule("app", "setup", "noscript", required_status="installed", requirement_type="before"),
                Rule("app", "setup", "gone", required_status="installed", requirement_type="before"),
            ),
        ),
        "noscript": Offered(priority=0, actions=frozenset()),
    }
    groups = action_groups([("app", "setup", None), ("unknown", "setup", None)], offered, lambda _: State())
    assert flat(groups) == [("app", "setup")]


def test_a_product_asked_twice_keeps_the_real_action() -> None:
    offered = {"a": Offered(priority=0, actions=BOTH)}
    groups = action_groups([("a", "setup", 1), ("a", "none", 2)], offered, lambda _: State())
    assert flat(groups) == [("a", "setup")]
    groups = action_groups(
        [("a", "none", 1)], offered, lambda _: State(status="installed", version="1", package_version="1")
    )
    assert flat(groups) == [("a", "none")]
