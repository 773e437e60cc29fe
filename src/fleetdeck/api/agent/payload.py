"""``GET /agent/v1/payload/{package_id}``: agents download package payloads here.

Authentication: ``Authorization: Bearer <uid>:<key>`` (the agent's own credentials). A computer
may fetch a payload only while it has a pending job for that package. The ZIP is streamed with
Range support (resumable downloads); ``X-Payload-SHA256`` carries its digest.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from fleetdeck.core.services import Services

log = logging.getLogger("fleetdeck.agents")

PATH = "/agent/v1/payload/{package_id:int}"
SHA_HEADER = "X-Payload-SHA256"


def _credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    uid, sep, key = value.strip().partition(":")
    if scheme.lower() != "bearer" or not sep or not uid or not key:
        return None
    return uid, key


def payload_route(services: Services) -> Route:
    async def endpoint(request: Request) -> Response:
        creds = _credentials(request)
        if creds is None:
            return PlainTextResponse("agent credentials required", 401, {"WWW-Authenticate": "Bearer"})
        package_id = int(request.path_params["package_id"])
        try:
            ident = await asyncio.to_thread(services.enrollment.authenticate_agent, *creds)
            ref = await asyncio.to_thread(services.packages.payload_for_agent, ident.computer_id, package_id)
        except AuthenticationFailed:
            return PlainTextResponse("authentication failed", 401, {"WWW-Authenticate": "Bearer"})
        except PermissionDenied as exc:
            return PlainTextResponse(exc.message, 403)
        except NotFound as exc:
            return PlainTextResponse(exc.message, 404)
        return FileResponse(
            ref.path,
            media_type="application/zip",
            filename=f"package-{package_id}.zip",
            headers={SHA_HEADER: ref.sha256},
        )

    return Route(PATH, endpoint, methods=["GET", "HEAD"])
