"""opsi's service methods: the interface, who am I, and the server's own facts."""

from __future__ import annotations

from typing import Any

from fleetdeck import __version__
from fleetdeck.api.dialects.opsi.interface import record
from fleetdeck.api.dialects.opsi.objects.hosts import domain
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.core.authz import Perm, Role

LOG_TYPES = ["bootimage", "clientconnect", "instlog", "opsiconfd", "userlogin", "winpe"]


@METHODS.method("backend_getInterface")
def backend_get_interface(ctx: Context) -> list[dict[str, Any]]:
    """Every method fleetdeck answers, in opsiconfd's record format (sorted by name)."""
    return sorted((record(m) for m in METHODS), key=lambda r: str(r["name"]))


@METHODS.method("backend_info")
def backend_info(ctx: Context) -> dict[str, Any]:
    return {
        "opsiVersion": "4.3.0.0",
        "modules": {"valid": True, "customer": "fleetdeck"},
        "realmodules": {},
        "server": f"fleetdeck {__version__}",
    }


@METHODS.method("backend_exit")
def backend_exit(ctx: Context) -> None:
    """Ends the session (the transport drops the cookie's session after the call)."""
    return


@METHODS.method("accessControl_authenticated")
def access_control_authenticated(ctx: Context) -> bool:
    return True


@METHODS.method("accessControl_userIsAdmin")
def access_control_user_is_admin(ctx: Context) -> bool:
    return not ctx.is_client and ctx.actor.role is Role.ADMIN and not ctx.actor.read_only


@METHODS.method("accessControl_userIsReadOnlyUser")
def access_control_user_is_read_only(ctx: Context) -> bool:
    return ctx.actor.read_only or not ctx.actor.can(Perm.MANAGE_COMPUTERS)


@METHODS.method("accessControl_getUserGroups")
def access_control_get_user_groups(ctx: Context) -> list[str]:
    """opsi answers the user's Unix groups; fleetdeck's equivalent is the role."""
    return [] if ctx.is_client else [ctx.actor.role.value]


@METHODS.method("getDomain")
def get_domain(ctx: Context) -> str:
    return domain(ctx)


@METHODS.method("backend_getSystemConfiguration")
def backend_get_system_configuration(ctx: Context) -> dict[str, Any]:
    return {"log": {"size_limit": 5_000_000, "keep_rotated": 1, "types": LOG_TYPES}}
