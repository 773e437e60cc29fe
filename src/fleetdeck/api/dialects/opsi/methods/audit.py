"""opsi's ``auditSoftwareOnClient_*``, ``auditSoftware_*`` and ``auditHardwareOnHost_*`` methods:
read-only views of the agent's inventory (see ``objects/audit.py``)."""

from __future__ import annotations

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.audit import (
    HardwareOnHostAdapter,
    SoftwareAdapter,
    SoftwareOnClientAdapter,
)
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter

_hosts = HostAdapter()
_on_client = SoftwareOnClientAdapter(_hosts)
SOFTWARE_ON_CLIENT = crud.register("auditSoftwareOnClient", _on_client)
SOFTWARE = crud.register("auditSoftware", SoftwareAdapter(_on_client))
HARDWARE_ON_HOST = crud.register("auditHardwareOnHost", HardwareOnHostAdapter(_hosts))
