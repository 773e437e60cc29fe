"""The opsi JSON-RPC dialect (``/rpc`` as opsiconfd 4.3 serves it) over fleetdeck's one data model.

``mount(app, services)`` adds ``/rpc`` (and ``/rpc/...``), ``/session/logout`` and
``/auth/logout``. Every method is declared once in ``methods/``; that declaration drives
dispatch, ``backend_getInterface`` and ``docs/compat/opsi.md``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from fleetdeck.api.dialects.opsi import methods as _methods  # noqa: F401  (registers the methods)
from fleetdeck.api.dialects.opsi.auth import Sessions
from fleetdeck.api.dialects.opsi.endpoint import logout_endpoint, rpc_endpoint
from fleetdeck.api.dialects.opsi.registry import METHODS
from fleetdeck.core.services import Services

NAME = "opsi"

__all__ = ["METHODS", "NAME", "mount"]


def mount(app: Starlette, services: Services) -> None:
    sessions = Sessions()
    rpc = rpc_endpoint(services, sessions)
    logout = logout_endpoint(sessions)
    for path in ("/rpc", "/rpc/{rest:path}"):
        app.router.routes.append(Route(path, rpc, methods=["GET", "POST", "HEAD"], name=f"opsi:{path}"))
    for path in ("/session/logout", "/auth/logout"):
        app.router.routes.append(Route(path, logout, methods=["GET", "POST"], name=f"opsi:{path}"))
