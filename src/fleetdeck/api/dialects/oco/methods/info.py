"""``oco.info``: what server this is."""

from __future__ import annotations

from typing import Any

from fleetdeck import __version__
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.core.authz import Perm


@METHODS.method("oco.info")
def info(ctx: Context) -> dict[str, Any]:
    """Server version and environment; fleetdeck has no license limits, so those are null."""
    ctx.actor.require(Perm.READ)
    return {
        "version": __version__,
        "wol_satellites": None,
        "extensions": [],
        "license_computers": None,
        "license_company": None,
        "license_expiration": None,
        "webserver": "fleetdeck",
        "database": ctx.services.database,
        "php": None,
    }
