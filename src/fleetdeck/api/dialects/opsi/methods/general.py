"""opsi's remaining general and ExtLegacy methods that map onto what fleetdeck has:
``sleep``, ``backend_createBase``/``backend_deleteBase``, ``service_healthCheck``,
``config_updateMessageOfTheDay``, ``productPropertyState_getValues``, ``getDepotId``,
``getProduct_hash``, ``setProductInstallationStatus``, ``setProductProperties`` and
``setProductProperty``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.methods.products import PRODUCTS
from fleetdeck.api.dialects.opsi.methods.properties import PROPERTIES, STATES
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.objects.products import force_product_id, newest, packages
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import NotFound
from fleetdeck.core.settings.configs import Config

Row = dict[str, Any]
MAX_SLEEP = 60.0
_hosts = HostAdapter()


def _ids(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    return [str(v) for v in (value if isinstance(value, list | tuple) else [value])]


def sleep(ctx: Context, seconds: Any = 0.0) -> None:
    """Waits up to a minute (opsi uses it to test timeouts; a longer wait only ties up a worker)."""
    try:
        wait = float(seconds or 0)
    except (TypeError, ValueError):
        raise OpsiValueError(f"Invalid seconds: {seconds!r}") from None
    if not 0 <= wait <= MAX_SLEEP:
        raise OpsiValueError(f"seconds must be between 0 and {MAX_SLEEP:g}")
    time.sleep(wait)


def create_base(ctx: Context) -> None:
    """The schema is created and migrated when the server starts: nothing is left to do."""
    ctx.actor.require(Perm.MANAGE_SETTINGS)


def delete_base(ctx: Context) -> None:
    raise BackendPermissionDeniedError("fleetdeck does not drop its database through the API")


def health_check(ctx: Context, clear_cache: Any = False) -> list[Row]:
    """opsi's check records for what fleetdeck can check from here: the database answers,
    and how many clients' agents are connected."""
    ctx.actor.require(Perm.MANAGE_SETTINGS)
    checks: list[Row] = []
    started = time.monotonic()
    try:
        _, computers = _hosts.computers(ctx)
        db_status, db_message = (
            "ok",
            f"The database answered in {1000 * (time.monotonic() - started):.0f} ms.",
        )
    except Exception as exc:  # a health check reports the failure instead of failing
        computers, db_status, db_message = {}, "error", f"The database did not answer: {type(exc).__name__}"
    checks.append(_check("database", "Database", "Is the database reachable?", db_status, db_message))
    online = sum(1 for c in computers.values() if c.online)
    agent_status = "ok" if not computers or online else "warning"
    checks.append(
        _check(
            "agents",
            "Connected agents",
            "Are the clients' agents connected?",
            agent_status,
            f"{online} of {len(computers)} clients are connected.",
            {"connected": online, "clients": len(computers)},
        )
    )
    return checks


def _check(cid: str, name: str, description: str, status: str, message: str, details: Any = None) -> Row:
    return {
        "check_id": cid,
        "check_name": name,
        "check_description": description,
        "check_status": status,
        "message": message,
        "details": details or {},
        "upgrade_issue": None,
        "partial_results": [],
    }


MOTD = {
    "device_message": (
        "message_of_the_day.device.message",
        "Message of the day to show on device when no user is logged in",
    ),
    "device_message_valid_until": (
        "message_of_the_day.device.message_valid_until",
        "Timestamp until the device message of the day is valid",
    ),
    "user_message": ("message_of_the_day.user.message", "Message of the day to show to logged-in users"),
    "user_message_valid_until": (
        "message_of_the_day.user.message_valid_until",
        "Timestamp until the user message of the day is valid",
    ),
}


def update_message_of_the_day(
    ctx: Context,
    device_message: Any = None,
    device_message_valid_until: Any = None,
    user_message: Any = None,
    user_message_valid_until: Any = None,
) -> dict[str, Row]:
    """Stores the messages as opsi's config entries; a user message is also shown at once on
    every connected client (an agent ``message`` action; its job is in ``/api/v1/jobs``), both
    in one core call (``jobs.announce``), so a refusal cannot leave the texts stored and nobody
    told. Answers per notified client, as opsi does."""
    given = {
        "device_message": device_message,
        "device_message_valid_until": device_message_valid_until,
        "user_message": user_message,
        "user_message_valid_until": user_message_valid_until,
    }
    entries = []
    for name, raw in given.items():
        if raw is None:
            continue
        value = str(raw)
        if name.endswith("valid_until"):
            try:
                value = str(int(raw))
            except (TypeError, ValueError):
                raise OpsiValueError(f"Invalid {name}: {raw!r}") from None
        config_id, description = MOTD[name]
        entries.append(
            Config(config_id, "str", description, [value], [value], editable=True, multi_value=False)
        )
    if not entries:
        return {}
    notified = ctx.services.jobs.announce(
        ctx.actor, entries, str(user_message) if user_message else None, expires_in=timedelta(minutes=5)
    )
    if not notified:
        return {}
    _, computers = _hosts.computers(ctx)
    names = {c.id: hid for hid, c in computers.items()}
    return {
        hid: {"result": None, "error": None} for hid in sorted(names[cid] for cid in notified if cid in names)
    }


