"""rportd's monitoring routes (``/clients/{client_id}/metrics|graph-metrics|mountpoints|
processes``) over core's measurements (``core.monitoring``).

rportd's rules: sort only by ``timestamp`` (default ``-timestamp``); ``filter[timestamp][gt|lt]``
take unix seconds, ``[since|until]`` RFC 3339; page limits 1/120 (metrics), 1/100
(mountpoints), 1/10 (processes). Graphs take exactly two filters (gt+lt or since+until) over 2
to 48 hours, else 400; ``/graph-metrics`` answers cpu/memory/io with ``links`` to each graph.
Monitoring disabled or an unknown client (or one the caller may not reach): 404. Without the
``monitoring`` permission: 403. ``mountpoints`` and ``processes`` are rendered as JSON values
(rportd's ``types.JSONString`` marshals its raw text), mountpoints as rportd's client sends
them: ``{"free_b_<path>": n, "total_b_<path>": n}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import GRAPH, METRICS, MOUNTPOINTS, PROCESSES, SYNTAX
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.errors import FeatureDisabled, NotFound, PermissionDenied
from fleetdeck.core.monitoring.service import GRAPHS, GraphPoint, MeasurementInfo, Stat

NO_PERMISSION = 'user does not have "monitoring" permission'
MAX_UNIX = 253402300799  # 9999-12-31T23:59:59Z
_RATE_NAMES = ("in", "out")


def _client_id(ctx: Context) -> str:
    return str(ctx.path_params["client_id"])


def _unix(raw: Any, op: q.Op) -> int:
    text = str(raw).strip()
    if op in (q.Op.GT, q.Op.LT):
        if not text.isascii() or not text.lstrip("-").isdigit() or abs(int(text)) > MAX_UNIX:
            raise RportError(400, f"invalid timestamp {text!r}: unix seconds expected")
        return int(text)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RportError(400, f"invalid timestamp {text!r}: RFC3339 expected") from None
    if at.tzinfo is None:
        raise RportError(400, f"invalid timestamp {text!r}: RFC3339 with a time zone expected")
    return int(at.timestamp())


def _timestamp(expr: q.Expr) -> q.Cond:
    if not isinstance(expr, q.Cond) or expr.op not in (q.Op.GT, q.Op.LT, q.Op.GE, q.Op.LE):
        raise RportError(400, "filter[timestamp] needs an operator: gt, lt, since or until")
    return q.Cond("taken_at", expr.op, _unix(expr.value, expr.op))


def _sort(query: q.Query) -> tuple[q.SortKey, ...]:
    return tuple(q.SortKey("taken_at", k.descending) for k in query.sort)


def _call(ctx: Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Core's refusals in rportd's words."""
    try:
        return fn(*args, **kwargs)
    except FeatureDisabled:
        raise RportError(404, "monitoring disabled") from None
    except NotFound:
        raise RportError(404, f"client with id {_client_id(ctx)!r} not found") from None
    except PermissionDenied:
        raise RportError(403, NO_PERMISSION) from None


def _list(ctx: Context, rules: listing.ListRules) -> tuple[list[MeasurementInfo], int, listing.ListRequest]:
    request = listing.parse(ctx.params, rules, SYNTAX)
    query = request.query
    core_query = q.Query(
        where=tuple(_timestamp(e) for e in query.where),
        sort=_sort(query),
        limit=query.limit,
        offset=query.offset,
    )
    page = _call(ctx, ctx.services.monitoring.find, ctx.me, _client_id(ctx), core_query)
    return page.items, page.total, request


def _time(at: int) -> str | None:
    return render.time(datetime.fromtimestamp(at, UTC))


def mountpoints(info: MeasurementInfo) -> dict[str, int]:
    out: dict[str, int] = {}
    for path, sizes in info.mountpoints.items():
        out[f"free_b_{path}"] = int(sizes.get("free_bytes", 0))
        out[f"total_b_{path}"] = int(sizes.get("total_bytes", 0))
    return out


def _metric(info: MeasurementInfo) -> dict[str, Any]:
    return {
        "timestamp": _time(info.taken_at),
        "cpu_usage_percent": info.cpu_usage_percent,
        "memory_usage_percent": info.memory_usage_percent,
        "io_usage_percent": info.io_usage_percent or 0.0,
        "net_lan": _net(info.net_lan_in, info.net_lan_out),
        "net_wan": _net(info.net_wan_in, info.net_wan_out),
    }


