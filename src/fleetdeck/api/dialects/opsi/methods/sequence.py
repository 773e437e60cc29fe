"""opsi's action sequencing: ``productOnClient_addDependencies``, ``_generateSequence``,
``_getObjectsWithSequence``, ``_updateObjectsWithDependencies``, ``_getActionGroups``,
``getProductOrdering`` and ``setProductActionRequestWithDependencies``.

The ordering itself is core's (``core/packages/ordering.py``); this module turns opsi objects
into its inputs (the newest package of each product is what the depot offers; the client's
productOnClient states are what is installed) and its groups back into opsi objects.
Required versions (requiredProductVersion/requiredPackageVersion) are compared where opsi
compares them: against the version the depot offers, and against the installed version when
deciding whether a required status is already reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import OpsiValueError
from fleetdeck.api.dialects.opsi.methods.dependencies import DEPENDENCIES
from fleetdeck.api.dialects.opsi.methods.products import ON_CLIENT, ON_CLIENT_ADAPTER
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.objects.products import (
    ACTIONS,
    INSTALL_ACTIONS,
    LOCALBOOT,
    POC_ATTRS,
    force_product_id,
    newest,
    packages,
)
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.packages.entities import PackageInfo
from fleetdeck.core.packages.ordering import NONE, Group, Offered, Rule, State, action_groups

Row = dict[str, Any]
POC_IDENT = ("productId", "productType", "clientId")


def offered(ctx: Context) -> dict[str, Offered]:
    pkgs = packages(ctx)
    by_id = {p.id: p for p in pkgs}
    out: dict[str, Offered] = {}
    for family in sorted({p.family_key for p in pkgs}):
        p = newest(pkgs, family)
        if p is None:
            continue
        out[family] = Offered(
            priority=p.priority,
            actions=_actions(p),
            rules=_rules(p, by_id),
            version=p.version,
            package_version=p.package_version,
        )
    return out


def _actions(p: PackageInfo) -> frozenset[str]:
    found = set(INSTALL_ACTIONS) if p.install_procedure.strip() else set()
    if p.uninstall_procedure.strip():
        found.add("uninstall")
    return frozenset(found)


def _rules(p: PackageInfo, by_id: Mapping[int, PackageInfo]) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            product=p.family_key,
            action=r.action,
            required_product=by_id[r.requires_id].family_key,
            required_version=r.required_version,
            required_package_version=r.required_package_version,
            required_action=r.required_action,
            required_status=r.required_status,
            requirement_type=r.requirement_type,
        )
        for r in p.dependency_rules
        if r.requires_id in by_id
    )


def poc(obj: Mapping[str, Any]) -> Row:
    """A productOnClient from the caller, with every attribute (null where not given)."""
    if not isinstance(obj, Mapping):
        raise OpsiValueError(f"Invalid object: {obj!r}")
    action = obj.get("actionRequest")
    if action is not None and action not in ACTIONS:
        raise OpsiValueError(f"Bad action request: '{action}'")
    row: Row = {a: obj.get(a) for a in POC_ATTRS}
    row.update(
        productId=force_product_id(obj.get("productId")),
        productType=obj.get("productType") or LOCALBOOT,
        clientId=force_host_id(obj.get("clientId")),
        type="ProductOnClient",
    )
    return row


def _pocs(value: Any) -> list[Row]:
    items = value if isinstance(value, list | tuple) else [value]
    return [poc(o) for o in items]


def _with_ident(row: Row) -> Row:
    return {**row, "ident": ";".join(str(row.get(a) or "") for a in POC_IDENT)}


def groups_by_client(ctx: Context, pocs: list[Row]) -> dict[str, list[Group[Row]]]:
    """Each client's action groups; what is installed comes from its current states."""
    products = offered(ctx)
    by_client: dict[str, list[Row]] = {}
    for row in pocs:
        by_client.setdefault(row["clientId"], []).append(row)
    out: dict[str, list[Group[Row]]] = {}
    for client, rows in by_client.items():
        current = {r["productId"]: r for r in ON_CLIENT.get_objects(ctx, None, clientId=client)}

        def state(product: str, _current: Mapping[str, Row] = current) -> State:
            r = _current.get(product)
            if r is None:
                return State()
            return State(str(r["installationStatus"]), r["productVersion"], r["packageVersion"])

        requests = [(r["productId"], str(r.get("actionRequest") or NONE), r) for r in rows]
        out[client] = action_groups(requests, products, state)
    return out


def sequenced(groups: list[Group[Row]], client: str, only: set[str] | None = None) -> list[Row]:
    """opsi objects in order, with ``actionSequence`` counting the actions (-1 for none)."""
    out: list[Row] = []
    counter = 0
    for group in groups:
        for action in group.actions:
            row = (
                dict(action.request)
                if action.request is not None
                else poc({"productId": action.product, "clientId": client, "productType": LOCALBOOT})
            )
            row["actionRequest"] = action.action
            if action.action and action.action != NONE:
                row["actionSequence"] = counter
                counter += 1
            else:
                row["actionSequence"] = -1
            if only is None or row["productId"] in only:
                out.append(_with_ident(row))
    return out


