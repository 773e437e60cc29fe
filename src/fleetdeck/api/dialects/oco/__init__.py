"""The OCO client API dialect (``api-client.php``): OCO's JSON-RPC methods over fleetdeck's one
data model, so scripts written for OCO work unchanged.

``DIALECT`` answers ``/api-client.php`` and ``/api/oco`` (the same handler) when the setting
``oco.api_enabled`` is on, and OCO's agents at ``/api-agent.php`` (``agent.py``). Every method
is declared once in ``methods/`` (name, parameters, defaults); that declaration drives dispatch
and ``docs/dialects/oco.md``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleetdeck.api.dialects.oco import agent
from fleetdeck.api.dialects.oco import methods as _methods  # noqa: F401  (registers the methods)
from fleetdeck.api.dialects.oco.envelope import endpoint
from fleetdeck.api.dialects.oco.registry import METHODS
from fleetdeck.api.dialects.oco.settings import SETTINGS
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, sub_app

PATHS = ("/api-client.php", "/api/oco")
METHODS_HTTP = ["POST", "GET", "PUT", "PATCH", "DELETE"]  # OCO checks the rest, not the verb

__all__ = ["DIALECT", "METHODS", "PATHS"]


def _internal_error(request: Request, exc: Exception) -> Response:
    return Response(status_code=500)  # what PHP answers on a fatal error: no body


def build(deps: DialectDeps) -> Starlette:
    handler = endpoint(deps)
    routes = [Route(path, handler, methods=METHODS_HTTP, name=f"oco:{path}") for path in PATHS]
    # OCO's agents: GET for package downloads (with a JSON body), POST for the rest
    routes.append(Route(agent.PATH, agent.endpoint(deps.services), methods=["GET", "POST"], name="oco:agent"))
    return sub_app(routes, _internal_error)


DIALECT = Dialect(name="oco", build=build, settings=SETTINGS, summary="OCO client API (api-client.php)")
