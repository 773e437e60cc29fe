"""Windows inventory: what psutil and ``platform`` give, portably.

TODO(windows): manufacturer/model/serial/BIOS (WMI Win32_ComputerSystem / Win32_BIOS),
installed software (the Uninstall registry keys), domain membership, machine GUID
(HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid). Until then these stay empty.
"""

from __future__ import annotations

import platform

from fleetdeck.agent.collectors import common
from fleetdeck.protocol import messages as m


def collect() -> m.Inventory:
    inv = common.base_inventory()
    inv.os = "Windows"
    inv.os_version = platform.version()
    inv.os_family = "windows"
    return inv
