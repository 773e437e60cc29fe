"""The RemotePC Enterprise (MSP) API dialect: RemotePC's REST endpoints under
``/rpcnew/api/msp/`` over fleetdeck's one data model (end users, computers assigned to them,
flat groups, comments), so MSP scripts written for RemotePC work against fleetdeck.

Switched on by ``remotepc.api_enabled``; callers send the account key ``remotepc.api_key`` as a
Bearer token, from an address in ``remotepc.allowed_ips`` when that is set. Every endpoint is
declared once in ``methods/``; that declaration drives the routes and ``docs/compat/remotepc.md``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.dialects.remotepc import methods as _methods  # noqa: F401  (registers the endpoints)
from fleetdeck.api.dialects.remotepc.envelope import refuse
from fleetdeck.api.dialects.remotepc.registry import BASE, ENDPOINTS
from fleetdeck.api.dialects.remotepc.routes import routes
from fleetdeck.api.dialects.remotepc.settings import SETTINGS
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, sub_app

__all__ = ["BASE", "DIALECT", "ENDPOINTS"]


def _internal_error(request: Request, exc: Exception) -> Response:
    return refuse(e.RemotePcError(500, e.INTERNAL))


def build(deps: DialectDeps) -> Starlette:
    return sub_app(routes(deps), _internal_error)


DIALECT = Dialect(
    name="remotepc",
    build=build,
    settings=SETTINGS,
    summary="RemotePC Enterprise (MSP) API (/rpcnew/api/msp/)",
)


def compat_table() -> str:
    """The endpoint table of ``docs/compat/remotepc.md``."""
    lines = ["| endpoint | method | path | source |", "|---|---|---|---|"]
    for ep in ENDPOINTS.items.values():
        lines.append(f"| {ep.title} | {ep.method} | `{BASE}{ep.path}` | {ep.source} |")
    return "\n".join(lines) + "\n"