def generate_sequence(ctx: Context, productOnClients: Any) -> list[Row]:
    pocs = _pocs(productOnClients)
    wanted: dict[str, set[str]] = {}
    for r in pocs:
        wanted.setdefault(r["clientId"], set()).add(r["productId"])
    return [
        row
        for client, groups in groups_by_client(ctx, pocs).items()
        for row in sequenced(groups, client, wanted[client])
    ]


def add_dependencies(ctx: Context, productOnClients: Any) -> list[Row]:
    pocs = _pocs(productOnClients)
    return [
        row for client, groups in groups_by_client(ctx, pocs).items() for row in sequenced(groups, client)
    ]


def get_objects_with_sequence(ctx: Context, attributes: Any = None, **flt: Any) -> list[Row]:
    """Does not add dependent actions (as opsi); requests keep their own actionRequest."""
    found = ON_CLIENT.get_objects(ctx, attributes, **flt)
    asked = {(r["clientId"], r["productId"]): r["actionRequest"] for r in found}
    rows = generate_sequence(ctx, found) if found else []
    for row in rows:
        request = asked.get((row["clientId"], row["productId"]))
        if request is not None:
            row["actionRequest"] = request
            if request in (None, "", NONE):
                row["actionSequence"] = -1
    return rows


def update_with_dependencies(ctx: Context, productOnClients: Any) -> None:
    """The requested actions plus the ones their dependencies need, run in opsi's order."""
    rows = add_dependencies(ctx, productOnClients)
    by_client: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        action = str(row.get("actionRequest") or NONE)
        by_client.setdefault(row["clientId"], []).append((row["productId"], action))
    for client, actions in by_client.items():
        ON_CLIENT_ADAPTER.apply_sequence(ctx, client, actions)


def get_action_groups(ctx: Context, clientId: Any) -> list[Row]:
    client = force_host_id(clientId)
    current = ON_CLIENT.get_objects(ctx, None, clientId=client)
    out: list[Row] = []
    for group in groups_by_client(ctx, current).get(client, []) if current else []:
        rows = [r for r in sequenced([group], client) if r["actionRequest"] not in (None, "", NONE)]
        if not rows:
            continue
        out.append(
            {
                "priority": group.priority,
                "product_on_clients": [{k: v for k, v in r.items() if k != "ident"} for r in rows],
                "priorities": {a.product: a.priority for a in group.actions},
                "dependencies": {
                    product: [_dependency(ctx, rule) for rule in rules]
                    for product, rules in group.rules.items()
                },
            }
        )
    return out


def _dependency(ctx: Context, rule: Rule) -> Row:
    found = DEPENDENCIES.get_hashes(
        ctx, None, productId=rule.product, productAction=rule.action, requiredProductId=rule.required_product
    )
    return found[0] if found else {}


def product_ordering(ctx: Context, depotId: Any, sortAlgorithm: Any = None) -> dict[str, list[str]]:
    """Every offered product that has a procedure, in the order a client would run them all."""
    if sortAlgorithm and sortAlgorithm != "algorithm1":
        raise OpsiValueError(f"Invalid sort algorithm {sortAlgorithm!r}")
    if force_host_id(depotId) != server_host_id(ctx):
        return {"not_sorted": [], "sorted": []}  # the server is the only depot
    products = offered(ctx)
    requests: list[tuple[str, str, Row | None]] = []
    for product, item in products.items():
        first = next(
            (a for a in ("setup", "always", "once", "custom", "uninstall") if a in item.actions), None
        )
        if first is not None:
            requests.append((product, first, None))
    groups = action_groups(requests, products, lambda _p: State())
    return {
        "not_sorted": sorted(products),
        "sorted": [a.product for g in groups for a in g.actions],
    }


def set_action_request_with_dependencies(
    ctx: Context, productId: Any, clientId: Any, actionRequest: Any
) -> None:
    update_with_dependencies(
        ctx, [{"productId": productId, "clientId": clientId, "actionRequest": actionRequest}]
    )


IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "productOnClient_generateSequence": generate_sequence,
    "productOnClient_addDependencies": add_dependencies,
    "productOnClient_getObjectsWithSequence": get_objects_with_sequence,
    "productOnClient_updateObjectsWithDependencies": update_with_dependencies,
    "productOnClient_getActionGroups": get_action_groups,
    "getProductOrdering": product_ordering,
    "setProductActionRequestWithDependencies": set_action_request_with_dependencies,
}
for _name, _impl in IMPLEMENTATIONS.items():
    crud.declare(_name, _impl)
