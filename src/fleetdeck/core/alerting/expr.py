"""Alert rule expressions: small boolean formulas over one computer's latest measurement.

Rules are written the way rport's alerting writes them (``cpu_usage_percent > 90 &&
client_name == "db1"``): comparisons, ``&&``/``||``/``!`` (or ``and``/``or``/``not``),
arithmetic, string and number literals, lists with ``in``. Evaluation is ``simpleeval``'s
(an AST walker with no attribute access, no imports, no comprehensions here) over a fixed set of
names and functions, so a rule can read measurements but never reach Python; expressions are
capped in length and in AST nodes, and evaluation itself is bounded by that size.

Names: the latest measurement's numbers (``METRICS``), the computer's facts (``client_id``,
``client_name``, ``os``, ``os_family``, ``tags``, ``labels``, ``connection_state``) and the
ruleset's ``vars``. Functions over the recent measurements (newest last, at most ``HISTORY``):
``avg("cpu_usage_percent")``, ``min(...)``, ``max(...)``, ``count(...)``, and ``len``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simpleeval import (  # type: ignore[import-untyped]
    DEFAULT_OPERATORS,
    EvalWithCompoundTypes,
    InvalidExpression,
)

MAX_EXPR = 2000  # characters
MAX_NODES = 200
HISTORY = 10  # measurements a rule may look back over (rport keeps about ten per client)
METRICS = (
    "cpu_usage_percent",
    "memory_usage_percent",
    "io_usage_percent",
    "net_lan_in",
    "net_lan_out",
    "net_wan_in",
    "net_wan_out",
)
CLIENT_NAMES = ("client_id", "client_name", "os", "os_family", "tags", "labels", "connection_state")
FUNCTIONS = ("avg", "min", "max", "count", "len")
_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Call,
    ast.Subscript,
)


class ExprError(ValueError):
    """The expression is not one this language accepts; the message says why."""


@dataclass(frozen=True, slots=True)
class Compiled:
    text: str
    tree: ast.Expression


def translate(text: str) -> str:
    """``&&`` -> ``and``, ``||`` -> ``or``, a lone ``!`` -> ``not``, outside string literals.
    One pass over the characters: linear in the length, no regular expression."""
    out: list[str] = []
    quote = ""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
            out.append(c)
        elif c == "&" and text.startswith("&&", i):
            out.append(" and ")
            i += 2
            continue
        elif c == "|" and text.startswith("||", i):
            out.append(" or ")
            i += 2
            continue
        elif c == "!" and not text.startswith("!=", i):
            out.append(" not ")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def compile_expr(text: str, extra_names: Sequence[str] = ()) -> Compiled:
    """Parse and check an expression once; raises ExprError with a reason."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the expression is empty")
    if len(text) > MAX_EXPR:
        raise ExprError(f"the expression is longer than {MAX_EXPR} characters")
    if "\x00" in text:
        raise ExprError("the expression contains a NUL character")
    try:
        tree = ast.parse(translate(text).strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExprError(f"syntax error: {getattr(exc, 'msg', None) or exc}") from None
    known = set(METRICS) | set(CLIENT_NAMES) | set(extra_names) | {"true", "false", "True", "False"}
    for nodes, node in enumerate(ast.walk(tree), 1):
        if nodes > MAX_NODES:
            raise ExprError(f"the expression has more than {MAX_NODES} parts")
        if not isinstance(node, _ALLOWED_NODES):
            raise ExprError(f"{type(node).__name__.lower()} is not allowed in a rule")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExprError(f"unknown function; use one of {', '.join(FUNCTIONS)}")
            if node.keywords or len(node.args) != 1:
                raise ExprError(f"{node.func.id}() takes exactly one argument")
        elif isinstance(node, ast.Name) and node.id not in known and node.id not in FUNCTIONS:
            raise ExprError(f"unknown name {node.id!r}")
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | bool):
            raise ExprError("only numbers, strings and booleans are allowed as literals")
    return Compiled(text=text, tree=tree)


def _unknown_is_false(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An ordering with a missing value (``None``: a measurement the agent did not send) or
    values of different kinds is false, instead of failing the whole rule: ``cpu > 90 ||
    mem > 90`` still holds on memory when CPU is missing."""

    def compare(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return False
        try:
            return fn(a, b)
        except TypeError:
            return False

    return compare


def _unknown_stays_unknown(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Arithmetic with a missing value, or dividing by zero, is missing (``None``), which any
    ordering then takes as false."""

    def calc(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return fn(a, b)
        except (ZeroDivisionError, TypeError):
            return None

    return calc


OPERATORS: dict[type, Callable[..., Any]] = {
    **DEFAULT_OPERATORS,
    **{op: _unknown_is_false(DEFAULT_OPERATORS[op]) for op in (ast.Gt, ast.GtE, ast.Lt, ast.LtE)},
    **{
        op: _unknown_stays_unknown(DEFAULT_OPERATORS[op])
        for op in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod)
    },
}


def _series(history: Sequence[Mapping[str, Any]]) -> Callable[[object], list[float]]:
    def values(metric: object) -> list[float]:
        if metric not in METRICS:
            raise ExprError(f"unknown measurement {metric!r}")
        return [
            float(m[str(metric)]) for m in history[-HISTORY:] if isinstance(m.get(str(metric)), int | float)
        ]

    return values


def evaluate(
    compiled: Compiled,
    names: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
) -> bool:
    """True when the rule holds. A name without a value (a measurement the agent did not send)
    makes comparisons with it false rather than failing the rule (``OPERATORS``)."""
    values = _series(history)

    def _avg(metric: object) -> float | None:
        v = values(metric)
        return round(sum(v) / len(v), 2) if v else None

    def _min(metric: object) -> float | None:
        v = values(metric)
        return min(v) if v else None

    def _max(metric: object) -> float | None:
        v = values(metric)
        return max(v) if v else None

    def _count(metric: object) -> int:
        return len(values(metric))

    evaluator = EvalWithCompoundTypes(
        operators=OPERATORS,
        names={"true": True, "false": False, "True": True, "False": False, **names},
        functions={"avg": _avg, "min": _min, "max": _max, "count": _count, "len": len},
    )
    try:
        result = evaluator.eval(compiled.text, previously_parsed=compiled.tree.body)
    except ExprError:
        raise
    except (KeyError, IndexError):
        return False  # labels["env"] of a computer without that label: the rule does not hold
    except (InvalidExpression, TypeError, ArithmeticError, ValueError) as exc:
        raise ExprError(f"cannot evaluate: {exc}") from None
    return bool(result)
