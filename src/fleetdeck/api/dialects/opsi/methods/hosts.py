"""opsi's ``host_*`` methods over fleetdeck computers (see ``objects/hosts.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.registry import Context

HOSTS = crud.register("host", HostAdapter())


def create_opsi_client(ctx: Context, **attrs: Any) -> None:
    """Pre-register a computer under this host id (``host_createObjects`` with one OpsiClient)."""
    HOSTS.insert(ctx, {**attrs, "type": "OpsiClient"})


crud.declare("host_createOpsiClient", create_opsi_client)
