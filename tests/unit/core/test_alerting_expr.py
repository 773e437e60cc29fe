"""Alert rule expressions and rulesets (core/alerting/expr.py, rules.py): what a rule may say,
what it means over a computer's measurements, and what is refused before it is stored."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.core.alerting import rules as r
from fleetdeck.core.alerting.expr import MAX_EXPR, MAX_NODES, ExprError, compile_expr, evaluate, translate


def holds(text: str, history: list[dict[str, Any]] | None = None, **names: Any) -> bool:
    base: dict[str, Any] = {"cpu_usage_percent": None, "memory_usage_percent": None, "tags": [], "labels": {}}
    return evaluate(compile_expr(text), {**base, **names}, history or [])


def test_rport_operators_become_python_ones_outside_strings() -> None:
    assert translate('a && b || !c && d != "x && !y"') == 'a  and  b  or   not c  and  d != "x && !y"'
    assert translate("'it''s' && !x") == "'it''s'  and   not x"


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        ("cpu_usage_percent > 90", {"cpu_usage_percent": 95.0}, True),
        ("cpu_usage_percent > 90", {"cpu_usage_percent": 90.0}, False),
        (
            "cpu_usage_percent >= 90 && client_name == 'db1'",
            {"cpu_usage_percent": 90.0, "client_name": "db1"},
            True,
        ),
        (
            "cpu_usage_percent >= 90 && client_name == 'db1'",
            {"cpu_usage_percent": 90.0, "client_name": "db2"},
            False,
        ),
        ("!(os_family == 'windows')", {"os_family": "linux"}, True),
        ("'web' in tags", {"tags": ["db", "web"]}, True),
        ("'web' not in tags", {"tags": ["db", "web"]}, False),
        ("labels['env'] == 'prod'", {"labels": {"env": "prod"}}, True),
        ("labels['env'] == 'prod'", {"labels": {}}, False),  # no such label: does not hold
        ("memory_usage_percent * 2 > 100", {"memory_usage_percent": 51.0}, True),
        ("connection_state == 'disconnected'", {"connection_state": "disconnected"}, True),
    ],
)
def test_rules_read_the_computer_and_its_latest_measurement(
    text: str, names: dict[str, Any], expected: bool
) -> None:
    assert holds(text, **names) is expected


def test_a_missing_measurement_makes_comparisons_false_not_the_whole_rule() -> None:
    # CPU was not sent: its side is false, the memory side still decides
    assert holds("cpu_usage_percent > 90 || memory_usage_percent > 90", memory_usage_percent=95.0)
    assert not holds("cpu_usage_percent > 90 || memory_usage_percent > 90", memory_usage_percent=5.0)
    assert not holds("cpu_usage_percent + 10 > 0")  # arithmetic with a missing value stays missing
    assert not holds("cpu_usage_percent / 0 > 1", cpu_usage_percent=5.0)
    assert not holds("cpu_usage_percent > 'high'", cpu_usage_percent=5.0)  # different kinds


def test_functions_look_back_over_the_recent_measurements() -> None:
    history = [{"cpu_usage_percent": v} for v in (10.0, 20.0, 90.0)] + [{"memory_usage_percent": 1.0}]
    assert holds("avg('cpu_usage_percent') == 40", history)
    assert holds("max('cpu_usage_percent') == 90 && min('cpu_usage_percent') == 10", history)
    assert holds("count('cpu_usage_percent') == 3", history)
    # only the last ten count
    many = [{"cpu_usage_percent": 100.0}] * 5 + [{"cpu_usage_percent": 0.0}] * 10
    assert holds("max('cpu_usage_percent') == 0", many)
    assert not holds("avg('cpu_usage_percent') > 0")  # nothing yet: missing, so false
    with pytest.raises(ExprError, match="unknown measurement"):
        holds("avg('password') > 1", history)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_EXPR + 1), "longer than"),
        ("__import__('os').system('id')", "unknown function"),
        ("client_name.upper == 'A'", "attribute"),
        ("[t for t in tags]", "listcomp"),
        ("cpu_usage_percent ** 2 > 1", "pow"),
        ("lambda: 1", "lambda"),
        ("secret_key == 1", "unknown name"),
        ("avg('cpu_usage_percent', 3) > 1", "exactly one argument"),
        ("cpu_usage_percent >", "syntax error"),
        ("b'x' == tags", "literals"),
        ("a\x00", "NUL"),
        (" + ".join(["1"] * (MAX_NODES + 1)) + " > 0", "parts"),
    ],
)
def test_what_a_rule_may_not_say(text: str, reason: str) -> None:
    with pytest.raises(ExprError, match=reason):
        compile_expr(text)


def test_a_huge_string_is_refused_while_evaluating() -> None:
    with pytest.raises(ExprError, match="cannot evaluate"):
        holds("'a' * 1000000000 == ''")


def ruleset(*rules: dict[str, Any], vars: list[str] | None = None) -> dict[str, Any]:
    return {"vars": vars or [], "rules": list(rules)}


def rule(rid: str, expr: str, severity: str = "Warning", **action: Any) -> dict[str, Any]:
    return {"id": rid, "severity": severity, "expr": expr, "actions": [action] if action else []}


def test_a_valid_ruleset_parses_with_its_vars_and_actions() -> None:
    parsed, problems = r.parse(
        ruleset(
            rule("hot", "cpu_usage_percent > limit", notify=["mail"]),
            rule("burning", "cpu_usage_percent > 99", "Disaster", ignore=["hot"]),
            rule("note", "true", "Information", log="seen"),
            vars=["limit=80", "who = 'ops'"],
        )
    )
    assert problems == []
    assert parsed.vars == {"limit": 80, "who": "ops"}
    assert [x.id for x in parsed.rules] == ["hot", "burning", "note"]
    assert parsed.templates == {"mail"}
    assert parsed.rules[1].ignore == ["hot"] and parsed.rules[2].logs == ["seen"]


@pytest.mark.parametrize(
    ("raw", "prefix", "err"),
    [
        ([], "", "JSON object"),
        ({"rules": [], "extra": 1}, "extra", "unknown field"),
        (ruleset(rule("a", "true", "Critical")), "rules[0].severity", "severity is one of"),
        (ruleset(rule("", "true")), "rules[0].id", "rule id"),
        (ruleset(rule("a", "true"), rule("a", "false")), "rules[1].id", "duplicate"),
        (ruleset(rule("a", "nope > 1")), "rules[0].expr", "unknown name"),
        (ruleset(rule("a", "true", ignore=["b"])), "rules[0].actions", "unknown rule"),
        (ruleset(rule("a", "true", shout="x")), "rules[0].actions[0]", "unknown action"),
        (ruleset(rule("a", "true", notify="mail")), "rules[0].actions[0]", "list of ids"),
        (ruleset(vars=["9x=1"]), "vars[0]", "invalid var name"),
        (ruleset(vars=["novalue"]), "vars[0]", "name=value"),
        (ruleset(vars=["cpu_usage_percent=1"]), "vars[0]", "choose another name"),
        (ruleset(vars=["d={'a': 1}"]), "vars[0]", "a number, a string"),
        (ruleset(vars=["long=" + "1" * 1001]), "vars[0]", "at most"),
        (
            {"rules": [{"id": "a", "severity": "Warning", "expr": "true", "when": 1}]},
            "rules[0].when",
            "unknown",
        ),
    ],
)
def test_every_mistake_is_named_with_its_place(raw: object, prefix: str, err: str) -> None:
    _, problems = r.parse(raw)
    assert problems, raw
    assert problems[0].prefix == prefix
    assert err in problems[0].err


def test_ignore_silences_a_rule_while_the_other_holds() -> None:
    parsed, _ = r.parse(
        ruleset(
            rule("hot", "cpu_usage_percent > 80"), rule("burning", "cpu_usage_percent > 99", ignore=["hot"])
        )
    )

    def ids(cpu: float) -> list[str]:
        names = r.names_for({"client_id": "c1"}, {"cpu_usage_percent": cpu}, parsed.vars)
        return [x.id for x in r.matched(parsed, names, [])[0]]

    assert ids(85) == ["hot"]
    assert ids(100) == ["burning"]
    assert ids(10) == []


def test_names_for_takes_numbers_only_and_facts_win() -> None:
    names = r.names_for(
        {"client_id": "c1", "client_name": "web1", "tags": ("a",), "labels": {"k": "v"}},
        {"cpu_usage_percent": 5, "memory_usage_percent": True, "io_usage_percent": "9"},
        {"client_name": "not this", "limit": 3},
    )
    assert names["cpu_usage_percent"] == 5.0
    assert names["memory_usage_percent"] is None and names["io_usage_percent"] is None
    assert names["tags"] == ["a"] and names["labels"] == {"k": "v"}
    assert names["client_name"] == "web1" and names["limit"] == 3
