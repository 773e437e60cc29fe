"""The i-doit JSON-RPC dialect (``/src/jsonrpc.php``): i-doit's CMDB API over fleetdeck's one
data model, where every computer is a CMDB object fed by its agent's live inventory.

``DIALECT`` answers when ``idoit.api_enabled`` is on and a request brings the API key
``idoit.api_key``. Every method is declared once in ``methods/``; that declaration drives
dispatch and ``docs/compat/idoit.md`` (``python -m fleetdeck.api.dialects.idoit``).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleetdeck.api.dialects.idoit import methods as _methods  # noqa: F401  (registers the methods)
from fleetdeck.api.dialects.idoit.envelope import _error, _send, endpoint
from fleetdeck.api.dialects.idoit.errors import Code, IdoitError
from fleetdeck.api.dialects.idoit.registry import METHODS
from fleetdeck.api.dialects.idoit.settings import SETTINGS
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, sub_app

PATH = "/src/jsonrpc.php"

__all__ = ["DIALECT", "METHODS", "PATH"]


def _internal_error(request: Request, exc: Exception) -> Response:
    return _send(
        _error(None, IdoitError(Code.INTERNAL_ERROR, "An unexpected error occurred; it has been logged."))
    )


def build(deps: DialectDeps) -> Starlette:
    routes = [Route(PATH, endpoint(deps), methods=["POST", "GET", "PUT", "OPTIONS"], name="idoit:jsonrpc")]
    return sub_app(routes, _internal_error)


DIALECT = Dialect(
    name="idoit", build=build, settings=SETTINGS, summary="i-doit JSON-RPC API (src/jsonrpc.php)"
)
