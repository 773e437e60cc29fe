"""Alert rule expressions and rulesets at their edges (core/alerting/expr.py, rules.py): limits on
both sides, the exact refusal texts and places, and values read back. Written against the
survivors of `make mutation MODULE="core/alerting/expr.py core/alerting/rules.py"` (docs/testing.md)."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from fleetdeck.core.alerting import rules as r
from fleetdeck.core.alerting.expr import (
    HISTORY,
    MAX_EXPR,
    MAX_NODES,
    ExprError,
    compile_expr,
    evaluate,
    translate,
)


def holds(text: str, history: list[dict[str, Any]] | None = None, **names: Any) -> bool:
    base: dict[str, Any] = {"cpu_usage_percent": None, "memory_usage_percent": None, "tags": [], "labels": {}}
    return evaluate(compile_expr(text), {**base, **names}, history or [])


def refusal(text: Any, extra: tuple[str, ...] = ()) -> str:
    with pytest.raises(ExprError) as info:
        compile_expr(text, extra)
    return str(info.value)


def test_escaped_quotes_keep_a_string_open_and_operators_at_the_end_translate() -> None:
    assert translate(r'"a\"&&b" && c') == r'"a\"&&b"  and  c'
    assert translate(r"'x\'||' || !y") == r"'x\'||'  or   not y"
    assert translate("a&&b||c") == "a and b or c"
    assert translate("!") == " not "
    assert translate("a != b") == "a != b"
    assert translate("'\\") == "'\\"  # a trailing backslash in an open string is kept as it is
    assert translate("a & b | c") == "a & b | c"  # single & and | are left alone (and refused later)
    assert holds(r'client_name == "a\"&&b" && true', client_name='a"&&b')


def test_limits_hold_on_both_sides() -> None:
    exact = "true" + " " * (MAX_EXPR - 4)
    assert len(exact) == MAX_EXPR
    assert compile_expr(exact).text == exact
    assert refusal(exact + " ") == f"the expression is longer than {MAX_EXPR} characters"
    for k, expected in ((66, True), (67, False)):
        text = " + ".join(["1"] * k) + " > 0"
        nodes = sum(1 for _ in ast.walk(ast.parse(text, mode="eval")))
        assert (nodes <= MAX_NODES) is expected
        if expected:
            assert nodes == MAX_NODES
            assert holds(text)
        else:
            assert refusal(text) == f"the expression has more than {MAX_NODES} parts"


def test_refusal_texts_are_exact() -> None:
    assert refusal(None) == "the expression is empty"  # type: ignore[arg-type]
    assert refusal("   ") == "the expression is empty"
    assert refusal("a\x00") == "the expression contains a NUL character"
    assert refusal("cpu_usage_percent >").startswith("syntax error: ")
    assert refusal("cpu_usage_percent >") != "syntax error: None"
    assert refusal("client_name.upper == 'A'") == "attribute is not allowed in a rule"
    assert refusal("open('x')") == "unknown function; use one of avg, min, max, count, len"
    assert refusal("labels['f']('x')") == "unknown function; use one of avg, min, max, count, len"
    assert refusal("avg()") == "avg() takes exactly one argument"
    assert refusal("avg(metric='cpu_usage_percent')") == "avg() takes exactly one argument"
    assert refusal("secret_key == 1") == "unknown name 'secret_key'"
    assert refusal("None == tags") == "only numbers, strings and booleans are allowed as literals"


def test_names_that_a_rule_may_use() -> None:
    assert compile_expr("limit > 1", ("limit",)).text == "limit > 1"
    assert refusal("limit > 1") == "unknown name 'limit'"
    assert holds("True && true && !False && !false")
    assert holds("len(tags) == 2", tags=["a", "b"])
    assert holds("len == len")  # a function's bare name is known, not an unknown name


def test_missing_values_on_either_side_and_arithmetic() -> None:
    assert not holds("90 < cpu_usage_percent")
    assert not holds("cpu_usage_percent >= 0")
    assert not holds("0 <= cpu_usage_percent")
    assert holds("cpu_usage_percent - 1 == 4", cpu_usage_percent=5.0)
    assert holds("cpu_usage_percent * 2 == 10", cpu_usage_percent=5.0)
    assert holds("cpu_usage_percent % 3 == 2", cpu_usage_percent=5.0)
    assert holds("cpu_usage_percent / 2 == 2.5", cpu_usage_percent=5.0)
    # a missing value stays missing: no ordering holds either way
    assert not holds("1 + cpu_usage_percent > -1000") and not holds("1 + cpu_usage_percent < 1000")
    assert not holds("cpu_usage_percent / 0 > -1000", cpu_usage_percent=5.0)
    assert not holds("cpu_usage_percent / 0 < 1000", cpu_usage_percent=5.0)
    assert not holds("cpu_usage_percent + 'a' != 0 && cpu_usage_percent + 'a' > -1", cpu_usage_percent=5.0)


def test_functions_over_the_history_round_and_skip_what_is_missing() -> None:
    history: list[dict[str, Any]] = [
        {"cpu_usage_percent": 1.0},
        {"cpu_usage_percent": None},
        {"cpu_usage_percent": "9"},
        {"cpu_usage_percent": 2},
        {"cpu_usage_percent": 2.0},
    ]
    assert holds("avg('cpu_usage_percent') == 1.67", history)
    assert holds("count('cpu_usage_percent') == 3", history)
    assert holds("min('cpu_usage_percent') == 1 && max('cpu_usage_percent') == 2", history)
    # exactly the last HISTORY measurements
    many = [{"cpu_usage_percent": 50.0}] + [{"cpu_usage_percent": 1.0}] * HISTORY
    assert holds("count('cpu_usage_percent') == 10 && max('cpu_usage_percent') == 1", many)
    # nothing measured: min/max/avg are missing (comparisons false), count is 0
    for fn in ("min", "max", "avg"):
        assert not holds(f"{fn}('cpu_usage_percent') < 1000")
        assert not holds(f"{fn}('cpu_usage_percent') > -1000")
    assert holds("count('cpu_usage_percent') == 0")
    with pytest.raises(ExprError) as info:
        holds("count('password') == 0")
    assert str(info.value) == "unknown measurement 'password'"


def test_a_missing_item_does_not_hold_and_a_bad_evaluation_is_named() -> None:
    assert not holds("tags[5] == 'x'", tags=["a"])
    assert not holds("labels['env'] == 'x'")
    with pytest.raises(ExprError) as info:
        holds("tags['x'] == 1", tags=["a"])
    assert str(info.value).startswith("cannot evaluate: ")


def rule(
    rid: str = "a", expr: str = "true", severity: str = "Warning", actions: Any = None
) -> dict[str, Any]:
    return {"id": rid, "severity": severity, "expr": expr, "actions": actions or []}


def problems_of(raw: object) -> list[tuple[str, str]]:
    return [(p.prefix, p.err) for p in r.parse(raw)[1]]


def test_vars_values_and_names_at_their_limits() -> None:
    name64, name65 = "v" * r.MAX_NAME, "v" * (r.MAX_NAME + 1)
    parsed, problems = r.parse(
        {
            "vars": [
                "word = ops",
                "quoted='it'",
                "yes=True",
                "n=1.5",
                "lst=[1, 2]",
                "eq='a=b'",
                "phrase=two words",
                f"{name64}=1",
                "long=" + "x" * r.MAX_LOG,
            ],
            "rules": [],
        }
    )
    assert problems == []
    assert parsed.vars == {
        "word": "ops",
        "quoted": "it",
        "yes": True,
        "n": 1.5,
        "lst": [1, 2],
        "eq": "a=b",
        "phrase": "two words",
        name64: 1,
        "long": "x" * r.MAX_LOG,
    }
    assert problems_of({"vars": ["a=1", f"{name65}=1"]}) == [("vars[1]", f"invalid var name {name64!r}")]
    assert problems_of({"vars": ["é=1"]}) == [("vars[0]", "invalid var name 'é'")]
    assert problems_of({"vars": [3]}) == [("vars[0]", 'a var is "name=value"')]
    assert problems_of({"vars": ["avg=1"]}) == [
        ("vars[0]", "'avg' is a measurement, fact or function: choose another name")
    ]
    assert problems_of({"vars": ["x=" + "1" * (r.MAX_LOG + 1)]}) == [
        ("vars[0]", f"a var's value is at most {r.MAX_LOG} characters")
    ]
    assert problems_of({"vars": ["x=null"]}) == [
        ("vars[0]", "a var's value is a number, a string, a boolean or a list")
    ]


def test_list_sizes_at_their_limits() -> None:
    vars_ok = [f"v{i}=1" for i in range(r.MAX_VARS)]
    assert problems_of({"vars": vars_ok}) == []
    assert problems_of({"vars": [*vars_ok, "w=1"]}) == [
        ("vars", f"vars is a list of at most {r.MAX_VARS} strings")
    ]
    assert problems_of({"vars": "a=1"}) == [("vars", f"vars is a list of at most {r.MAX_VARS} strings")]
    rules_ok = [rule(f"r{i}") for i in range(r.MAX_RULES)]
    parsed, problems = r.parse({"rules": rules_ok})
    assert problems == [] and len(parsed.rules) == r.MAX_RULES
    assert problems_of({"rules": [*rules_ok, rule("x")]}) == [
        ("rules", f"rules is a list of at most {r.MAX_RULES} rules")
    ]
    assert problems_of({"rules": {"a": 1}}) == [("rules", f"rules is a list of at most {r.MAX_RULES} rules")]
    actions_ok = [{"log": str(i)} for i in range(r.MAX_ACTIONS)]
    assert problems_of({"rules": [rule(actions=actions_ok)]}) == []
    assert problems_of({"rules": [rule(actions=[*actions_ok, {"log": "x"}])]}) == [
        ("rules[0].actions", f"actions is a list of at most {r.MAX_ACTIONS}")
    ]
    assert problems_of({"rules": [rule(actions={"log": "x"})]}) == [
        ("rules[0].actions", f"actions is a list of at most {r.MAX_ACTIONS}")
    ]
    assert problems_of({"vars": None, "rules": None}) == []


def test_rule_refusals_are_exact_and_stop_at_the_first() -> None:
    assert problems_of({"rules": ["x"]}) == [
        ("rules[0]", "a rule is a JSON object {id, severity, expr, actions}")
    ]
    assert problems_of({"rules": [{**rule(), "b": 1, "a": 2}]}) == [("rules[0].a", "unknown field 'a'")]
    assert problems_of({"b": 1, "a": 2, "rules": []}) == [("a", "unknown field 'a'")]
    id_text = f"a rule id is 1-{r.MAX_ID} printable characters"
    for bad in (None, " ", "x" * (r.MAX_ID + 1), "a\nb"):
        assert problems_of({"rules": [rule(bad)]}) == [("rules[0].id", id_text)]
    assert problems_of({"rules": [rule("x" * r.MAX_ID)]}) == []
    assert problems_of({"rules": [rule(severity="Critical")]}) == [
        ("rules[0].severity", "severity is one of Information, Warning, Average, High, Disaster")
    ]
    assert problems_of({"rules": [rule(expr=5)]}) == [("rules[0].expr", "the expression is empty")]
    one_of = "an action is one of {notify: [...]}, {ignore: [...]}, {log: text}"
    assert problems_of({"rules": [rule(actions=["log"])]}) == [("rules[0].actions[0]", one_of)]
    assert problems_of({"rules": [rule(actions=[{"log": "a", "notify": []}])]}) == [
        ("rules[0].actions[0]", one_of)
    ]
    assert problems_of({"rules": [rule(actions=[{"log": "a"}, {}])]}) == [("rules[0].actions[1]", one_of)]
    for bad in ([""], ["x" * (r.MAX_ID + 1)], [1]):
        assert problems_of({"rules": [rule(actions=[{"notify": bad}])]}) == [
            ("rules[0].actions[0]", "notify takes a list of ids")
        ]
    assert problems_of({"rules": [rule(actions=[{"notify": ["x" * r.MAX_ID]}])]}) == []
    log_text = f"log takes a text of at most {r.MAX_LOG} characters"
    assert problems_of({"rules": [rule(actions=[{"log": 1}])]}) == [("rules[0].actions[0]", log_text)]
    assert problems_of({"rules": [rule(actions=[{"log": "x" * (r.MAX_LOG + 1)}])]}) == [
        ("rules[0].actions[0]", log_text)
    ]
    assert problems_of({"rules": [rule(actions=[{"log": "x" * r.MAX_LOG}])]}) == []
    assert problems_of({"rules": [rule("a"), rule("b"), rule("a")]}) == [
        ("rules[2].id", "duplicate rule id 'a'")
    ]
    assert problems_of({"rules": [rule("a"), rule("b", actions=[{"ignore": ["a", "zz"]}])]}) == [
        ("rules[1].actions", "ignore names unknown rule 'zz'")
    ]


def test_the_stored_form_is_normalised_and_actions_read_back() -> None:
    raw = {
        "vars": ["limit=80"],
        "rules": [
            rule("hot", "cpu_usage_percent > limit", actions=[{"notify": ["m1", "m2"]}, {"log": "x"}]),
            rule("bad", "nope > 1"),
            rule("cold", "cpu_usage_percent < 5", "Information", [{"ignore": ["hot"]}, {"log": "y"}]),
        ],
    }
    parsed, problems = r.parse(raw)
    assert [p.prefix for p in problems] == ["rules[1].expr"]
    assert parsed.raw == {
        "vars": ["limit=80"],
        "rules": [
            {
                "id": "hot",
                "severity": "Warning",
                "expr": "cpu_usage_percent > limit",
                "actions": [{"notify": ["m1", "m2"]}, {"log": "x"}],
            },
            {
                "id": "cold",
                "severity": "Information",
                "expr": "cpu_usage_percent < 5",
                "actions": [{"ignore": ["hot"]}, {"log": "y"}],
            },
        ],
    }
    hot, cold = parsed.rules
    assert hot.notify == ["m1", "m2"] and hot.ignore == [] and hot.logs == ["x"]
    assert cold.notify == [] and cold.ignore == ["hot"] and cold.logs == ["y"]
    assert parsed.templates == {"m1", "m2"}


def test_rules_that_cannot_be_evaluated_are_named_and_do_not_hold() -> None:
    parsed, problems = r.parse(
        {"rules": [rule("ok", "true"), rule("broken", "tags['x'] == 1"), rule("also", "len(tags) == 1")]}
    )
    assert problems == []
    names = r.names_for({"client_id": "c", "tags": ["a"]}, {}, parsed.vars)
    holding, failed = r.matched(parsed, names, [])
    assert [x.id for x in holding] == ["ok", "also"]
    assert [p.prefix for p in failed] == ["rules[1].expr"]
    assert failed[0].err.startswith("cannot evaluate: ")


def test_names_for_reads_every_fact_and_every_measurement() -> None:
    client = {
        "client_id": "c1",
        "client_name": "web1",
        "os": "Debian",
        "os_family": "linux",
        "connection_state": "connected",
    }
    names = r.names_for(client, {"net_wan_out": 7, "cpu_usage_percent": 1.5}, {})
    assert {k: names[k] for k in client} == client
    assert names["tags"] == [] and names["labels"] == {}
    assert names["net_wan_out"] == 7.0 and isinstance(names["net_wan_out"], float)
    assert names["cpu_usage_percent"] == 1.5
    assert names["net_lan_in"] is None
