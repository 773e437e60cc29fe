"""opsiconfd's own admin methods, where fleetdeck has the same thing to show:
``service_getConfig`` (the server's runtime settings) and ``service_getDiagnosticData`` (facts
about the server for a support request). Both are for administrators only, as in opsiconfd.

``service_setAppState`` and ``service_updateConfig`` are not answered (their reasons are in
``interface.OUT_OF_SCOPE``): fleetdeck has no maintenance mode to switch, and its server
options are fixed at start, while its runtime settings have their own API.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from fleetdeck import __version__
from fleetdeck.api.dialects.opsi.errors import BackendPermissionDeniedError
from fleetdeck.api.dialects.opsi.methods.general import health_check
from fleetdeck.api.dialects.opsi.methods.licensing import client_numbers
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.products import packages
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.authz import Perm


def _admin(ctx: Context) -> None:
    if ctx.is_client:
        raise BackendPermissionDeniedError("Access denied: for administrators only")
    ctx.actor.require(Perm.MANAGE_SETTINGS)


def get_config(ctx: Context) -> dict[str, Any]:
    """``{key: value}`` of fleetdeck's runtime settings (``fleetdeck settings``); secrets
    come back masked, as they do everywhere else."""
    _admin(ctx)
    return {s.key: s.value for s in ctx.services.settings.list(ctx.actor)}


def _os_release() -> dict[str, str]:
    try:
        return dict(platform.freedesktop_os_release())
    except OSError:
        return {}


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def get_diagnostic_data(ctx: Context) -> dict[str, Any]:
    """The part of opsiconfd's diagnostic record fleetdeck can fill honestly: the server and its
    platform, the settings, the clients and products, and the health check."""
    _admin(ctx)
    return {
        "system": {
            "server": f"fleetdeck {__version__}",
            "hostname": platform.node(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "processor": {"model": platform.processor(), "cpu_count": os.cpu_count(), "load_avg": _load()},
        "os_release": _os_release(),
        "config": get_config(ctx),
        "clients": client_numbers(ctx),
        "products": len({p.family_key for p in packages(ctx)}),
        "health_check": health_check(ctx),
    }


crud.declare("service_getConfig", get_config)
crud.declare("service_getDiagnosticData", get_diagnostic_data)
