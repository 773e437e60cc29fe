"""REST list requests: ``filter[...]``, ``sort``, ``page[...]`` and ``fields[...]`` into a
``core.query.Query``, for ``/api/v1`` today and the REST dialects next (rportd, RemotePC).

Two things vary, and each is a small value:

- ``ListSyntax``: how a transport spells things. Its operator names (``filter[f][gt]``), whether a
  comma means "any of", ``*`` a wildcard, ``filter[a|b]`` an OR across fields, ``or(..)``/``and(..)``
  functions, ``filter[*]`` a search over every filterable field, an empty value "empty or null",
  and the texts of its error messages.
- ``ListRules``: what one resource allows. Which fields may be filtered with which operators
  (``None``: any field, core rejects unknown ones), which may be sorted, how many sort keys,
  the default and largest page, and the sparse fieldsets (``fields[clients]=id,name``).

Errors are ``ListSyntaxError`` (a core ``ValidationFailed``) with a ``reason`` and the message in
the syntax's words; each transport renders it in its own envelope. No SQL is built here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetdeck.core import query as q
from fleetdeck.core.errors import ValidationFailed

_FILTER = re.compile(r"^filter\[([^\[\]]{1,200})\](?:\[([A-Za-z_]{1,20})\])?$")
_FIELDS = re.compile(r"^fields\[([A-Za-z_][A-Za-z0-9_]{0,63})\]$")
_FUNCTION = re.compile(r"^(or|and)\((.*)\)$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
MAX_VALUES = 1000  # values in one filter (a,b,c...): bounded work per request

# reason -> message; ``{...}`` fields are filled by the parser
MESSAGES: dict[str, str] = {
    "unknown_parameter": "unknown query parameter {name!r}",
    "unknown_operator": "unknown filter operator {op!r}; allowed: {allowed}",
    "unsupported_filter": "unsupported filter field {name!r}",
    "unsupported_operator": "unsupported filter operator {op!r} for field {field!r}",
    "bad_is_null": "is_null takes true or false",
    "bad_between": "between takes two comma-separated values, low,high (both included)",
    "nul": "filter values must not contain NUL characters",
    "too_many_values": "a filter takes at most {max} values",
    "limit_not_a_number": "page[limit] must be a whole number",
    "limit_too_small": "page[limit] must be at least {min}",
    "limit_too_big": "page[limit] must be at most {max}",
    "offset_not_a_number": "page[offset] must be a whole number",
    "offset_negative": "page[offset] must not be negative",
    "unsupported_sort": "unknown sort field {field!r}",
    "too_many_sort_keys": "at most {max} sort keys",
    "unsupported_fields_resource": "unknown resource {resource!r} in fields[...]",
    "unsupported_field": "unknown field {field!r} in fields[{resource}]",
}


class ListSyntaxError(ValidationFailed):
    def __init__(self, reason: str, message: str, param: str) -> None:
        super().__init__(message, field=param, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class ListSyntax:
    ops: Mapping[str, q.Op]
    comma_means_any: bool = True
    star_means_glob: bool = True
    or_across_fields: bool = False
    functions: bool = False
    search_all: bool = False
    blank_means_empty: bool = False
    trim_values: bool = False
    unknown_params_are_errors: bool = True
    messages: Mapping[str, str] = field(default_factory=dict)

    def fail(self, reason: str, param: str, **values: Any) -> ListSyntaxError:
        template = self.messages.get(reason) or MESSAGES[reason]
        return ListSyntaxError(reason, template.format(**values), param)


@dataclass(frozen=True)
class Fieldset:
    """A resource's sparse fieldset: what may be asked for, and what comes when nothing is."""

    allowed: frozenset[str]
    default: tuple[str, ...]


