"""The one query language. Every transport's filter syntax is translated into a ``Query``;
it becomes SQL here and nowhere else.

A ``Query`` is a conjunction of conditions (an ``AnyOf`` inside it is a disjunction, also
across fields), a sort order and a page window. Field names are the service's public names; each
service passes a mapping from those names to columns (or to a ``Many``, a list-valued field
kept in another table), so unknown fields are rejected with a clear error instead of reaching
the database.

Operators: ``eq``/``ne``, ``ieq`` (case-insensitive equality), ``lt``/``le``/``gt``/``ge`` and
``between`` (an inclusive ``[low, high]``), ``like`` (glob: ``*`` is any run, case-insensitive),
``in`` and ``iin`` (case-insensitive), ``is_null``, and ``contains`` (a ``Many`` field holds the
value). On a ``Many`` field the text operators hold when any element matches; a
``Derived`` field is a condition core builds itself (a computer's rule groups).

A query has a JSON form (``Query.to_dict``/``Query.from_dict``) that is validated
strictly: dynamic groups are stored queries, and a stored query is read back as untrusted input.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select

from fleetdeck.core.errors import ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class Op(enum.StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    LIKE = "like"  # glob: * matches any run of characters; case-insensitive
    IN = "in"
    IS_NULL = "is_null"
    IEQ = "ieq"  # case-insensitive equality (text)
    IIN = "iin"  # case-insensitive IN (text)
    BETWEEN = "between"  # [low, high], both ends included
    CONTAINS = "contains"  # a list-valued field (``Many``) holds the value


@dataclass(frozen=True, slots=True)
class Many:
    """A list-valued field: the ``value`` column of the rows of another table whose ``owner``
    column points at ``key`` of the listed row (a computer's group ids, its MAC addresses);
    ``where``, if given, keeps only some of that table's rows (one kind of a computer's tags).
    ``contains`` and ``is_null`` (true: the list is empty) apply, and so do the text operators
    ``ieq``/``iin``/``like``, true when any element matches; all become a subquery, so the list is
    never loaded to be filtered."""

    key: Any
    owner: Any
    value: Any
    where: Any = None


@dataclass(frozen=True, slots=True)
class Derived:
    """A field whose condition the service builds itself from the whole ``Cond`` (what a plain
    column cannot say, such as membership of groups defined by stored rules). ``build`` returns
    the SQL condition; such a field filters but does not sort."""

    build: Callable[[Cond], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Cond:
    field: str
    op: Op
    value: Any = None


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when any of its conditions is."""

    conds: tuple[Cond | AnyOf | AllOf, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    conds: tuple[Cond | AnyOf | AllOf, ...]


Expr = Cond | AnyOf | AllOf


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False

    @classmethod
    def parse(cls, text: str) -> SortKey:
        text = text.strip()
        return cls(text[1:], True) if text.startswith("-") else cls(text.lstrip("+"), False)


@dataclass(frozen=True, slots=True)
class Query:
    where: tuple[Expr, ...] = ()
    sort: tuple[SortKey, ...] = ()
    limit: int | None = DEFAULT_LIMIT  # None = no limit (internal callers only)
    offset: int = 0

    def and_(self, *exprs: Expr) -> Query:
        return Query(self.where + exprs, self.sort, self.limit, self.offset)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"where": [...], "sort": ["-name"], "limit": n, "offset": n}``; a
        condition is ``{"field", "op", "value"}``, a disjunction ``{"any": [...]}``, a
        conjunction ``{"all": [...]}``. Datetimes become ISO text (``from_dict`` leaves them
        text; the column's type turns them back when the query runs)."""
        return {
            "where": [_expr_to_dict(e) for e in self.where],
            "sort": [("-" if k.descending else "") + k.field for k in self.sort],
            "limit": self.limit,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Query:
        """Read the JSON form back, refusing anything else: unknown keys or operators, values of
        the wrong shape, more than ``MAX_CONDITIONS`` conditions or ``MAX_DEPTH`` levels of
        nesting. Field names are checked when the query runs, against the service's fields."""
        obj = _object(data, "query", {"where", "sort", "limit", "offset"})
        where = _list(obj.get("where", []), "where", MAX_CONDITIONS)
        budget = [MAX_CONDITIONS]
        sort = _list(obj.get("sort", []), "sort", 10)
        for key in sort:
            if not isinstance(key, str) or not _FIELD_NAME.match(key.lstrip("+-")):
                raise ValidationFailed(f"sort keys are field names, not {key!r}", field="sort")
        limit = obj.get("limit", DEFAULT_LIMIT)
        if limit is not None and (type(limit) is not int or not 0 <= limit <= MAX_LIMIT):
            raise ValidationFailed(f"limit must be null or between 0 and {MAX_LIMIT}", field="limit")
        offset = obj.get("offset", 0)
        if type(offset) is not int or not 0 <= offset <= INT_MAX:
            raise ValidationFailed("offset must be a whole number, not negative", field="offset")
        return cls(
            where=tuple(_expr_from_dict(e, 1, budget) for e in where),
            sort=tuple(SortKey.parse(k) for k in sort),
            limit=limit,
            offset=offset,
        )


MAX_CONDITIONS = 200  # conditions in one serialised query, all levels together
MAX_DEPTH = 8  # nesting of any/all
MAX_VALUES = 1000  # values of one in/iin
MAX_TEXT = 1000  # characters of one value
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")
_LIST_OPS = {Op.IN, Op.IIN}


def _expr_to_dict(expr: Expr) -> dict[str, Any]:
    if isinstance(expr, AnyOf):
        return {"any": [_expr_to_dict(c) for c in expr.conds]}
    if isinstance(expr, AllOf):
        return {"all": [_expr_to_dict(c) for c in expr.conds]}

    def plain(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime) else v

    value = expr.value
    if isinstance(value, (list, tuple, set, frozenset)):
        value = [
            plain(v) for v in (sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value)
        ]
    elif expr.op is Op.IS_NULL:
        value = value in (True, None, "true", "1")
    return {"field": expr.field, "op": expr.op.value, "value": plain(value)}


def _object(data: Any, where: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationFailed(f"{where} must be an object", field=where)
    unknown = sorted(str(k) for k in data if k not in keys)
    if unknown:
        raise ValidationFailed(
            f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(sorted(keys))}", field=where
        )
    return data


def _list(data: Any, where: str, most: int) -> list[Any]:
    if not isinstance(data, list):
        raise ValidationFailed(f"{where} must be a list", field=where)
    if len(data) > most:
        raise ValidationFailed(f"{where} takes at most {most} entries", field=where)
    return data


def _scalar(value: Any, name: str) -> Any:
    if value is None or isinstance(value, (bool, int)):
        if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
            raise ValidationFailed(f"value {value} of {name!r} is out of range", field=name)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationFailed(f"value of {name!r} must be a finite number", field=name)
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT or "\x00" in value:
            raise ValidationFailed(f"a value of {name!r} is too long or holds NUL", field=name)
        return value
    raise ValidationFailed(f"a value of {name!r} must be text, a number, true/false or null", field=name)


def _expr_from_dict(data: Any, depth: int, budget: list[int]) -> Expr:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValidationFailed(f"a query holds at most {MAX_CONDITIONS} conditions", field="where")
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"conditions nest at most {MAX_DEPTH} deep", field="where")
    if isinstance(data, Mapping) and len(data) == 1 and ("any" in data or "all" in data):
        kind = "any" if "any" in data else "all"
        items = _list(data[kind], kind, MAX_CONDITIONS)
        conds = tuple(_expr_from_dict(c, depth + 1, budget) for c in items)
        return AnyOf(conds) if kind == "any" else AllOf(conds)
    obj = _object(data, "condition", {"field", "op", "value"})
    name = obj.get("field")
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        raise ValidationFailed(f"a condition needs a field name, not {name!r}", field="field")
    try:
        op = Op(str(obj.get("op")))
    except ValueError:
        allowed = ", ".join(o.value for o in Op)
        raise ValidationFailed(
            f"unknown operator {obj.get('op')!r}; allowed: {allowed}", field=name
        ) from None
    value = obj.get("value")
    if op in _LIST_OPS or op is Op.BETWEEN:
        values = _list(value, name, MAX_VALUES)
        if op is Op.BETWEEN and len(values) != 2:
            raise ValidationFailed(f"between on {name!r} takes [low, high]", field=name)
        return Cond(name, op, tuple(_scalar(v, name) for v in values))
    if op is Op.IS_NULL and not isinstance(value, bool):
        raise ValidationFailed(f"is_null on {name!r} takes true or false", field=name)
    if value is None and op is not Op.IS_NULL:
        raise ValidationFailed(f"{op.value} on {name!r} needs a value (is_null tests for null)", field=name)
    return Cond(name, op, _scalar(value, name))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int = field(default=0)


Fields = Mapping[str, Any]  # public name -> column


INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _python_type(column: ColumnElement[Any]) -> type | None:
    """The column's Python type; a TypeDecorator reports ``object``, so ask its impl."""
    types = [column.type, getattr(column.type, "impl", None)]
    for t in types:
        try:
            py = t.python_type if t is not None else None
        except NotImplementedError:
            continue
        if py is not None and py is not object:
            return py
    return None


def _coerce(column: ColumnElement[Any], value: Any, name: str) -> Any:
    if value is None:
        return None
    py = _python_type(column)
    if py is None:
        return value
    if isinstance(value, py) and not (py is int and isinstance(value, bool)):
        return value
    try:
        if py is bool:
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError(value)
        if py is datetime:
            if not isinstance(value, str):
                raise ValueError(value)  # a number or true/false is no time
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed
        if py is int:
            number = int(value)
            if not INT_MIN <= number <= INT_MAX:
                raise ValueError(value)  # no column holds it; SQLite would overflow
            return number
        if py in (float, str):
            return py(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"invalid value {value!r} for field {name!r}", field=name) from exc
    return value


_STARS = re.compile(r"\*+")


def _glob_to_like(value: str) -> str:
    """``*`` becomes ``%``; a run of stars becomes one ``%`` (the same pattern, and the
    database's LIKE never sees thousands of wildcards in a row)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _STARS.sub("%", escaped)


def to_sql(expr: Expr, fields: Fields) -> ColumnElement[bool]:
    if isinstance(expr, AnyOf):
        return or_(false(), *(to_sql(c, fields) for c in expr.conds))
    if isinstance(expr, AllOf):
        return and_(*(to_sql(c, fields) for c in expr.conds))
    col: Any = fields.get(expr.field)
    if col is None:
        raise ValidationFailed(
            f"unknown filter field {expr.field!r}; allowed: {', '.join(sorted(fields))}", field=expr.field
        )
    op = expr.op
    if isinstance(col, Many):
        return _many_to_sql(col, expr)
    if isinstance(col, Derived):
        return col.build(expr)
    if op is Op.CONTAINS:
        raise ValidationFailed(f"field {expr.field!r} is not a list: contains needs one", field=expr.field)
    if op is Op.IS_NULL:
        null: ColumnElement[bool] = (
            col.is_(None) if expr.value in (True, None, "true", "1") else col.is_not(None)
        )
        return null
    if op is Op.IN:
        values = expr.value if isinstance(expr.value, (list, tuple, set)) else [expr.value]
        in_: ColumnElement[bool] = col.in_([_coerce(col, v, expr.field) for v in values])
        return in_
    if op is Op.BETWEEN:
        if not isinstance(expr.value, (list, tuple)) or len(expr.value) != 2:
            raise ValidationFailed(f"between on {expr.field!r} takes [low, high]", field=expr.field)
        low, high = (_coerce(col, v, expr.field) for v in expr.value)
        between: ColumnElement[bool] = col.between(low, high)
        return between
    if op in (Op.LIKE, Op.IEQ, Op.IIN):
        if _python_type(col) is not str:
            raise ValidationFailed(
                f"field {expr.field!r} is not text: {op.value} and * need text", field=expr.field
            )
        text: ColumnElement[bool]
        if op is Op.LIKE:
            text = col.ilike(_glob_to_like(str(expr.value)), escape="\\")
        elif op is Op.IEQ:
            text = func.lower(col) == str(expr.value).lower()
        else:
            values = expr.value if isinstance(expr.value, (list, tuple, set)) else [expr.value]
            text = func.lower(col).in_(sorted({str(v).lower() for v in values}))
        return text
    value = _coerce(col, expr.value, expr.field)
    result: ColumnElement[bool] = {
        Op.EQ: lambda: col == value,
        Op.NE: lambda: col != value,
        Op.LT: lambda: col < value,
        Op.LE: lambda: col <= value,
        Op.GT: lambda: col > value,
        Op.GE: lambda: col >= value,
    }[op]()
    return result


# text matching on a list: true when some element matches (``eq``/``in`` stay errors: on a list
# they read as "the list equals", which no subquery here answers; ``contains`` is exact)
_ANY_ELEMENT = {Op.IEQ, Op.IIN, Op.LIKE}


def _many_to_sql(many: Many, expr: Cond) -> ColumnElement[bool]:
    members = select(many.owner)
    if many.where is not None:
        members = members.where(many.where)
    if expr.op is Op.IS_NULL:
        empty = expr.value in (True, None, "true", "1")
        clause: ColumnElement[bool] = many.key.not_in(members) if empty else many.key.in_(members)
        return clause
    if expr.op in _ANY_ELEMENT:  # some element matches, by the element column's own rules
        element = to_sql(Cond(expr.field, expr.op, expr.value), {expr.field: many.value})
        any_of: ColumnElement[bool] = many.key.in_(members.where(element))
        return any_of
    if expr.op is not Op.CONTAINS:
        raise ValidationFailed(
            f"field {expr.field!r} is a list: only contains, is_null, ieq, iin and like apply",
            field=expr.field,
        )
    value = _coerce(many.value, expr.value, expr.field)
    contains: ColumnElement[bool] = many.key.in_(members.where(many.value == value))
    return contains


def apply_query(
    stmt: Select[Any],
    count_stmt: Select[Any] | None,
    query: Query,
    fields: Fields,
    *,
    default_sort: str = "id",
    sort_fields: Fields | None = None,
) -> tuple[Select[Any], Select[Any] | None]:
    """Add WHERE, ORDER BY and LIMIT/OFFSET; the count statement gets only the WHERE."""
    for expr in query.where:
        clause = to_sql(expr, fields)
        stmt = stmt.where(clause)
        if count_stmt is not None:
            count_stmt = count_stmt.where(clause)
    sortable = sort_fields or fields
    keys: Sequence[SortKey] = query.sort or (SortKey.parse(default_sort),)
    for key in keys:
        col = sortable.get(key.field)
        if col is None or isinstance(col, (Many, Derived)):
            raise ValidationFailed(
                f"unknown sort field {key.field!r}; allowed: {', '.join(sorted(sortable))}", field="sort"
            )
        stmt = stmt.order_by(col.desc() if key.descending else col.asc())
    if "id" in sortable and all(k.field != "id" for k in keys):
        stmt = stmt.order_by(sortable["id"].asc())  # stable pages
    if query.limit is not None:
        if query.limit < 0 or query.limit > MAX_LIMIT:
            raise ValidationFailed(f"limit must be between 0 and {MAX_LIMIT}", field="limit")
        stmt = stmt.limit(query.limit)
    if query.offset < 0:
        raise ValidationFailed("offset must not be negative", field="offset")
    if query.offset:
        stmt = stmt.offset(query.offset)
    return stmt, count_stmt


__all__ = [
    "AllOf",
    "AnyOf",
    "Cond",
    "Derived",
    "Expr",
    "Many",
    "Op",
    "Page",
    "Query",
    "SortKey",
    "apply_query",
    "to_sql",
]
