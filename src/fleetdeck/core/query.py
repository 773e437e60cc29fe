"""The one query language. Every transport's filter syntax is translated into a ``Query``;
it becomes SQL here and nowhere else.

A ``Query`` is a conjunction of conditions (an ``AnyOf`` inside it is a disjunction), a sort
order and a page window. Field names are the service's public names; each service passes a
mapping from those names to columns, so unknown fields are rejected with a clear error
instead of reaching the database.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_

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
        if py is datetime and isinstance(value, str):
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
    if op is Op.IS_NULL:
        null: ColumnElement[bool] = (
            col.is_(None) if expr.value in (True, None, "true", "1") else col.is_not(None)
        )
        return null
    if op is Op.IN:
        values = expr.value if isinstance(expr.value, (list, tuple, set)) else [expr.value]
        in_: ColumnElement[bool] = col.in_([_coerce(col, v, expr.field) for v in values])
        return in_
    if op is Op.LIKE:
        if _python_type(col) is not str:
            raise ValidationFailed(
                f"field {expr.field!r} is not text: like and * need text", field=expr.field
            )
        like: ColumnElement[bool] = col.ilike(_glob_to_like(str(expr.value)), escape="\\")
        return like
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
        if col is None:
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


__all__ = ["AllOf", "AnyOf", "Cond", "Expr", "Op", "Page", "Query", "SortKey", "apply_query", "to_sql"]