@dataclass(frozen=True)
class ListRules:
    filters: Mapping[str, frozenset[q.Op]] | None = None  # field -> allowed operators; None = any
    search: tuple[str, ...] = ()  # fields ``filter[*]`` searches (default: every filter field)
    sorts: frozenset[str] | None = None  # None = any (core checks the names)
    max_sort_keys: int | None = None
    default_sort: tuple[q.SortKey, ...] = ()
    default_limit: int = q.DEFAULT_LIMIT
    min_limit: int = 0
    max_limit: int = q.MAX_LIMIT
    fieldsets: Mapping[str, Fieldset] = field(default_factory=dict)


@dataclass(frozen=True)
class ListRequest:
    query: q.Query
    fields: Mapping[str, tuple[str, ...]]  # resource -> the fields to render


def parse(params: Iterable[tuple[str, str]], rules: ListRules, syntax: ListSyntax) -> ListRequest:
    """Every query parameter of a list request, in order; repeated parameters all count."""
    where: list[q.Expr] = []
    sort: list[q.SortKey] = []
    limit, offset = rules.default_limit, 0
    fields: dict[str, tuple[str, ...]] = {}
    for name, raw in params:
        if name == "sort":
            sort += _sort_keys(raw, rules, syntax)
        elif name == "page[limit]":
            limit = _limit(raw, rules, syntax)
        elif name == "page[offset]":
            offset = _offset(raw, syntax)
        elif (match := _FIELDS.match(name)) is not None:
            fields[match.group(1)] = _fieldset(match.group(1), raw, rules, syntax, name)
        elif (match := _FILTER.match(name)) is not None:
            where.append(_filter(name, match.group(1), match.group(2), raw, rules, syntax))
        elif syntax.unknown_params_are_errors:
            raise syntax.fail("unknown_parameter", name, name=name)
    if rules.max_sort_keys is not None and len(sort) > rules.max_sort_keys:
        raise syntax.fail("too_many_sort_keys", "sort", max=rules.max_sort_keys)
    for resource, fieldset in rules.fieldsets.items():
        fields.setdefault(resource, fieldset.default)
    query = q.Query(where=tuple(where), sort=tuple(sort) or rules.default_sort, limit=limit, offset=offset)
    return ListRequest(query=query, fields=fields)


def _sort_keys(raw: str, rules: ListRules, syntax: ListSyntax) -> list[q.SortKey]:
    keys = [q.SortKey.parse(k) for k in raw.split(",") if k.strip()]
    for key in keys:
        if rules.sorts is not None and key.field not in rules.sorts:
            raise syntax.fail("unsupported_sort", "sort", field=key.field)
    return keys


