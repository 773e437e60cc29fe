"""macOS inventory: what psutil and ``platform`` give, portably.

TODO(darwin): model/serial (``system_profiler SPHardwareDataType -json`` or IOKit),
installed applications (``system_profiler SPApplicationsDataType`` / ``pkgutil --pkgs``),
hardware UUID as machine id. Until then these stay empty.
"""

from __future__ import annotations

import platform

from fleetdeck.agent.collectors import common
from fleetdeck.protocol import messages as m


def collect() -> m.Inventory:
    inv = common.base_inventory()
    inv.os = "macOS"
    inv.os_version = platform.mac_ver()[0]
    inv.os_family = "darwin"
    inv.manufacturer = "Apple"
    return inv
