"""rportd's client groups (``/client-groups``) over core's rule groups: a group is defined by
parameters on the clients' inventory (``*`` wildcards, AND across parameters, OR within one) and
its members are whatever matches when read, so they follow the inventory. ``client_ids`` lists
only the clients the caller may reach. Writes are for Administrators; reads for every user."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import (
    CLIENT_GROUP,
    CLIENT_GROUPS,
    GROUP_PARAMS,
    SYNTAX,
    ClientGroupBody,
)
from fleetdeck.api.kit import listing
from fleetdeck.core.errors import Conflict, NotFound
from fleetdeck.core.groups.rules import RuleGroupInfo

ALREADY_EXIST = "ERR_CODE_ALREADY_EXIST"
_PARAM_NAMES = {v: k for k, v in GROUP_PARAMS.items()}
_MEMBER_FIELDS = {"client_ids", "num_clients", "num_clients_connected"}


def _group(info: RuleGroupInfo) -> dict[str, Any]:
    return {
        "id": info.key,
        "description": info.description,
        "params": {_PARAM_NAMES.get(k, k): v for k, v in info.rules.items()},
        "allowed_user_groups": list(info.allowed_user_groups),
        "client_ids": [uid for uid, _ in info.members],
        "num_clients": len(info.members),
        "num_clients_connected": sum(1 for _, online in info.members if online),
    }


def _rules(body: ClientGroupBody) -> dict[str, Any]:
    given = msgspec.to_builtins(body.params) if body.params is not None else {}
    return {GROUP_PARAMS[k]: v for k, v in given.items() if v is not None}


def _save(ctx: Context, key: str, body: ClientGroupBody, *, replace: bool) -> None:
    call = ctx.services.rule_groups.put if replace else ctx.services.rule_groups.create
    try:
        call(ctx.me, key, body.description or "", _rules(body), body.allowed_user_groups or [])
    except Conflict as exc:
        raise RportError(409, f"client group with id {key!r} already exists", code=ALREADY_EXIST) from exc


@route("GET", "/client-groups")
def groups_list(ctx: Context) -> Response:
    """A page of groups: a count and a select, plus one statement for the members of the whole
    page when a member field is asked for."""
    request = listing.parse(ctx.params, CLIENT_GROUPS, SYNTAX)
    fields = request.fields["client_groups"]
    page = ctx.services.rule_groups.find(ctx.me, request.query, members=bool(_MEMBER_FIELDS & set(fields)))
    items = [{name: data[name] for name in fields} for data in map(_group, page.items)]
    return render.ok(items, meta={"count": page.total})


@route("POST", "/client-groups", admin=True)
def groups_create(ctx: Context) -> Response:
    body = ctx.decode(ClientGroupBody)
    if not body.id:
        raise RportError(400, "Missing 'id' field.")
    _save(ctx, body.id, body, replace=False)
    return render.empty(201)


@route("GET", "/client-groups/{group_id}")
def groups_get(ctx: Context) -> Response:
    request = listing.parse(ctx.params, CLIENT_GROUP, SYNTAX)
    key = str(ctx.path_params["group_id"])
    try:
        info = ctx.services.rule_groups.get(ctx.me, key)
    except NotFound:
        raise RportError(404, f"client group with id {key!r} not found") from None
    data = _group(info)
    return render.ok({name: data[name] for name in request.fields["client_groups"]})


@route("PUT", "/client-groups/{group_id}", admin=True)
def groups_put(ctx: Context) -> Response:
    """Create or replace; the body's ``id``, if given, must be the path's."""
    body = ctx.decode(ClientGroupBody)
    key = str(ctx.path_params["group_id"])
    if body.id is not None and body.id != key:
        raise RportError(400, f"'id' field ({body.id}) does not match the URL's group id ({key})")
    _save(ctx, key, body, replace=True)
    return render.empty(204)


@route("DELETE", "/client-groups/{group_id}", admin=True)
def groups_delete(ctx: Context) -> Response:
    key = str(ctx.path_params["group_id"])
    try:
        ctx.services.rule_groups.delete(ctx.me, key)
    except NotFound:
        raise RportError(404, f"client group with id {key!r} not found") from None
    return render.empty(204)
