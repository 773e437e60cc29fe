"""rportd's client auth credentials (``/clients-auth``) over core's agent secrets: for
Administrators (or an API token with the ``clients-auth`` scope). Passwords are argon2-hashed
when stored, so, unlike rportd, a credential is listed without its password."""

from __future__ import annotations

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import CLIENTS_AUTH, SYNTAX, ClientAuthBody
from fleetdeck.api.kit import listing
from fleetdeck.core.errors import Conflict, NotFound

ALREADY_EXIST = "ERR_CODE_ALREADY_EXIST"
NOT_FOUND = "ERR_CODE_CLIENT_AUTH_NOT_FOUND"
INVALID = "ERR_CODE_INVALID_REQUEST"


def _not_found(key: str) -> RportError:
    return RportError(404, f"client auth with id {key!r} not found", code=NOT_FOUND)


@route("GET", "/clients-auth", admin=True)
def auth_list(ctx: Context) -> Response:
    """Sorted by id; a count and a select whatever the page size."""
    request = listing.parse(ctx.params, CLIENTS_AUTH, SYNTAX)
    page = ctx.services.agent_secrets.find(ctx.me, request.query)
    return render.ok([{"id": c.key} for c in page.items], meta={"count": page.total})


@route("POST", "/clients-auth", admin=True)
def auth_create(ctx: Context) -> Response:
    body = ctx.decode(ClientAuthBody)
    key, password = body.id or "", body.password or ""
    if len(key) < 3:
        raise RportError(400, "Invalid or missing ID.", "ID should be at least 3 characters", code=INVALID)
    if len(password) < 3:
        raise RportError(
            400, "Invalid or missing password.", "Password should be at least 3 characters", code=INVALID
        )
    try:
        ctx.services.agent_secrets.create(ctx.me, key, password)
    except Conflict:
        raise RportError(409, f"Client auth with ID {key!r} already exist.", code=ALREADY_EXIST) from None
    return render.empty(201)


@route("GET", "/clients-auth/{client_auth_id}", admin=True)
def auth_get(ctx: Context) -> Response:
    key = str(ctx.path_params["client_auth_id"])
    try:
        info = ctx.services.agent_secrets.get(ctx.me, key)
    except NotFound:
        raise _not_found(key) from None
    return render.ok({"id": info.key})


@route("DELETE", "/clients-auth/{client_auth_id}", admin=True)
def auth_delete(ctx: Context) -> Response:
    key = str(ctx.path_params["client_auth_id"])
    raw = (ctx.param("force") or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise RportError(400, f"invalid force param {raw!r}", code=INVALID)
    try:
        ctx.services.agent_secrets.delete(ctx.me, key, force=raw in ("true", "1"))
    except NotFound:
        raise _not_found(key) from None
    except Conflict as exc:  # computers enrolled with it, and no force
        raise RportError(409, exc.message, code="ERR_CODE_CLIENT_AUTH_HAS_CLIENT") from None
    return render.empty(204)
