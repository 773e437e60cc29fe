"""opsi's ``host_*`` methods over fleetdeck computers (see ``objects/hosts.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.errors import BackendBadValueError, BackendMissingDataError
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.registry import Context

_hosts = HostAdapter()
HOSTS = crud.register("host", _hosts)


def create_opsi_client(ctx: Context, **attrs: Any) -> None:
    """Pre-register a computer under this host id (``host_createObjects`` with one OpsiClient)."""
    HOSTS.insert(ctx, {**attrs, "type": "OpsiClient"})


crud.declare("host_createOpsiClient", create_opsi_client)


def create_depot(kind: str) -> Any:
    def create(ctx: Context, **attrs: Any) -> None:
        """fleetdeck's only depot is the server itself: this answers opsi's error for any other."""
        HOSTS.insert(ctx, {**attrs, "type": kind})

    return create


def rename_client(ctx: Context, id: Any, newId: Any) -> None:
    """The computer keeps everything (jobs, groups, agent key); only its host id changes. A
    machine that later reports a qualified name of its own is shown under that name."""
    old, new = force_host_id(id), force_host_id(newId)
    _, computers = _hosts.computers(ctx)
    computer = computers.get(old)
    if computer is None:
        raise BackendMissingDataError(f"Host '{old}' not found")
    if new in computers and new != old:
        raise BackendBadValueError(f"Host '{new}' already exists")
    if new == server_host_id(ctx):
        raise BackendBadValueError(f"'{new}' is the config server's id")
    ctx.services.computers.update(ctx.actor, computer.id, fqdn=new)


def messagebus_connected_ids(ctx: Context, hostIds: Any = None) -> list[str]:
    """Clients whose agent is connected now (fleetdeck's agents are its message bus). A
    computer of a polling (OCO) agent is online while it polls but holds no connection that
    could carry a message, so it is not listed."""
    _, computers = _hosts.computers(ctx)
    wanted = None if hostIds in (None, []) else set(hostIds if isinstance(hostIds, list) else [hostIds])
    return sorted(
        hid
        for hid, c in computers.items()
        if c.online and "ping" in c.capabilities and (wanted is None or hid in wanted)
    )


crud.declare("host_createOpsiDepotserver", create_depot("OpsiDepotserver"))
crud.declare("host_createOpsiConfigserver", create_depot("OpsiConfigserver"))
crud.declare("host_renameOpsiClient", rename_client)
crud.declare("host_getMessagebusConnectedIds", messagebus_connected_ids)
