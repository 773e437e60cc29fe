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


def _rule(product: str, required: str, kind: str = "before", **kw: str) -> Rule:
    kw.setdefault("required_action", "setup")
    return Rule(product, "setup", required, requirement_type=kind, **kw)  # type: ignore[arg-type]


def test_a_pinned_package_version_counts_only_when_the_state_names_one() -> None:
    offered = _pinned(None, "3")
    unknown = State(status="installed", version="2.0")  # no package version known
    assert flat(action_groups([("app", "setup", None)], offered, lambda _: unknown)) == [("app", "setup")]
    other = State(status="installed", version="2.0", package_version="2")
    groups = action_groups([("app", "setup", None)], offered, lambda _: other)
    assert flat(groups) == [("lib", "setup"), ("app", "setup")]


def test_each_rule_is_looked_at_even_after_one_that_does_not_apply() -> None:
    """Rules for other actions, of unknown products, already fulfilled, or that no procedure can
    fulfil are skipped one by one; the rules after them still count."""
    rules = (
        Rule("app", "uninstall", "other", required_action="uninstall"),  # another action
        Rule("app", "setup", "gone", required_status="installed"),  # not on the depot
        Rule("app", "setup", "present", required_status="installed"),  # installed already
        Rule("app", "setup", "noscript", required_status="installed"),  # no setup procedure
        Rule("app", "setup", "lib", required_status="installed", requirement_type="before"),
    )
    offered = {
        "app": Offered(priority=100, actions=BOTH, rules=rules),
        "other": Offered(priority=0, actions=BOTH),
        "present": Offered(priority=0, actions=BOTH),
        "noscript": Offered(priority=0, actions=frozenset({"uninstall"})),
        "lib": Offered(priority=-100, actions=BOTH),
    }
    states = {"present": State(status="installed")}
    groups = action_groups([("app", "setup", None)], offered, lambda p: states.get(p, State()))
    assert flat(groups) == [("lib", "setup"), ("app", "setup")]


def test_a_rule_wanting_a_product_gone_adds_its_uninstall() -> None:
    offered = {
        "app": Offered(
            priority=0, actions=BOTH, rules=(Rule("app", "setup", "old", required_status="not_installed"),)
        ),
        "old": Offered(priority=0, actions=BOTH),
    }
    installed = {"old": State(status="installed")}
    groups = action_groups([("app", "setup", None)], offered, lambda p: installed.get(p, State()))
    assert sorted(flat(groups)) == [("app", "setup"), ("old", "uninstall")]
    # Not installed: the rule is fulfilled and adds nothing.
    assert flat(action_groups([("app", "setup", None)], offered, lambda _: State())) == [("app", "setup")]


def test_rules_without_a_requirement_type_do_not_tie_groups() -> None:
    offered = {
        "app": Offered(priority=10, actions=BOTH, rules=(_rule("app", "lib", ""),)),
        "lib": Offered(priority=0, actions=BOTH),
    }
    groups = action_groups([("app", "setup", None)], offered, lambda _: State())
    assert [flat([g]) for g in groups] == [[("app", "setup")], [("lib", "setup")]]


def test_unrelated_ties_form_separate_groups() -> None:
    offered = {
        "a1": Offered(priority=0, actions=BOTH, rules=(_rule("a1", "r1"),)),
        "a2": Offered(priority=0, actions=BOTH, rules=(_rule("a2", "r2"),)),
        "r1": Offered(priority=0, actions=BOTH),
        "r2": Offered(priority=0, actions=BOTH),
    }
    groups = action_groups([("a1", "setup", None), ("a2", "setup", None)], offered, lambda _: State())
    assert [flat([g]) for g in groups] == [
        [("r1", "setup"), ("a1", "setup")],
        [("r2", "setup"), ("a2", "setup")],
    ]


