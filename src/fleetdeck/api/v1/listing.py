"""The list query syntax of /api/v1 (the kit's ``listing`` with /api/v1's spelling).

    filter[<field>]=value            equals; a value with ``*`` is a glob (like),
                                     a comma-separated value is a set (in)
    filter[<field>][<op>]=value      op: eq ne lt le gt ge like in is_null
                                     ieq iin between contains
    filter[<a>|<b>]=value            matches in either field
    sort=field,-other                ascending, ``-`` for descending
    page[limit]=100&page[offset]=0   limit 0-1000 (default 100)

Field names are checked by the core service (unknown ones are a 422); values are converted to
the field's type there as well. No SQL is built here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi import Query as QueryParam

from fleetdeck.api.kit import listing
from fleetdeck.api.kit.listing import ListRules, ListSyntax
from fleetdeck.api.v1.schemas.common import MAX_ID
from fleetdeck.core import query as q

SYNTAX = """
**Filtering, sorting and paging**

* `filter[<field>]=value`: equals. A value containing `*` is a case-insensitive glob
  (`filter[hostname]=web*`); a comma-separated value matches any of the values
  (`filter[status]=queued,sent`).
* `filter[<a>|<b>]=value`: the value matches in either field (`filter[hostname|fqdn]=web*`).
* `filter[<field>][<op>]=value` with `<op>` one of `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `like`,
  `in` (comma-separated values) and `is_null` (`true` or `false`). Times are ISO 8601
  (`filter[created_at][gt]=2024-01-01T00:00:00Z`). Several filters must all match.
* Also: `ieq` (text equal ignoring case: `filter[hostname][ieq]=WEB-01`), `iin` (any of
  comma-separated texts, ignoring case: `filter[hostname][iin]=web-01,DB-01`), `between`
  (`low,high`, both included: `filter[id][between]=10,20`,
  `filter[created_at][between]=2024-01-01T00:00:00Z,2024-02-01T00:00:00Z`) and `contains`
  (a list-valued field holds the value: `filter[group_ids][contains]=3` on computers).
  `ieq`, `iin` and `like` apply to text fields only, `contains` to list-valued ones only.
* `sort=field,-other`: sort keys, `-` for descending.
* `page[limit]` (default 100, at most 1000) and `page[offset]` (default 0).
  `meta.count` is the number of matches before paging.

An unknown field or operator, or a value of the wrong type, is a 422.
"""

# every operator of core's query language: ``between`` and ``iin`` take comma-separated
# values (the kit splits them), the others one value
_V1_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "like", "in", "is_null", "ieq", "iin", "between", "contains")
SYNTAX_V1 = ListSyntax(ops={name: q.Op(name) for name in _V1_OPS}, or_across_fields=True)
_OWN = {"sort", "page[limit]", "page[offset]"}  # typed FastAPI parameters, for the OpenAPI document


def parse(params: list[tuple[str, str]], sort: str | None, limit: int, offset: int) -> q.Query:
    filters = [(name, value) for name, value in params if name not in _OWN]
    request = listing.parse([*filters, ("sort", sort or "")], ListRules(), SYNTAX_V1)
    return q.Query(where=request.query.where, sort=request.query.sort, limit=limit, offset=offset)


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