def property_values(
    ctx: Context,
    product_ids: Any = None,
    property_ids: Any = None,
    object_ids: Any = None,
    with_defaults: Any = True,
) -> dict[str, dict[str, dict[str, list[Any]]]]:
    """{objectId: {productId: {propertyId: values}}}; with defaults, every client gets every
    property of the offered products, with the depot's value where it has none of its own."""
    products, props, objects = _ids(product_ids), _ids(property_ids), [i.lower() for i in _ids(object_ids)]
    if ctx.is_client:
        objects = [str(ctx.host_id)]
    flt: Row = {}
    if products:
        flt["productId"] = products
    if props:
        flt["propertyId"] = props
    out: dict[str, dict[str, dict[str, list[Any]]]] = {}
    if bool(with_defaults):
        clients = objects or sorted(_hosts.computers(ctx)[1])
        depot = server_host_id(ctx)
        defaults = [p for p in PROPERTIES.get_objects(ctx, None, **flt)]
        for client in clients:
            if client == depot:
                continue
            for p in defaults:
                out.setdefault(client, {}).setdefault(p["productId"], {})[p["propertyId"]] = list(
                    p.get("defaultValues") or []
                )
    state_flt = dict(flt)
    if objects:
        state_flt["objectId"] = objects
    for s in STATES.get_objects(ctx, None, **state_flt):
        out.setdefault(s["objectId"], {}).setdefault(s["productId"], {})[s["propertyId"]] = list(
            s["values"] or []
        )
    return out


def depot_id(ctx: Context, clientId: Any) -> str:
    """Every client's depot is the server."""
    client = force_host_id(clientId)
    if client not in _hosts.computers(ctx)[1]:
        raise BackendMissingDataError(f"Client '{client}' not found")
    return server_host_id(ctx)


def product_hash(ctx: Context, productId: Any, depotId: Any = None) -> Row:
    """opsi 3's product hash of the offered (newest) package."""
    pid = force_product_id(productId)
    top = newest(packages(ctx), pid)
    if top is None:
        raise BackendMissingDataError(f"Product '{pid}' not found")
    (p,) = PRODUCTS.get_objects(
        ctx, None, id=pid, productVersion=top.version, packageVersion=top.package_version
    )
    return {
        "name": p["name"],
        "description": p["description"],
        "advice": p["advice"],
        "priority": p["priority"],
        "licenseRequired": p["licenseRequired"],
        "productVersion": p["productVersion"],
        "packageVersion": p["packageVersion"],
        "creationTimestamp": "",
        "setupScript": p["setupScript"],
        "uninstallScript": p["uninstallScript"],
        "updateScript": p["updateScript"],
        "onceScript": p["onceScript"],
        "alwaysScript": p["alwaysScript"],
        "customScript": p["customScript"],
        "userLoginScript": p["userLoginScript"],
        "productClassNames": p["productClassIds"],
        "windowsSoftwareIds": p["windowsSoftwareIds"],
    }


def set_installation_status(ctx: Context, productId: Any, objectId: Any, installationStatus: Any) -> None:
    """An admin's correction of what is installed: ``installed`` records the offered package
    as installed (no job runs), ``not_installed`` forgets the installation records (one core
    call: it reads and changes in one transaction)."""
    pid, client = force_product_id(productId), force_host_id(objectId)
    if installationStatus not in ("installed", "not_installed"):
        raise OpsiValueError(f"Bad installation status: '{installationStatus}'")
    computer = _hosts.computers(ctx)[1].get(client)
    if computer is None:
        raise BackendMissingDataError(f"Client '{client}' not found")
    try:
        ctx.services.packages.set_family_installed(
            ctx.actor, computer.id, pid, installationStatus == "installed"
        )
    except NotFound as exc:
        if exc.object_type != "package family":
            raise
        raise BackendMissingDataError(f"Product '{pid}' not found") from exc


def set_properties(ctx: Context, productId: Any, properties: Any, objectId: Any = None) -> None:
    """Values for a client, or (without ``objectId``) the depot's values, i.e. the defaults."""
    if not isinstance(properties, dict):
        raise OpsiValueError("properties must be an object {propertyId: value}")
    target = force_host_id(objectId) if objectId else server_host_id(ctx)
    states = [
        {
            "type": "ProductPropertyState",
            "productId": productId,
            "propertyId": prop,
            "objectId": target,
            "values": value if isinstance(value, list) else [value],
        }
        for prop, value in properties.items()
    ]
    STATES.update(ctx, states, create=True)


def set_property(ctx: Context, productId: Any, propertyId: Any, value: Any, objectId: Any = None) -> None:
    set_properties(ctx, productId, {str(propertyId): value}, objectId)


IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    "sleep": sleep,
    "backend_createBase": create_base,
    "backend_deleteBase": delete_base,
    "service_healthCheck": health_check,
    "config_updateMessageOfTheDay": update_message_of_the_day,
    "productPropertyState_getValues": property_values,
    "getDepotId": depot_id,
    "getProduct_hash": product_hash,
    "setProductInstallationStatus": set_installation_status,
    "setProductProperties": set_properties,
    "setProductProperty": set_property,
}
for _name, _impl in IMPLEMENTATIONS.items():
    crud.declare(_name, _impl)
