"""rportd's time filters, shared by its SQL-backed lists (audit log, library): a value is RFC 3339
or a day; ``filter[t]=<day>`` (eq) is the whole day, ``until`` a day is up to its end."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.core import query as q


def when(raw: str, op: q.Op) -> datetime:
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            at = time.max if op in (q.Op.LE, q.Op.GT) else time.min
            return datetime.combine(day, at, UTC)
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RportError(400, f"invalid time value {raw!r}") from None


def time_condition(target: str, expr: q.Cond) -> q.Expr:
    """``expr`` on a time column as a condition on core's field ``target``."""
    value = expr.value
    if isinstance(value, list):
        return q.AnyOf(tuple(time_condition(target, q.Cond(expr.field, q.Op.EQ, v)) for v in value))
    if expr.op in (q.Op.EQ, q.Op.LIKE) and isinstance(value, str) and len(value) == 10:
        return q.AllOf(
            (q.Cond(target, q.Op.GE, when(value, q.Op.GE)), q.Cond(target, q.Op.LE, when(value, q.Op.LE)))
        )
    if expr.op not in (q.Op.EQ, q.Op.GT, q.Op.LT, q.Op.GE, q.Op.LE):
        raise RportError(400, f"invalid time value {value!r}")
    return q.Cond(target, expr.op, when(str(value), expr.op))
