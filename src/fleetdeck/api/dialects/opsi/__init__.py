"""The opsi JSON-RPC dialect (``/rpc`` as opsiconfd 4.3 serves it) over fleetdeck's one data model.

``DIALECT`` answers ``/rpc`` (and ``/rpc/...``), ``/session/logout`` and ``/auth/logout``, and
serves opsi 4.3's message bus at ``/messagebus/v1`` (``messagebus.py``). Every
method is declared once in ``methods/``; that declaration drives dispatch,
``backend_getInterface`` and ``docs/compat/opsi.md``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fleetdeck.api.dialects.opsi import codec, messagebus
from fleetdeck.api.dialects.opsi import methods as _methods  # noqa: F401  (registers the methods)
from fleetdeck.api.dialects.opsi.auth import Sessions
from fleetdeck.api.dialects.opsi.envelope import base_headers, logout_endpoint, render_error, rpc_endpoint
from fleetdeck.api.dialects.opsi.errors import INTERNAL
from fleetdeck.api.dialects.opsi.interface import markdown
from fleetdeck.api.dialects.opsi.registry import METHODS
from fleetdeck.api.dialects.opsi.settings import SETTINGS
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, sub_app

__all__ = ["DIALECT", "METHODS", "compat_document"]


def _internal_error(request: Request, exc: Exception) -> Response:
    body = codec.dumps(render_error(0, False, "BackendError", INTERNAL), "json")
    return Response(body, status_code=500, media_type=codec.JSON_TYPE, headers=base_headers())


def compat_document() -> str:
    """docs/compat/opsi.md: the methods, then the message bus's message types."""
    return markdown(list(METHODS)) + messagebus.markdown()


def build(deps: DialectDeps) -> Starlette:
    sessions = Sessions()
    rpc = rpc_endpoint(deps, sessions)
    logout = logout_endpoint(sessions)
    routes = [
        Route(path, rpc, methods=["GET", "POST", "HEAD"], name=f"opsi:{path}")
        for path in ("/rpc", "/rpc/{rest:path}")
    ]
    routes += [
        Route(path, logout, methods=["GET", "POST"], name=f"opsi:{path}")
        for path in ("/session/logout", "/auth/logout")
    ]
    return sub_app([*routes, *messagebus.routes(deps, sessions)], _internal_error)


DIALECT = Dialect(name="opsi", build=build, settings=SETTINGS, summary="opsi JSON-RPC (/rpc)")