def test_an_added_action_replaces_a_none_request_and_keeps_the_callers_object() -> None:
    lib_first = Rule("app", "setup", "lib", required_status="installed", requirement_type="before")
    offered = {
        "app": Offered(priority=0, actions=BOTH, rules=(lib_first,)),
        "lib": Offered(priority=0, actions=BOTH),
    }
    groups = action_groups(
        [("lib", "none", "lib-request"), ("app", "setup", "app-request")], offered, lambda _: State()
    )
    (group,) = groups
    assert [(a.product, a.action, a.request) for a in group.actions] == [
        ("lib", "setup", "lib-request"),
        ("app", "setup", "app-request"),
    ]
    # The caller's objects may be None; a none request with nothing added stays as it was.
    groups = action_groups([("lib", "none", None), ("app", "setup", None)], offered, lambda _: State())
    assert [(a.product, a.action, a.request) for a in groups[0].actions] == [
        ("lib", "setup", None),
        ("app", "setup", None),
    ]
    groups = action_groups([("lib", "none", 1), ("lib", "none", 2)], offered, lambda _: State())
    assert [(a.product, a.action, a.request) for g in groups for a in g.actions] == [("lib", "none", 1)]


def test_group_priority_is_its_highest_positive_else_its_lowest_negative() -> None:
    offered = {
        "zero": Offered(priority=0, actions=BOTH),
        "one": Offered(priority=1, actions=BOTH),
        "minus": Offered(priority=-1, actions=BOTH),
    }
    groups = action_groups([(p, "setup", None) for p in ("minus", "zero", "one")], offered, lambda _: State())
    assert flat(groups) == [("one", "setup"), ("zero", "setup"), ("minus", "setup")]
    assert [g.priority for g in groups] == [1, 0, -1]


def test_inside_a_group_priority_decides_where_rules_do_not() -> None:
    offered = {
        "app": Offered(priority=50, actions=BOTH, rules=(_rule("app", "runtime"), _rule("app", "tool"))),
        "runtime": Offered(priority=0, actions=BOTH),
        "tool": Offered(priority=100, actions=BOTH),
    }
    groups = action_groups([("app", "setup", None)], offered, lambda _: State())
    assert flat(groups) == [("tool", "setup"), ("runtime", "setup"), ("app", "setup")]


def test_a_rule_on_a_product_left_out_of_the_group_does_not_stop_the_next_rule() -> None:
    offered = {
        "app": Offered(
            priority=100,
            actions=BOTH,
            rules=(
                Rule("app", "setup", "done", required_status="installed", requirement_type="before"),
                Rule("app", "setup", "runtime", required_status="installed", requirement_type="before"),
            ),
        ),
        "done": Offered(priority=0, actions=BOTH),
        "runtime": Offered(priority=0, actions=BOTH),
    }
    states = {"done": State(status="installed")}
    groups = action_groups([("app", "setup", None)], offered, lambda p: states.get(p, State()))
    assert flat(groups) == [("runtime", "setup"), ("app", "setup")]


def test_an_after_product_moves_right_behind_its_dependent_as_opsi_does() -> None:
    """opsi inserts at the dependent's old index + 1 after taking the product out, so a product
    that stood before its dependent lands one further: here after ``x``, not at the end."""
    offered = {
        "app": Offered(
            priority=50,
            actions=BOTH,
            rules=(_rule("app", "docs", "after"), _rule("app", "x", "after"), _rule("app", "y", "after")),
        ),
        "docs": Offered(priority=90, actions=BOTH),
        "x": Offered(priority=10, actions=BOTH),
        "y": Offered(priority=5, actions=BOTH),
    }
    groups = action_groups([("app", "setup", None)], offered, lambda _: State())
    assert [a for a, _ in flat(groups)] == ["app", "x", "docs", "y"]


def test_sorting_repeats_until_a_chain_of_after_rules_holds() -> None:
    """a wants b after it, b wants c after it: one pass leaves c before b, the next fixes it."""
    offered = {
        "a": Offered(priority=10, actions=BOTH, rules=(_rule("a", "b", "after"),)),
        "b": Offered(priority=40, actions=BOTH, rules=(_rule("b", "c", "after"),)),
        "c": Offered(priority=80, actions=BOTH),
    }
    groups = action_groups([("a", "setup", None)], offered, lambda _: State())
    assert [a for a, _ in flat(groups)] == ["a", "b", "c"]
