"""opsi's ``getKioskProductInfosForClient``: what the opsi kiosk (software on demand) shows a
client, as opsiconfd 4.3's ``RPCExtKioskMixin`` builds it.

The kiosk offers the products of the product groups named in the client's config
``software-on-demand.product-group-ids`` (comma-separated values; fleetdeck's package groups).
Each product the depot offers (the newest package of it) gets one record: its versions, name,
description, advice, priority, whether it has a setup/uninstall procedure, its dependencies in
the kiosk's pre-/post-/required form, and the client's installation state with the action the
kiosk may offer (setup when not installed, uninstall when installed). ``addConfigs`` wraps the
list as ``{"configStates": <the client's software-on-demand.* values>, "products": [...]}``.

Two deliberate differences from opsiconfd, both on edge cases a kiosk never relies on:
- a client with no kiosk group gets no products. opsiconfd asks ``objectToGroup_getObjects``
  with an empty group list, which its filter semantics ignore, so such a client would be shown
  every product of every product group;
- a client logged in with its host key may ask only for itself (opsiconfd skips the ACL here,
  which lets any client read another client's product states).
Products are returned sorted by id (opsiconfd iterates a set, so its order is arbitrary).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import BackendMissingDataError, BackendPermissionDeniedError
from fleetdeck.api.dialects.opsi.methods.configs import config_state_values
from fleetdeck.api.dialects.opsi.methods.dependencies import DEPENDENCIES
from fleetdeck.api.dialects.opsi.methods.groups import OBJECT_TO_GROUPS
from fleetdeck.api.dialects.opsi.methods.products import ON_CLIENT, PRODUCTS
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.objects.products import newest, packages
from fleetdeck.api.dialects.opsi.registry import Context

Row = dict[str, Any]
GROUPS_CONFIG = "software-on-demand.product-group-ids"
_hosts = HostAdapter()


def kiosk_groups(values: Mapping[str, list[Any]]) -> set[str]:
    """The group ids named by the config's values (each value may list several, comma-separated)."""
    return {g.strip() for vs in values.values() for v in vs for g in str(v).split(",") if g.strip()}


def _requirement(dep: Mapping[str, Any]) -> Row:
    """A dependency as the kiosk shows it: the required action or status under ``preRequired``
    (before), ``postRequired`` (after) or ``required`` (no order)."""
    out: Row = {
        "requiredProductId": dep["requiredProductId"],
        "required": "",
        "preRequired": "",
        "postRequired": "",
    }
    slot = {"before": "preRequired", "after": "postRequired"}.get(
        dep.get("requirementType") or "", "required"
    )
    wanted = dep.get("requiredAction") or dep.get("requiredInstallationStatus")
    if wanted:
        out[slot] = wanted
    return out


def _record(product: Row, deps: Iterable[Row], poc: Row | None) -> Row:
    version, package_version = product["productVersion"], product["packageVersion"]
    rec: Row = {
        "productId": product["id"],
        "productVersion": version,
        "packageVersion": package_version,
        "versionStr": f"{version}-{package_version}",
        "installedVerStr": "",
        "installedProdVer": "",
        "installedPackVer": "",
        "updatePossible": False,
        "possibleAction": "",
        "installationStatus": "",
        "actionRequest": "",
        "actionResult": "",
        "requirements": [_requirement(d) for d in deps],
        "hasSetup": bool(product.get("setupScript")),
        "hasUninstall": bool(product.get("uninstallScript")),
        "productName": product.get("name"),
        "description": product.get("description"),
        "advice": product.get("advice"),
        "priority": product.get("priority"),
        "productType": product.get("type"),
    }
    if poc is not None:
        installed = f"{poc.get('productVersion')}-{poc.get('packageVersion')}"
        rec.update(
            installationStatus=poc.get("installationStatus"),
            actionRequest=poc.get("actionRequest"),
            actionResult=poc.get("actionResult"),
            installedProdVer=poc.get("productVersion"),
            installedPackVer=poc.get("packageVersion"),
            installedVerStr=installed,
            updatePossible=installed != rec["versionStr"],
        )
        if poc.get("installationStatus") == "not_installed" and rec["hasSetup"]:
            rec["possibleAction"] = "setup"
        elif poc.get("installationStatus") == "installed" and rec["hasUninstall"]:
            rec["possibleAction"] = "uninstall"
    return rec


def kiosk_product_infos(ctx: Context, clientId: Any, addConfigs: Any = False) -> list[Row] | Row:
    client = force_host_id(clientId)
    if ctx.is_client and client != ctx.host_id:
        raise BackendPermissionDeniedError(f"Client {ctx.host_id!r} may only ask for its own kiosk")
    _, found = _hosts.computers(ctx, [client])
    if client not in found:
        raise BackendMissingDataError(f"Client {client!r} does not exist")
    groups = kiosk_groups(config_state_values(ctx, [GROUPS_CONFIG], [client]).get(client, {}))
    product_ids = sorted(
        {
            m["objectId"]
            for m in (
                OBJECT_TO_GROUPS.get_objects(ctx, None, groupType="ProductGroup", groupId=sorted(groups))
                if groups
                else []
            )
        }
    )
    products: list[Row] = []
    if product_ids:
        offered = {p["productId"]: p for p in _offered(ctx, product_ids)}
        deps = DEPENDENCIES.get_objects(ctx, None, productId=product_ids)
        pocs = {
            p["productId"]: p
            for p in ON_CLIENT.get_objects(ctx, None, clientId=client, productId=product_ids)
        }
        for pid in product_ids:
            product = offered.get(pid)
            if product is not None:
                products.append(_record(product, (d for d in deps if d["productId"] == pid), pocs.get(pid)))
    if addConfigs:
        configs = config_state_values(ctx, ["software-on-demand.*"], [client]).get(client, {})
        return {"configStates": configs, "products": products}
    return products


def _offered(ctx: Context, product_ids: list[str]) -> list[Row]:
    """The product objects of the packages the depot offers: the newest of each product (the
    productOnDepot of opsi, where a depot holds one version of a product)."""
    pkgs = packages(ctx)
    wanted = {(p.family_key, p.version, p.package_version) for pid in product_ids if (p := newest(pkgs, pid))}
    return [
        {**p, "productId": p["id"]}
        for p in PRODUCTS.get_objects(ctx, None, id=product_ids)
        if (p["id"], p["productVersion"], p["packageVersion"]) in wanted
    ]


crud.declare("getKioskProductInfosForClient", kiosk_product_infos)
