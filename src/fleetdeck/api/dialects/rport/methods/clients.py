"""rportd's clients as a view of core's computers.

A client's ``id`` is the computer's uid; the fields rportd reports from its agent come from the
inventory core holds, with the tags and labels people gave it, the user groups allowed to reach
it and the rule groups it is in (``ComputerAttributeService.find_described``: a constant number
of statements, whatever the page size). ``tunnels`` are the client's open tunnels in rportd's
Tunnel shape (``methods.tunnels.tunnel``), read in one more statement for the whole page and
only when the field is asked for; for a caller without rportd's ``tunnels`` permission (core's
remote access) the list is empty. What core has no notion of (virtualization) is empty. rportd
matches text case-insensitively; its ``connection_state`` is core's ``online``. Who sees what,
core decides: an end user only the computers assigned to them, a non-admin in user groups only
the clients their groups may reach (client groups and per-client ACLs).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.methods.tunnels import tunnel
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import (
    CLIENT_FIELDS,
    CLIENT_TAGS,
    CLIENTS,
    SYNTAX,
    ClientAclBody,
    ClientAttributesBody,
)
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.computers.attributes import Described
from fleetdeck.core.enrollment.agent_secrets import credential_of
from fleetdeck.core.errors import AgentUnreachable, Conflict, NotFound
from fleetdeck.core.tunnels.service import TunnelInfo

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


def client(described: Described, tunnels: list[TunnelInfo] | None = None) -> dict[str, Any]:
    """Every field of rportd's Client schema for one computer (``tunnels``: its open ones)."""
    row = described.row
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
        "tags": list(described.attributes.tags),
        "labels": dict(described.attributes.labels),
        "version": row.agent_version,
        "address": row.remote_address,
        "tunnels": [tunnel(info) for info in tunnels or ()],
        "connection_state": CONNECTED if online else DISCONNECTED,
        "disconnected_at": None if online else render.time(row.last_seen),
        "last_heartbeat_at": render.time(row.last_seen),
        "client_auth_id": credential_of(row.created_by),
        "allowed_user_groups": list(described.attributes.access),
        "groups": list(described.groups),
        "updates_status": json.loads(row.updates_status) if row.updates_status else None,
    }


def _pick(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in fields}


@route("GET", "/clients")
def clients(ctx: Context) -> Response:
    request = listing.parse(ctx.params, CLIENTS, SYNTAX)
    query = request.query
    sort = tuple(q.SortKey(CLIENT_FIELDS[k.field], k.descending) for k in query.sort)
    page = ctx.services.attributes.find_described(
        ctx.me,
        q.Query(
            where=tuple(_translate(e) for e in query.where),
            sort=(*sort, q.SortKey("id")),  # a stable order across pages
            limit=query.limit,
            offset=query.offset,
        ),
    )
    fields = request.fields["clients"]
    tunnels = _tunnels(ctx, [row.row.id for row in page.items]) if "tunnels" in fields else {}
    return render.ok(
        [_pick(client(row, tunnels.get(row.row.id)), fields) for row in page.items],
        meta={"count": page.total},
    )


def _tunnels(ctx: Context, computer_ids: list[int]) -> dict[int, list[TunnelInfo]]:
    return ctx.services.tunnels.of_computers(ctx.me, computer_ids)


@route("GET", "/clients/{client_id}")
def client_get(ctx: Context) -> Response:
    """One client, every field; 404 for an unknown id and for a computer the caller may not see."""
    client_id = str(ctx.path_params["client_id"])
    page = ctx.services.attributes.find_described(
        ctx.me, q.Query(where=(q.Cond("uid", q.Op.EQ, client_id),), limit=1)
    )
    if not page.items:
        raise RportError(404, f"client with id {client_id!r} not found")
    found = page.items[0]
    return render.ok(client(found, _tunnels(ctx, [found.row.id]).get(found.row.id)))


def _client_id(ctx: Context) -> str:
    return str(ctx.path_params["client_id"])


@route("DELETE", "/clients/{client_id}")
def client_delete(ctx: Context) -> Response:
    """Forget a disconnected client (core's computer deletion: its permission, the caller's
    reach, the audit row). A connected one is refused as rportd does; unknown: 404."""
    try:
        ctx.services.computers.delete(ctx.me, _client_id(ctx), unless_online=True)
    except NotFound:
        raise RportError(404, f"client with id {_client_id(ctx)!r} not found") from None
    except Conflict:
        raise RportError(400, "client is active, should be disconnected") from None
    return render.empty(204)


@route("POST", "/clients/{client_id}/updates-status")
def updates_status_post(ctx: Context) -> Response:
    """Ask the connected client for its pending-updates summary now; core keeps it and
    ``updates_status`` shows it. Unknown, out of reach or disconnected: 404."""
    try:
        ctx.services.computers.refresh_updates_status(ctx.me, _client_id(ctx))
    except (NotFound, AgentUnreachable):
        raise RportError(404, f"Active client with id={_client_id(ctx)!r} not found.") from None
    return render.empty(204)


@route("GET", "/clients/{client_id}/attributes")
def attributes_get(ctx: Context) -> Response:
    """``{tags, labels}``: what fleetdeck keeps for the computer (every transport sees it)."""
    try:
        attrs = ctx.services.attributes.get(ctx.me, _client_id(ctx))
    except NotFound:
        raise RportError(404, f"Active client with id={_client_id(ctx)!r} not found.") from None
    return render.ok({"tags": list(attrs.tags), "labels": dict(attrs.labels)})


@route("PUT", "/clients/{client_id}/attributes")
def attributes_put(ctx: Context) -> Response:
    """Replace the tags and labels. rportd pushes them to the connected client's attributes
    file; fleetdeck keeps them itself, so disconnected clients take them too."""
    body = ctx.decode(ClientAttributesBody)
    try:
        ctx.services.attributes.put(ctx.me, _client_id(ctx), body.tags or [], body.labels or {})
    except NotFound:
        raise RportError(404, f"Active client with id={_client_id(ctx)!r} not found.") from None
    return render.ok("ok")


@route("POST", "/clients/{client_id}/acl", admin=True)
def acl_post(ctx: Context) -> Response:
    """The user groups allowed to reach this client (the whole list; empty: Administrators
    only, besides client groups' own). 404 for an unknown client or user group."""
    body = ctx.decode(ClientAclBody)
    try:
        ctx.services.attributes.allow(ctx.me, _client_id(ctx), body.allowed_user_groups or [])
    except NotFound as exc:
        raise RportError(404, exc.message) from None
    return render.empty(204)


@route("GET", "/client-tags")
def client_tags(ctx: Context) -> Response:
    """Every tag in use with the clients (the caller may reach) that carry it, sorted by tag."""
    request = listing.parse(ctx.params, CLIENT_TAGS, SYNTAX)
    page = ctx.services.attributes.tags(ctx.me, request.query.limit or 50, request.query.offset)
    fields = request.fields["client_tags"]
    rows = ({"tag": tag, "client_ids": list(uids)} for tag, uids in page.items)
    return render.ok([_pick(row, fields) for row in rows], meta={"count": page.total})