def _net(rx: float | None, tx: float | None) -> dict[str, float] | None:
    if rx is None and tx is None:
        return None
    return {"in": rx or 0.0, "out": tx or 0.0}


@route("GET", "/clients/{client_id}/metrics")
def metrics(ctx: Context) -> Response:
    items, total, request = _list(ctx, METRICS)
    fields = request.fields["metrics"]
    return render.ok([{f: _metric(i)[f] for f in fields} for i in items], meta={"count": total})


@route("GET", "/clients/{client_id}/mountpoints")
def mountpoints_list(ctx: Context) -> Response:
    items, total, _ = _list(ctx, MOUNTPOINTS)
    data = [{"timestamp": _time(i.taken_at), "mountpoints": mountpoints(i)} for i in items]
    return render.ok(data, meta={"count": total})


@route("GET", "/clients/{client_id}/processes")
def processes_list(ctx: Context) -> Response:
    items, total, _ = _list(ctx, PROCESSES)
    data = [{"timestamp": _time(i.taken_at), "processes": i.processes} for i in items]
    return render.ok(data, meta={"count": total})


def _window(ctx: Context) -> tuple[int, int, bool]:
    """(since, until, newest first) from exactly two filters: gt+lt or since+until."""
    request = listing.parse(ctx.params, GRAPH, SYNTAX)
    conds = [_timestamp(e) for e in request.query.where]
    ops = {c.op for c in conds}
    if len(conds) != 2 or ops not in ({q.Op.GT, q.Op.LT}, {q.Op.GE, q.Op.LE}):
        raise RportError(
            400,
            "exactly two timestamp filters are required: filter[timestamp][gt] and [lt],"
            " or filter[timestamp][since] and [until]",
        )
    lower = next(int(c.value) for c in conds if c.op in (q.Op.GT, q.Op.GE))
    upper = next(int(c.value) for c in conds if c.op in (q.Op.LT, q.Op.LE))
    sort = request.query.sort
    return lower, upper, not sort or sort[0].descending


def _stat(stat: Stat) -> dict[str, float]:
    """rportd's values are never null (its columns are not): a bucket without the value is 0."""
    return {"avg": stat.avg or 0.0, "min": stat.min or 0.0, "max": stat.max or 0.0}


def _graph(ctx: Context, names: tuple[str, ...]) -> list[GraphPoint]:
    since, until, descending = _window(ctx)
    points: list[GraphPoint] = _call(
        ctx,
        ctx.services.monitoring.graph,
        ctx.me,
        _client_id(ctx),
        since,
        until,
        names,
        descending=descending,
    )
    return points


@route("GET", "/clients/{client_id}/graph-metrics")
def graph_metrics(ctx: Context) -> Response:
    names = ("cpu_usage_percent", "memory_usage_percent", "io_usage_percent")
    data = [
        {"timestamp": _time(p.timestamp), **{n: _stat(p.values[n]) for n in names}}
        for p in _graph(ctx, names)
    ]
    base = f"{ctx.prefix}/clients/{quote(_client_id(ctx), safe='')}/graph-metrics/"
    query = ctx.request.url.query
    links = {graph: base + graph + (f"?{query}" if query else "") for graph in GRAPHS}
    return render.bare({"data": data, "links": links})


@route("GET", "/clients/{client_id}/graph-metrics/{graph_name}")
def graph_metric(ctx: Context) -> Response:
    graph = str(ctx.path_params["graph_name"])
    names = GRAPHS.get(graph)
    if names is None:
        raise RportError(400, f"unsupported graph name {graph!r}; one of {', '.join(GRAPHS)}")
    points = _graph(ctx, names)
    if len(names) == 1:
        key = "memory_usage_percent" if graph == "mem_usage_percent" else graph
        data = [{"timestamp": _time(p.timestamp), key: _stat(p.values[names[0]])} for p in points]
    else:
        data = [{"timestamp": _time(p.timestamp), graph: _inout(p, names)} for p in points]
    return render.ok(data)


def _inout(point: GraphPoint, names: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for direction, name in zip(_RATE_NAMES, names, strict=True):
        out |= {f"{direction}_{k}": v for k, v in _stat(point.values[name]).items()}
    return out