def _whole(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if re.fullmatch(r"[+-]?\d{1,19}", text) else None


def _limit(raw: str, rules: ListRules, syntax: ListSyntax) -> int:
    value = _whole(raw)
    if value is None:
        raise syntax.fail("limit_not_a_number", "page[limit]", value=raw)
    if value < rules.min_limit:
        raise syntax.fail("limit_too_small", "page[limit]", value=value, min=rules.min_limit)
    if value > rules.max_limit:
        raise syntax.fail("limit_too_big", "page[limit]", value=value, max=rules.max_limit)
    return value


def _offset(raw: str, syntax: ListSyntax) -> int:
    value = _whole(raw)
    if value is None:
        raise syntax.fail("offset_not_a_number", "page[offset]", value=raw)
    if value < 0:
        raise syntax.fail("offset_negative", "page[offset]", value=value)
    return value


def _fieldset(resource: str, raw: str, rules: ListRules, syntax: ListSyntax, param: str) -> tuple[str, ...]:
    fieldset = rules.fieldsets.get(resource)
    if fieldset is None:
        raise syntax.fail("unsupported_fields_resource", param, resource=resource)
    chosen = tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    for name in chosen:
        if name not in fieldset.allowed:
            raise syntax.fail("unsupported_field", param, resource=resource, field=name)
    return chosen or fieldset.default


def _filter(
    param: str, names: str, op_name: str | None, raw: str, rules: ListRules, syntax: ListSyntax
) -> q.Expr:
    if "\x00" in raw:
        raise syntax.fail("nul", param, name=param)
    value = raw.strip() if syntax.trim_values else raw
    if syntax.search_all and names == "*":
        targets = list(rules.search or (rules.filters or {}))
    elif syntax.or_across_fields and "|" in names:
        targets = names.split("|")
    else:
        targets = [names]
    op: q.Op | None = None
    if op_name is not None:
        op = syntax.ops.get(op_name.lower())
        if op is None:
            raise syntax.fail("unknown_operator", param, op=op_name, allowed=", ".join(syntax.ops))
    conds: list[q.Expr] = []
    for target in targets:
        if not _NAME.match(target) or (rules.filters is not None and target not in rules.filters):
            raise syntax.fail("unsupported_filter", param, name=param, field=target)
        if op is not None and rules.filters is not None and op not in rules.filters[target]:
            raise syntax.fail("unsupported_operator", param, op=op_name, field=target)
        conds.append(_condition(param, target, op, value, syntax))
    return conds[0] if len(conds) == 1 else q.AnyOf(tuple(conds))


def _values(param: str, text: str, syntax: ListSyntax) -> list[str]:
    parts = text.split(",")
    if len(parts) > MAX_VALUES:
        raise syntax.fail("too_many_values", param, max=MAX_VALUES)
    return [p.strip() for p in parts] if syntax.trim_values else parts


def _condition(param: str, target: str, op: q.Op | None, value: str, syntax: ListSyntax) -> q.Expr:
    if op in (q.Op.IN, q.Op.IIN):
        return q.Cond(target, op, _values(param, value, syntax))
    if op is q.Op.BETWEEN:
        bounds = _values(param, value, syntax)
        if len(bounds) != 2:
            raise syntax.fail("bad_between", param)
        return q.Cond(target, op, tuple(bounds))
    if op is q.Op.IS_NULL:
        if value.lower() not in _TRUE | _FALSE:
            raise syntax.fail("bad_is_null", param)
        return q.Cond(target, op, value.lower() in _TRUE)
    if op is not None:
        return q.Cond(target, op, value)
    if syntax.functions and (match := _FUNCTION.match(value)) is not None:
        parts = [_plain(target, v, syntax) for v in _values(param, match.group(2), syntax)]
        return q.AnyOf(tuple(parts)) if match.group(1) == "or" else q.AllOf(tuple(parts))
    if syntax.comma_means_any and "," in value:
        values = _values(param, value, syntax)
        if syntax.star_means_glob and any("*" in v for v in values):
            return q.AnyOf(tuple(_plain(target, v, syntax) for v in values))
        return q.Cond(target, q.Op.IN, values)
    return _plain(target, value, syntax)


def _plain(target: str, value: str, syntax: ListSyntax) -> q.Expr:
    if syntax.blank_means_empty and value == "":
        return q.AnyOf((q.Cond(target, q.Op.EQ, ""), q.Cond(target, q.Op.IS_NULL, True)))
    if syntax.star_means_glob and "*" in value:
        return q.Cond(target, q.Op.LIKE, value)
    return q.Cond(target, q.Op.EQ, value)


def allowed(*ops: q.Op) -> frozenset[q.Op]:
    """``ListRules.filters`` values read better as ``allowed(Op.EQ, Op.LIKE)``."""
    return frozenset(ops)


__all__ = [
    "MESSAGES",
    "Fieldset",
    "ListRequest",
    "ListRules",
    "ListSyntax",
    "ListSyntaxError",
    "allowed",
    "parse",
]


def map_conds(expr: q.Expr, leaf: Callable[[q.Cond], q.Expr]) -> q.Expr:
    """``expr`` with each condition replaced by ``leaf(cond)`` and its AnyOf/AllOf shape kept:
    how a dialect turns conditions on its own field names into conditions on core's."""
    if isinstance(expr, q.AnyOf):
        return q.AnyOf(tuple(map_conds(c, leaf) for c in expr.conds))
    if isinstance(expr, q.AllOf):
        return q.AllOf(tuple(map_conds(c, leaf) for c in expr.conds))
    return leaf(expr)
