"""Rulesets: parsing and checking them, and deciding which rules hold for one computer.

Pure functions, no database: the service stores and loads rulesets, the test endpoint runs them
over data it is given, and both decide with ``matched``.

A ruleset is ``{vars?: ["name=value", ...], rules: [{id, severity, expr, actions}]}``. Actions:
``{"notify": [template ids]}``, ``{"ignore": [rule ids]}`` (while this rule holds, those rules
count as not holding: a Disaster rule silences the Warning one), ``{"log": "message"}``.
"""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetdeck.core.alerting.expr import (
    CLIENT_NAMES,
    FUNCTIONS,
    METRICS,
    Compiled,
    ExprError,
    compile_expr,
    evaluate,
)

SEVERITIES = ("Information", "Warning", "Average", "High", "Disaster")
MAX_RULES = 500
MAX_VARS = 100
MAX_ID = 100
MAX_ACTIONS = 20
MAX_LOG = 1000
MAX_NAME = 64
RESERVED = frozenset({*METRICS, *CLIENT_NAMES, *FUNCTIONS, "true", "false", "True", "False"})


@dataclass(frozen=True, slots=True)
class Problem:
    """A place in the ruleset where it is wrong (rport's ``{prefix, err}``)."""

    prefix: str
    err: str


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: str
    expr: Compiled
    actions: tuple[Mapping[str, Any], ...]

    @property
    def notify(self) -> list[str]:
        return [t for a in self.actions for t in a.get("notify", ())]

    @property
    def ignore(self) -> list[str]:
        return [r for a in self.actions for r in a.get("ignore", ())]

    @property
    def logs(self) -> list[str]:
        return [str(a["log"]) for a in self.actions if "log" in a]


@dataclass(frozen=True, slots=True)
class Ruleset:
    vars: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)  # as given, normalised (stored)

    @property
    def templates(self) -> set[str]:
        return {t for r in self.rules for t in r.notify}


def _var(text: object, i: int, problems: list[Problem]) -> tuple[str, Any] | None:
    prefix = f"vars[{i}]"
    if not isinstance(text, str) or "=" not in text:
        problems.append(Problem(prefix, 'a var is "name=value"'))
        return None
    name, _, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not name.isidentifier() or len(name) > MAX_NAME or not name.isascii():
        problems.append(Problem(prefix, f"invalid var name {name[:MAX_NAME]!r}"))
        return None
    if name in RESERVED:
        problems.append(Problem(prefix, f"{name!r} is a measurement, fact or function: choose another name"))
        return None
    if len(raw) > MAX_LOG:
        problems.append(Problem(prefix, f"a var's value is at most {MAX_LOG} characters"))
        return None
    value: Any = raw  # a bare word is a string
    try:
        value = json.loads(raw)
    except RecursionError:  # "[[[[...": deeper than the JSON decoder goes (1000 characters can be)
        problems.append(Problem(prefix, "a var's value is nested too deeply"))
        return None
    except ValueError:
        with contextlib.suppress(ValueError, SyntaxError, MemoryError, RecursionError):
            value = ast.literal_eval(raw)  # 'single quoted', True/False
    if not isinstance(value, str | int | float | bool | list):
        problems.append(Problem(prefix, "a var's value is a number, a string, a boolean or a list"))
        return None
    return name, value


