"""The rportd API dialect: rportd's REST API (``/api/v1/...``) over fleetdeck's one data model,
so rport's command-line client, its web frontend and scripts written for it work unchanged.

``DIALECT`` answers at ``/rport/api/v1/...`` on the main port (``/api/v1`` is fleetdeck's own),
and, when the setting ``rport.listen`` names an address, at rportd's native paths ``/api/v1/...``
on a listener of its own there (``listener``; the composition root starts it). Every operation is
declared once in ``methods/`` (``registry.route``); ``docs/compat/rport.md`` lists what is built.
"""

from __future__ import annotations

from starlette.applications import Starlette

from fleetdeck.api.dialects.rport import methods as _methods  # noqa: F401  (registers the routes)
from fleetdeck.api.dialects.rport.errors import internal_error
from fleetdeck.api.dialects.rport.registry import ROUTES
from fleetdeck.api.dialects.rport.routes import build_routes
from fleetdeck.api.dialects.rport.settings import LISTEN_KEY, SETTINGS
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, Listener, sub_app

PREFIX = "/rport/api/v1"  # on the main port
NATIVE_PREFIX = "/api/v1"  # on the dedicated listener

__all__ = ["DIALECT", "NATIVE_PREFIX", "PREFIX", "ROUTES"]


def build(deps: DialectDeps) -> Starlette:
    return sub_app(build_routes(deps, PREFIX), internal_error)


def listener(deps: DialectDeps) -> Listener | None:
    """rportd's native paths on ``rport.listen`` (host:port), if set."""
    address = str(deps.services.settings.value(LISTEN_KEY) or "").strip()
    if not address:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{LISTEN_KEY} must be host:port, not {address!r}")
    return Listener(host.strip("[]"), int(port), sub_app(build_routes(deps, NATIVE_PREFIX), internal_error))


DIALECT = Dialect(
    name="rport", build=build, settings=SETTINGS, summary="rportd REST API (/rport/api/v1)", listener=listener
)
