"""rportd's vault (``/vault-admin*``, ``/vault*``) over core's vault (``core.vault``).

rportd's statuses: init and unlock 201 with no body, lock 204; wrong password 401; any state
that does not fit (already initialised, not initialised, already locked or unlocked, and any
data call while locked) 409; init, unlock and lock are for Administrators only (403), the rest
needs the ``vault`` permission (403 ``user does not have "vault" permission``); an entry's
``required_group`` admits only its members (403). ``POST /vault`` is 201 ``{data:{id}}``,
``PUT`` 200 ``{data:{id}}``, ``DELETE`` 204. The list is unpaginated and never shows values.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import SYNTAX, VAULT, VaultEntryBody, VaultPasswordBody
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.vault import VaultEntryInfo, VaultEntryInput

NO_PERMISSION = 'user does not have "vault" permission'
MAX_ID = 2**63 - 1


def _may(ctx: Context) -> None:
    if not ctx.me.can(Perm.USE_VAULT):
        raise RportError(403, NO_PERMISSION)


def _id(ctx: Context) -> int:
    raw = str(ctx.path_params["id"])
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ID:
        raise RportError(400, f"invalid vault entry id {raw!r}: must be a whole number")
    return int(raw)


def _entry(ctx: Context) -> VaultEntryInput:
    body = ctx.decode(VaultEntryBody)
    return VaultEntryInput(
        key=body.key,
        value=body.value,
        type=body.type,
        client_id=body.client_id,
        required_group=body.required_group,
    )


def _short(info: VaultEntryInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "client_id": info.client_id,
        "created_by": info.created_by,
        "created_at": render.time(info.created_at),
        "key": info.key,
    }


def _full(info: VaultEntryInfo) -> dict[str, Any]:
    return {
        **_short(info),
        "required_group": info.required_group,
        "type": info.type,
        "value": info.value,
        "updated_at": render.time(info.updated_at),
        "updated_by": info.updated_by,
    }


@route("GET", "/vault-admin")
def vault_status(ctx: Context) -> Response:
    """``status`` is empty while the vault is not initialised, as rportd answers."""
    _may(ctx)
    state = ctx.services.vault.status(ctx.me)
    if not state.initialised:
        return render.ok({"init": "uninitialized", "status": ""})
    return render.ok({"init": "setup-completed", "status": "unlocked" if state.unlocked else "locked"})


@route("POST", "/vault-admin/init", admin=True)
def vault_init(ctx: Context) -> Response:
    body = ctx.decode(VaultPasswordBody)
    ctx.services.vault.init(ctx.me, body.password)
    return render.empty(201)


@route("POST", "/vault-admin/sesame", admin=True)
def vault_unlock(ctx: Context) -> Response:
    body = ctx.decode(VaultPasswordBody)
    try:
        ctx.services.vault.unlock(ctx.me, body.password)
    except AuthenticationFailed:
        raise RportError(401, "wrong password provided") from None
    return render.empty(201)


@route("DELETE", "/vault-admin/sesame", admin=True)
def vault_lock(ctx: Context) -> Response:
    ctx.services.vault.lock(ctx.me)
    return render.empty(204)


@route("GET", "/vault")
def vault_list(ctx: Context) -> Response:
    """rportd's sort and filter rules; ``page[...]`` is accepted and ignored (rportd's vault
    list is not paginated). One query whatever the number of entries."""
    _may(ctx)
    parsed = listing.parse(ctx.params, VAULT, SYNTAX).query
    query = q.Query(where=parsed.where, sort=parsed.sort, limit=None)
    return render.ok([_short(e) for e in ctx.services.vault.list(ctx.me, query)])


@route("POST", "/vault")
def vault_create(ctx: Context) -> Response:
    _may(ctx)
    new_id = ctx.services.vault.create(ctx.me, _entry(ctx))
    return render.ok({"id": new_id}, 201)


@route("GET", "/vault/{id}")
def vault_get(ctx: Context) -> Response:
    _may(ctx)
    return render.ok(_full(ctx.services.vault.get(ctx.me, _id(ctx))))


@route("PUT", "/vault/{id}")
def vault_update(ctx: Context) -> Response:
    _may(ctx)
    entry_id = _id(ctx)
    ctx.services.vault.update(ctx.me, entry_id, _entry(ctx))
    return render.ok({"id": entry_id})


@route("DELETE", "/vault/{id}")
def vault_delete(ctx: Context) -> Response:
    _may(ctx)
    ctx.services.vault.delete(ctx.me, _id(ctx))
    return render.empty(204)
