"""Methods of i-doit's API that fleetdeck does not answer yet: declared, so a client gets a
clear "not implemented" (-32601 with the reason) instead of an unknown method, and listed in
``docs/compat/idoit.md``."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.core.errors import NotImplementedYet

MISSING = (
    "cmdb.location_tree.read",
    "cmdb.impact.read",
    "cmdb.workstation_components.read",
    "cmdb.condition.read",
    "cmdb.status.read",
    "cmdb.status.save",
    "cmdb.status.delete",
    "idoit.addons.read",
    "idoit.license.read",
)


def _missing(name: str) -> None:
    def method(ctx: Context, **params: Any) -> Any:
        raise NotImplementedYet(
            f"{name} is not implemented by this fleetdeck server yet (docs/compat/idoit.md)."
        )

    method.__doc__ = f"{name}: not implemented yet."
    method.__name__ = name.replace(".", "_")
    METHODS.method(name, status="not_implemented")(method)


for _name in MISSING:
    _missing(_name)
