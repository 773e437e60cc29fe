"""The OCO client API dialect (``api-client.php``): OCO's JSON-RPC methods over fleetdeck's one
data model, so scripts written for OCO work unchanged.

``mount(app, services)`` adds ``POST /api-client.php`` and ``POST /api/oco`` (the same handler).
Every method is declared once in ``methods/`` (name, parameters, defaults); that declaration
drives dispatch and ``docs/dialects/oco.md``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from fleetdeck.api.dialects.oco import methods as _methods  # noqa: F401  (registers the methods)
from fleetdeck.api.dialects.oco.envelope import endpoint
from fleetdeck.api.dialects.oco.registry import METHODS
from fleetdeck.core.services import Services

NAME = "oco"
PATHS = ("/api-client.php", "/api/oco")
METHODS_HTTP = ["POST", "GET", "PUT", "PATCH", "DELETE"]  # OCO checks the rest, not the verb

__all__ = ["METHODS", "NAME", "PATHS", "mount"]


def mount(app: Starlette, services: Services) -> None:
    handler = endpoint(services)
    for path in PATHS:
        app.router.routes.append(Route(path, handler, methods=METHODS_HTTP, name=f"oco:{path}"))
