"""The list query syntax of /api/v1, translated into ``fleetdeck.core.query.Query``.

    filter[<field>]=value            equals; a value with ``*`` is a glob (like),
                                     a comma-separated value is a set (in)
    filter[<field>][<op>]=value      op: eq ne lt le gt ge like in is_null
    sort=field,-other                ascending, ``-`` for descending
    page[limit]=100&page[offset]=0   limit 0-1000 (default 100)

Field names are checked by the core service (unknown ones are a 422); values are converted to
the field's type there as well. No SQL is built here.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Query as QueryParam

from fleetdeck.api.v1.schemas.common import MAX_ID
from fleetdeck.core import query as q
from fleetdeck.core.errors import ValidationFailed

SYNTAX = """
**Filtering, sorting and paging**

* `filter[<field>]=value`: equals. A value containing `*` is a case-insensitive glob
  (`filter[hostname]=web*`); a comma-separated value matches any of the values
  (`filter[status]=queued,sent`).
* `filter[<field>][<op>]=value` with `<op>` one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `like`,
  `in` (comma-separated values) and `is_null` (`true` or `false`). Times are ISO 8601
  (`filter[created_at][gt]=2024-01-01T00:00:00Z`). Several filters must all match.
* `sort=field,-other`: sort keys, `-` for descending.
* `page[limit]` (default 100, at most 1000) and `page[offset]` (default 0).
  `meta.count` is the number of matches before paging.

An unknown field or operator, or a value of the wrong type, is a 422.
"""

_FILTER = re.compile(r"^filter\[([A-Za-z_][A-Za-z0-9_]*)\](?:\[([A-Za-z_]+)\])?$")
_OWN = {"sort", "page[limit]", "page[offset]"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _condition(name: str, field: str, op_name: str | None, value: str) -> q.Cond:
    if "\x00" in value:
        raise ValidationFailed("filter values must not contain NUL characters", field=name)
    if op_name is None:
        if "," in value:
            return q.Cond(field, q.Op.IN, value.split(","))
        if "*" in value:
            return q.Cond(field, q.Op.LIKE, value)
        return q.Cond(field, q.Op.EQ, value)
    try:
        op = q.Op(op_name.lower())
    except ValueError:
        raise ValidationFailed(
            f"unknown filter operator {op_name!r}; allowed: {', '.join(o.value for o in q.Op)}", field=name
        ) from None
    if op is q.Op.IN:
        return q.Cond(field, op, value.split(","))
    if op is q.Op.IS_NULL:
        if value.lower() not in _TRUE | _FALSE:
            raise ValidationFailed("is_null takes true or false", field=name)
        return q.Cond(field, op, value.lower() in _TRUE)
    return q.Cond(field, op, value)


def parse(params: list[tuple[str, str]], sort: str | None, limit: int, offset: int) -> q.Query:
    where: list[q.Expr] = []
    for name, value in params:
        if name in _OWN:
            continue
        match = _FILTER.match(name)
        if match is None:
            raise ValidationFailed(f"unknown query parameter {name!r}", field=name)
        where.append(_condition(name, match.group(1), match.group(2), value))
    keys = tuple(q.SortKey.parse(k) for k in (sort or "").split(",") if k.strip())
    return q.Query(where=tuple(where), sort=keys, limit=limit, offset=offset)


def list_query(
    request: Request,
    sort: Annotated[
        str | None,
        QueryParam(
            description="Comma-separated sort keys; `-` prefix for descending.",
            examples=["-last_seen,hostname"],
            max_length=1000,
        ),
    ] = None,
    limit: Annotated[
        int, QueryParam(alias="page[limit]", ge=0, le=q.MAX_LIMIT, description="Page size.")
    ] = q.DEFAULT_LIMIT,
    offset: Annotated[
        int, QueryParam(alias="page[offset]", ge=0, le=MAX_ID, description="Items to skip.")
    ] = 0,
) -> q.Query:
    return parse(list(request.query_params.multi_items()), sort, limit, offset)


ListQuery = Annotated[q.Query, Depends(list_query)]
