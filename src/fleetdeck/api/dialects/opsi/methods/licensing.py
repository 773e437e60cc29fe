"""opsi's ``backend_getLicensingInfo``: which of opsi's paid extension modules the server may use.

opsi gates features (license management, user roles, the Linux/macOS agents, ...) behind
signed module licenses, and configed and opsiclientd ask this method before they offer them.
fleetdeck has no such licenses and gates nothing, so every module is answered the way opsi
answers its free modules: ``available``, state ``free``, unlimited clients. That says
"fleetdeck does not refuse this for licensing reasons", not "fleetdeck implements it": whether
a feature is there is what ``backend_getInterface`` and docs/compat/opsi.md say (a module
fleetdeck lacks, such as local imaging, still has no methods). opsiclientd's own offline
backend answers this method the same way (every module available).

The shape is opsiconfd 4.3's (``client_numbers``, ``known_modules``, ``obsolete_modules``,
``available_modules``, ``modules``, ``licenses_checksum``, ``config``, and ``licenses``,
``legacy_modules``, ``dates`` when asked for), with python-opsi-common 4.3's module ids.
"""

from __future__ import annotations

import zlib
from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.query import Query

MODULE_IDS = (
    "directory-connector",
    "dynamic_depot",
    "install_by_shutdown",
    "license_management",
    "linux_agent",
    "local_imaging",
    "macos_agent",
    "monitoring",
    "mysql_backend",
    "roaming_profiles",
    "scalability1",
    "secureboot",
    "swondemand",
    "treeview",
    "uefi",
    "userroles",
    "vista",
    "wim-capture",
    "win-vhd",
    "vpn",
)
OBSOLETE_MODULE_IDS = ("dynamic_depot", "treeview", "vista")
UNLIMITED = 999999999  # opsi's OPSI_LICENSE_CLIENT_NUMBER_UNLIMITED


def client_numbers(ctx: Context) -> dict[str, int]:
    """Computers by platform, as opsi counts its clients: Windows and macOS by the reported
    OS, every other computer (Linux, or not reported yet) as Linux, fleetdeck's agent platform."""
    counts = {"windows": 0, "linux": 0, "macos": 0}
    for c in ctx.services.computers.find(ctx.actor, Query(limit=None)).items:
        name = c.os.lower()
        kind = "windows" if "windows" in name else "macos" if ("mac" in name or "darwin" in name) else "linux"
        counts[kind] += 1
    return {**counts, "all": sum(counts.values())}


def licensing_info(
    ctx: Context,
    licenses: Any = False,
    legacy_modules: Any = False,
    dates: Any = False,
    allow_cache: Any = True,
) -> dict[str, Any]:
    """``allow_cache`` changes nothing: the answer is computed on every call."""
    info: dict[str, Any] = {
        "client_numbers": client_numbers(ctx),
        "known_modules": list(MODULE_IDS),
        "obsolete_modules": list(OBSOLETE_MODULE_IDS),
        "available_modules": list(MODULE_IDS),
        "modules": {
            m: {"available": True, "state": "free", "license_ids": [], "client_number": UNLIMITED}
            for m in MODULE_IDS
        },
        "licenses_checksum": f"{zlib.crc32(b''):x}",  # opsi's checksum over no licenses
        "config": {
            "client_limit_warning_percent": 95,
            "client_limit_warning_absolute": 5,
            "client_limit_warning_days": 30,
            "disable_warning_for_modules": [],
        },
    }
    if licenses:
        info["licenses"] = []
    if legacy_modules:
        info["legacy_modules"] = {}
    if dates:
        info["dates"] = {}
    return info


crud.declare("backend_getLicensingInfo", licensing_info)
