"""opsi's ``config_*`` and ``configState_*`` methods over core config entries and their
per-computer values (see ``objects/configs.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.configs import ConfigAdapter, ConfigStateAdapter
from fleetdeck.api.dialects.opsi.objects.filters import value_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, server_host_id
from fleetdeck.api.dialects.opsi.registry import Context

_hosts = HostAdapter()
CONFIGS = crud.register("config", ConfigAdapter())
STATES = crud.register("configState", ConfigStateAdapter(_hosts))


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else (list(value) if isinstance(value, list | tuple) else [value])


def config_create(ctx: Context, **attrs: Any) -> None:
    """One UnicodeConfig."""
    CONFIGS.insert(ctx, {**attrs, "type": "UnicodeConfig"})


def config_create_bool(ctx: Context, **attrs: Any) -> None:
    """One BoolConfig."""
    CONFIGS.insert(ctx, {**attrs, "type": "BoolConfig"})


def config_state_create(ctx: Context, **attrs: Any) -> None:
    """A computer's own values for a config."""
    STATES.insert(ctx, {**attrs, "type": "ConfigState"})


def client_to_depot(
    ctx: Context,
    depotIds: Any = None,
    clientIds: Any = None,
    masterOnly: Any = True,
    productIds: Any = None,
) -> list[dict[str, Any]]:
    """Every client's depot: fleetdeck's server is the one depot of every client."""
    depot = server_host_id(ctx)
    wanted_depots = _as_list(depotIds)
    if wanted_depots and not value_matches(depot, wanted_depots):
        return []
    wanted = _as_list(clientIds)
    _, computers = _hosts.computers(ctx)
    return [
        {"depotId": depot, "clientId": hid, "alternativeDepotIds": []}
        for hid in sorted(computers)
        if (not wanted or value_matches(hid, wanted)) and (not ctx.is_client or hid == ctx.host_id)
    ]


def config_state_values(
    ctx: Context, config_ids: Any = None, object_ids: Any = None, with_defaults: Any = True
) -> dict[str, dict[str, list[Any]]]:
    """``{objectId: {configId: values}}``, with each config's defaults where a client has none.
    A client asking (host login) gets its own values whatever ``object_ids`` names, as
    opsiconfd answers it."""
    if ctx.is_client:
        object_ids = [ctx.host_id]
    configs = CONFIGS.get_objects(ctx)
    keys = [
        c["id"] for c in configs if not _as_list(config_ids) or value_matches(c["id"], _as_list(config_ids))
    ]
    _, computers = _hosts.computers(ctx)
    hosts = [
        h for h in sorted(computers) if not _as_list(object_ids) or value_matches(h, _as_list(object_ids))
    ]
    defaults = {c["id"]: c["defaultValues"] for c in configs}
    out: dict[str, dict[str, list[Any]]] = {
        h: ({k: list(defaults[k]) for k in keys} if with_defaults else {}) for h in hosts
    }
    for state in STATES.get_objects(ctx):
        if state["objectId"] in out and state["configId"] in keys:
            out[state["objectId"]][state["configId"]] = state["values"]
    return out


crud.declare("config_create", config_create)
crud.declare("config_createUnicode", config_create)
crud.declare("config_createBool", config_create_bool)
crud.declare("configState_create", config_state_create)
crud.declare("configState_getClientToDepotserver", client_to_depot)
crud.declare("configState_getValues", config_state_values)
