"""Deprecated opsi methods that old scripts still call, answered through their replacements
(``alternative_method`` in opsi's interface). Only the common, unambiguous ones are here;
the others answer "not supported" (docs/compat/opsi.md)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.methods import backend, groups, hosts, products
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.registry import Context

ALIASES = {
    "authenticated": backend.access_control_authenticated,
    "exit": backend.backend_exit,
    "getOpsiInformation_hash": backend.backend_info,
    "getPossibleMethods_listOfHashes": backend.backend_get_interface,
    "userIsAdmin": backend.access_control_user_is_admin,
    "userIsReadOnlyUser": backend.access_control_user_is_read_only,
}


def client_ids(ctx: Context, **_: Any) -> list[Any]:
    return hosts.HOSTS.get_idents(ctx, "str", type="OpsiClient")


def depot_ids(ctx: Context) -> list[Any]:
    return hosts.HOSTS.get_idents(ctx, "str", type="OpsiDepotserver")


def group_ids(ctx: Context) -> list[Any]:
    return groups.GROUPS.get_idents(ctx, "str")


def delete_client(ctx: Context, clientId: Any) -> None:
    hosts.HOSTS.delete(ctx, id=clientId)


def delete_group(ctx: Context, groupId: Any) -> None:
    groups.GROUPS.delete(ctx, id=groupId)


def installed_product_ids(ctx: Context, objectId: Any) -> list[str]:
    rows = products.ON_CLIENT.get_objects(ctx, None, clientId=objectId, installationStatus="installed")
    return sorted({str(r["productId"]) for r in rows})


def product_ids(ctx: Context, **_: Any) -> list[str]:
    return sorted({str(r["id"]) for r in products.PRODUCTS.get_objects(ctx)})


for _name, _impl in {
    **ALIASES,
    "getClientIDs": client_ids,
    "getClientIds_list": client_ids,
    "getDepotIds_list": depot_ids,
    "getGroupIds_list": group_ids,
    "deleteClient": delete_client,
    "deleteGroup": delete_group,
    "getInstalledProductIds_list": installed_product_ids,
    "getInstalledLocalBootProductIds_list": installed_product_ids,
    "getProductIds_list": product_ids,
    "getLocalBootProductIds_list": product_ids,
}.items():
    crud.declare(_name, lambda ctx, _f=_impl, **kw: _f(ctx, **kw))
