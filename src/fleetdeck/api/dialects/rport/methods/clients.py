"""rportd's clients (read only, without tunnels) as a view of core's computers.

A client's ``id`` is the computer's uid; the fields rportd reports from its agent come from the
inventory core holds (``ComputerService.find_detailed``: one count and one select, whatever the
page size). What core has no notion of (tags, labels, tunnels, virtualization, client auth ids,
user groups) is empty. rportd matches text case-insensitively; its ``connection_state`` is
core's ``online``. An end user sees only the computers assigned to them: core adds the scope.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import CLIENT_FIELDS, CLIENTS, SYNTAX
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.computers.entities import ComputerRow

CONNECTED = "connected"
DISCONNECTED = "disconnected"
_TEXT = {q.Op.EQ: q.Op.IEQ, q.Op.IN: q.Op.IIN}


def _translate(expr: q.Expr) -> q.Expr:
    """A condition on rportd's client fields as one on core's computer fields."""
    return listing.map_conds(expr, _translate_cond)


def _translate_cond(expr: q.Cond) -> q.Expr:
    target = CLIENT_FIELDS[expr.field]
    if target == "online":
        wanted = expr.value if isinstance(expr.value, list) else [expr.value]
        states = {str(v).lower() for v in wanted}
        if not states <= {CONNECTED, DISCONNECTED}:
            raise RportError(400, f"invalid connection_state {expr.value!r}: connected or disconnected")
        if len(states) == 2:
            return q.Cond("online", q.Op.IN, [True, False])
        return q.Cond("online", q.Op.EQ, CONNECTED in states)
    if target == "cpu_cores":
        return q.Cond(target, expr.op, expr.value)
    return q.Cond(target, _TEXT.get(expr.op, expr.op), expr.value)


def client(row: ComputerRow) -> dict[str, Any]:
    """Every field of rportd's Client schema for one computer."""
    online = bool(row.online)
    return {
        "id": row.uid,
        "name": row.hostname,
        "os": " ".join(p for p in (row.os, row.kernel) if p),
        "os_full_name": " ".join(p for p in (row.os, row.os_version) if p),
        "os_version": row.os_version,
        "os_arch": row.architecture,
        "os_family": row.os_family,
        "os_kernel": row.kernel,
        "os_virtualization_system": "",
        "os_virtualization_role": "",
        "hostname": row.fqdn or row.hostname,
        "cpu_family": "",
        "cpu_model": row.cpu_model,
        "cpu_vendor": "",
        "cpu_model_name": row.cpu_model,
        "num_cpus": row.cpu_cores,
        "mem_total": row.ram_bytes,
        "timezone": row.timezone,
        "ipv4": [],
        "ipv6": [],
        "tags": [],
        "labels": {},
        "version": row.agent_version,
        "address": row.remote_address,
        "tunnels": [],
        "connection_state": CONNECTED if online else DISCONNECTED,
        "disconnected_at": None if online else render.time(row.last_seen),
        "last_heartbeat_at": render.time(row.last_seen),
        "client_auth_id": "",
        "allowed_user_groups": [],
        "groups": [],
    }


def _pick(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in fields}


@route("GET", "/clients")
def clients(ctx: Context) -> Response:
    request = listing.parse(ctx.params, CLIENTS, SYNTAX)
    query = request.query
    sort = tuple(q.SortKey(CLIENT_FIELDS[k.field], k.descending) for k in query.sort)
    page = ctx.services.computers.find_detailed(
        ctx.me,
        q.Query(
            where=tuple(_translate(e) for e in query.where),
            sort=(*sort, q.SortKey("id")),  # a stable order across pages
            limit=query.limit,
            offset=query.offset,
        ),
    )
    fields = request.fields["clients"]
    return render.ok([_pick(client(row), fields) for row in page.items], meta={"count": page.total})


@route("GET", "/clients/{client_id}")
def client_get(ctx: Context) -> Response:
    """One client, every field; 404 for an unknown id and for a computer the caller may not see."""
    client_id = str(ctx.path_params["client_id"])
    page = ctx.services.computers.find_detailed(
        ctx.me, q.Query(where=(q.Cond("uid", q.Op.EQ, client_id),), limit=1)
    )
    if not page.items:
        raise RportError(404, f"client with id {client_id!r} not found")
    return render.ok(client(page.items[0]))
