"""rportd's stored tunnels (``/clients/{client_id}/stored-tunnels``) over core's presets
(``core/tunnels/stored.py``).

rportd's answers: the list with its page/sort/filter rules (10 a page, 100 at most; sort and
filter on ``name``, ``scheme``, ``remote_ip``, ``remote_port``, sort on ``created_at`` too; one
reach check, one count and one select whatever the page), ``POST`` 201 with the preset, ``PUT``
a whole replacement 200 with the preset, ``DELETE`` 204; a name the client's presets already
have 409, an unknown id 404. Every route needs rportd's ``tunnels`` permission (core's
remote-access permission) and the client within the caller's reach (404 otherwise).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import STORED_TUNNELS, SYNTAX, StoredTunnelBody
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.errors import NotFound
from fleetdeck.core.tunnels.stored import StoredTunnelInfo, StoredTunnelInput

_TEXT_OPS = {q.Op.EQ: q.Op.IEQ, q.Op.IN: q.Op.IIN}


def stored_tunnel(info: StoredTunnelInfo) -> dict[str, Any]:
    """rportd's StoredTunnel object."""
    return {
        "id": info.id,
        "created_at": render.time(info.created_at),
        "name": info.name,
        "scheme": info.scheme,
        "remote_ip": info.remote_ip,
        "remote_port": info.remote_port,
        "public_port": info.public_port,
        "acl": ",".join(info.acl),
        "further_options": info.further_options,
    }


def _require(ctx: Context) -> None:
    if not ctx.me.can(render.PERMISSIONS["tunnels"]):
        raise RportError(403, 'user does not have "tunnels" permission')


def _translate(expr: q.Expr) -> q.Expr:
    if isinstance(expr, q.AnyOf):
        return q.AnyOf(tuple(_translate(c) for c in expr.conds))
    if isinstance(expr, q.AllOf):
        return q.AllOf(tuple(_translate(c) for c in expr.conds))
    if expr.field == "remote_port":
        return expr
    return q.Cond(expr.field, _TEXT_OPS.get(expr.op, expr.op), expr.value)


def _client(ctx: Context) -> str:
    return str(ctx.path_params["client_id"])


def _call_missing(ctx: Context, exc: NotFound) -> RportError:
    if exc.object_type == "computer":
        return RportError(404, f"Active client with id={_client(ctx)!r} not found.")
    return RportError(404, "cannot find stored tunnel by the provided id")


def _input(ctx: Context) -> StoredTunnelInput:
    body = ctx.decode(StoredTunnelBody)
    if body.remote_port is None:
        raise RportError(400, "remote_port is required", "remote_port")
    if not isinstance(body.further_options, dict):
        raise RportError(400, "further_options must be an object", "further_options")
    return StoredTunnelInput(
        name=body.name,
        remote_ip=body.remote_ip,
        remote_port=body.remote_port,
        public_port=body.public_port,
        scheme=body.scheme,
        acl=tuple((body.acl or "").split(",")),
        further_options=body.further_options,
    )


@route("GET", "/clients/{client_id}/stored-tunnels")
def stored_tunnels_list(ctx: Context) -> Response:
    _require(ctx)
    query = listing.parse(ctx.params, STORED_TUNNELS, SYNTAX).query
    try:
        page = ctx.services.stored_tunnels.find(
            ctx.me,
            _client(ctx),
            q.Query(
                where=tuple(_translate(e) for e in query.where),
                sort=(*query.sort, q.SortKey("id")),  # a stable order across pages
                limit=query.limit,
                offset=query.offset,
            ),
        )
    except NotFound as exc:
        raise _call_missing(ctx, exc) from None
    return render.ok([stored_tunnel(i) for i in page.items], meta={"count": page.total})


@route("POST", "/clients/{client_id}/stored-tunnels")
def stored_tunnels_create(ctx: Context) -> Response:
    _require(ctx)
    data = _input(ctx)
    try:
        info = ctx.services.stored_tunnels.save(ctx.me, _client(ctx), data)
    except NotFound as exc:
        raise _call_missing(ctx, exc) from None
    return render.ok(stored_tunnel(info), 201)


@route("PUT", "/clients/{client_id}/stored-tunnels/{id}")
def stored_tunnels_update(ctx: Context) -> Response:
    _require(ctx)
    data = _input(ctx)
    try:
        info = ctx.services.stored_tunnels.save(ctx.me, _client(ctx), data, str(ctx.path_params["id"]))
    except NotFound as exc:
        raise _call_missing(ctx, exc) from None
    return render.ok(stored_tunnel(info))


@route("DELETE", "/clients/{client_id}/stored-tunnels/{id}")
def stored_tunnels_delete(ctx: Context) -> Response:
    _require(ctx)
    try:
        ctx.services.stored_tunnels.delete(ctx.me, _client(ctx), str(ctx.path_params["id"]))
    except NotFound as exc:
        raise _call_missing(ctx, exc) from None
    return render.empty(204)
