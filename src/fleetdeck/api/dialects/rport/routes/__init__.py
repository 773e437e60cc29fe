"""The route table (``registry.ROUTES``) as Starlette routes under a prefix, and rportd's
answers for a path it has not (404) or a method a path does not take (405)."""

from __future__ import annotations

from collections import defaultdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fleetdeck.api.dialects.rport import ws
from fleetdeck.api.dialects.rport.envelope import endpoint
from fleetdeck.api.dialects.rport.errors import error_response
from fleetdeck.api.dialects.rport.registry import ROUTES, RouteDef
from fleetdeck.api.kit.dialect import DialectDeps

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _dispatch(deps: DialectDeps, prefix: str, specs: list[RouteDef]) -> Route:
    handlers = {spec.method: endpoint(deps, prefix, spec) for spec in specs}

    async def handle(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return error_response(405, "method not allowed", f"{request.method} is not allowed here")
        return await handler(request)

    return Route(prefix + specs[0].path, handle, methods=ALL_METHODS)


def build_routes(deps: DialectDeps, prefix: str) -> list[BaseRoute]:
    """One route per path (every method on it), so a known path with another method is 405,
    and any other path under the prefix is rportd's 404."""
    by_path: dict[str, list[RouteDef]] = defaultdict(list)
    for spec in ROUTES:
        by_path[spec.path].append(spec)
    routes: list[BaseRoute] = [_dispatch(deps, prefix, specs) for specs in by_path.values()]
    routes += ws.routes(deps, prefix)
    routes.append(Route(prefix + "/{rest:path}", _not_found, methods=ALL_METHODS))
    return routes


async def _not_found(request: Request) -> Response:
    return error_response(404, "not found", f"no such path: {request.url.path}")
