"""opsi's ``auditSoftwareOnClient_*``, ``auditSoftware_*``, ``auditHardwareOnHost_*`` and
``auditHardware_*`` methods: read-only views of the agent's inventory (see ``objects/audit.py``),
and ``auditHardware_getConfig``, the hardware classes fleetdeck reports."""

from __future__ import annotations

import copy
from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.audit import (
    HARDWARE_CONFIG,
    HardwareAdapter,
    HardwareOnHostAdapter,
    SoftwareAdapter,
    SoftwareOnClientAdapter,
)
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.registry import Context

_hosts = HostAdapter()
_on_client = SoftwareOnClientAdapter(_hosts)
SOFTWARE_ON_CLIENT = crud.register("auditSoftwareOnClient", _on_client)
SOFTWARE = crud.register("auditSoftware", SoftwareAdapter(_on_client))
_on_host = HardwareOnHostAdapter(_hosts)
HARDWARE_ON_HOST = crud.register("auditHardwareOnHost", _on_host)
HARDWARE = crud.register("auditHardware", HardwareAdapter(_on_host))


def hardware_config(ctx: Context, language: Any = None) -> list[dict[str, Any]]:
    """The same classes in every language: fleetdeck has English labels only."""
    return copy.deepcopy(HARDWARE_CONFIG)


crud.declare("auditHardware_getConfig", hardware_config)
