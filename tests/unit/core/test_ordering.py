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


def test_a_cycle_is_cut_as_opsi_does_not_an_error() -> None:
    """opsi 4.3 follows no rule back to a product already on the path and bounds the sort
    passes: both actions run, in priority order, and nothing is raised."""
    offered = {
        "a": Offered(
            priority=5,
            actions=BOTH,
            rules=(Rule("a", "setup", "b", required_action="setup", requirement_type="before"),),
        ),
        "b": Offered(
            priority=0,
            actions=BOTH,
            rules=(Rule("b", "setup", "a", required_action="setup", requirement_type="before"),),
        ),
    }
    groups = action_groups([("a", "setup", None)], offered, lambda _: State())
    assert len(groups) == 1
    assert sorted(flat(groups)) == [("a", "setup"), ("b", "setup")]


def _pinned(version: str | None, package_version: str | None = None) -> dict[str, Offered]:
    rule = Rule(
        "app",
        "setup",
        "lib",
        required_version=version,
        required_package_version=package_version,
        required_status="installed",
        requirement_type="before",
    )
    return {
        "app": Offered(priority=0, actions=BOTH, rules=(rule,), version="1", package_version="1"),
        "lib": Offered(priority=0, actions=BOTH, version="2.0", package_version="3"),
    }


def test_a_rule_pinning_a_version_the_depot_does_not_offer_is_left_out() -> None:
    for version, package_version in (("1.9", None), (None, "2"), ("1.9", "3")):
        groups = action_groups([("app", "setup", None)], _pinned(version, package_version), lambda _: State())
        assert flat(groups) == [("app", "setup")], (version, package_version)
    for version, package_version in ((None, None), ("2.0", None), (None, "3"), ("2.0", "3")):
        groups = action_groups([("app", "setup", None)], _pinned(version, package_version), lambda _: State())
        assert flat(groups) == [("lib", "setup"), ("app", "setup")], (version, package_version)


def test_required_versions_decide_whether_an_installed_product_fulfils_the_rule() -> None:
    old = State(status="installed", version="1.0", package_version="1")
    # unpinned: installed is enough, whatever the version (as opsi)
    assert flat(action_groups([("app", "setup", None)], _pinned(None), lambda _: old)) == [("app", "setup")]
    # pinned to what the depot offers, an older installed version does not fulfil it
    groups = action_groups([("app", "setup", None)], _pinned("2.0"), lambda _: old)
    assert flat(groups) == [("lib", "setup"), ("app", "setup")]
    current = State(status="installed", version="2.0", package_version="3")
    groups = action_groups([("app", "setup", None)], _pinned("2.0", "3"), lambda _: current)
    assert flat(groups) == [("app", "setup")]
    # a state that names no version does not contradict a pin (opsi compares only when both do)
    unknown = State(status="installed")
    assert flat(action_groups([("app", "setup", None)], _pinned("2.0"), lambda _: unknown)) == [
        ("app", "setup")
    ]
