"""The routes of the RemotePC dialect: one per declared endpoint under ``/rpcnew/api/msp/``,
and a catch-all below it that answers unknown paths (404) and wrong HTTP methods (405) in
RemotePC's error envelope rather than fleetdeck's own."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.dialects.remotepc.envelope import handler, refuse
from fleetdeck.api.dialects.remotepc.registry import BASE, ENDPOINTS
from fleetdeck.api.kit.dialect import DialectDeps

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def routes(deps: DialectDeps) -> list[BaseRoute]:
    out: list[BaseRoute] = [
        Route(BASE + ep.path, handler(deps, ep), methods=[ep.method], name=f"remotepc:{ep.path}")
        for ep in ENDPOINTS.items.values()
    ]

    async def elsewhere(request: Request) -> Response:
        path = request.url.path.removeprefix(BASE)
        if ENDPOINTS.get(path) is not None:
            return refuse(e.RemotePcError(405, e.METHOD_NOT_ALLOWED))
        return refuse(e.RemotePcError(404, e.NOT_FOUND_PATH))

    out.append(Route(BASE + "{rest:path}", elsewhere, methods=ALL_METHODS, name="remotepc:other"))
    return out