def parse(raw: object) -> tuple[Ruleset, list[Problem]]:
    """The ruleset and what is wrong with it (nothing: an empty list)."""
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        return Ruleset(), [Problem("", "the ruleset is a JSON object {vars, rules}")]
    unknown = sorted(set(raw) - {"vars", "rules"})
    if unknown:
        problems.append(Problem(unknown[0], f"unknown field {unknown[0]!r}"))
    raw_vars = raw.get("vars") or []
    raw_rules = raw.get("rules") or []
    if not isinstance(raw_vars, list) or len(raw_vars) > MAX_VARS:
        problems.append(Problem("vars", f"vars is a list of at most {MAX_VARS} strings"))
        raw_vars = []
    if not isinstance(raw_rules, list) or len(raw_rules) > MAX_RULES:
        problems.append(Problem("rules", f"rules is a list of at most {MAX_RULES} rules"))
        raw_rules = []
    variables: dict[str, Any] = {}
    for i, text in enumerate(raw_vars):
        got = _var(text, i, problems)
        if got is not None:
            variables[got[0]] = got[1]
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_rules):
        rule = _rule(item, f"rules[{i}]", variables, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(Problem(f"rules[{i}].id", f"duplicate rule id {rule.id!r}"))
            continue
        seen.add(rule.id)
        rules.append(rule)
    known = {r.id for r in rules}
    for i, rule in enumerate(rules):
        for other in rule.ignore:
            if other not in known:
                problems.append(Problem(f"rules[{i}].actions", f"ignore names unknown rule {other!r}"))
    normal = {
        "vars": list(raw_vars),
        "rules": [
            {"id": r.id, "severity": r.severity, "expr": r.expr.text, "actions": list(r.actions)}
            for r in rules
        ],
    }
    return Ruleset(vars=variables, rules=tuple(rules), raw=normal), problems


def _rule(item: object, prefix: str, variables: Mapping[str, Any], problems: list[Problem]) -> Rule | None:
    if not isinstance(item, Mapping):
        problems.append(Problem(prefix, "a rule is a JSON object {id, severity, expr, actions}"))
        return None
    unknown = sorted(set(item) - {"id", "severity", "expr", "actions"})
    if unknown:
        problems.append(Problem(f"{prefix}.{unknown[0]}", f"unknown field {unknown[0]!r}"))
        return None
    rid = item.get("id")
    if not isinstance(rid, str) or not rid.strip() or len(rid) > MAX_ID or not rid.isprintable():
        problems.append(Problem(f"{prefix}.id", f"a rule id is 1-{MAX_ID} printable characters"))
        return None
    severity = item.get("severity")
    if severity not in SEVERITIES:
        problems.append(Problem(f"{prefix}.severity", f"severity is one of {', '.join(SEVERITIES)}"))
        return None
    try:
        compiled = compile_expr(item.get("expr"), tuple(variables))  # type: ignore[arg-type]
    except ExprError as exc:
        problems.append(Problem(f"{prefix}.expr", str(exc)))
        return None
    actions = item.get("actions") or []
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        problems.append(Problem(f"{prefix}.actions", f"actions is a list of at most {MAX_ACTIONS}"))
        return None
    checked: list[Mapping[str, Any]] = []
    for j, action in enumerate(actions):
        where = f"{prefix}.actions[{j}]"
        if not isinstance(action, Mapping) or len(action) != 1:
            problems.append(
                Problem(where, "an action is one of {notify: [...]}, {ignore: [...]}, {log: text}")
            )
            return None
        (kind, value), *_ = action.items()
        if kind in ("notify", "ignore"):
            if not isinstance(value, list) or not all(
                isinstance(v, str) and 0 < len(v) <= MAX_ID for v in value
            ):
                problems.append(Problem(where, f"{kind} takes a list of ids"))
                return None
        elif kind == "log":
            if not isinstance(value, str) or len(value) > MAX_LOG:
                problems.append(Problem(where, f"log takes a text of at most {MAX_LOG} characters"))
                return None
        else:
            problems.append(Problem(where, f"unknown action {kind!r}"))
            return None
        checked.append({kind: value})
    return Rule(id=rid, severity=str(severity), expr=compiled, actions=tuple(checked))


def names_for(
    client: Mapping[str, Any], measurement: Mapping[str, Any], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """What a rule's names mean for one computer: its facts, its latest measurement (missing
    numbers are ``None``, so rules about them do not hold), and the ruleset's vars (whose names
    never shadow these: ``parse`` refuses them)."""
    names: dict[str, Any] = dict(variables)
    names.update({k: client.get(k) for k in CLIENT_NAMES})
    names["tags"] = list(client.get("tags") or [])
    names["labels"] = dict(client.get("labels") or {})
    for metric in METRICS:
        value = measurement.get(metric)
        names[metric] = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    return names


def matched(
    ruleset: Ruleset, names: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> tuple[list[Rule], list[Problem]]:
    """The rules that hold (after ``ignore``), in ruleset order, and rules that could not be
    evaluated (they count as not holding)."""
    holding: list[Rule] = []
    failed: list[Problem] = []
    for i, rule in enumerate(ruleset.rules):
        try:
            if evaluate(rule.expr, names, history):
                holding.append(rule)
        except ExprError as exc:
            failed.append(Problem(f"rules[{i}].expr", str(exc)))
    silenced = {r for rule in holding for r in rule.ignore}
    return [r for r in holding if r.id not in silenced], failed
