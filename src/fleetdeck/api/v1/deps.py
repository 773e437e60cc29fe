"""Annotated dependencies: the services, the bus and the authenticated caller."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from fleetdeck.bus import Bus
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.ports import JobWatch
from fleetdeck.core.services import Services

VIA = "api"


def get_services(conn: HTTPConnection) -> Services:
    return cast(Services, conn.app.state.services)


def get_bus(conn: HTTPConnection) -> Bus:
    return cast(Bus, conn.app.state.bus)


def get_watch(conn: HTTPConnection) -> JobWatch:
    return cast(JobWatch, conn.app.state.watch)


ServicesDep = Annotated[Services, Depends(get_services)]
BusDep = Annotated[Bus, Depends(get_bus)]


class _BearerDoc(HTTPBearer):
    """Declares the scheme in OpenAPI (the docs' Authorize button); the header is parsed below."""

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return None


class _BasicDoc(HTTPBasic):
    async def __call__(self, request: HTTPConnection) -> HTTPBasicCredentials | None:  # type: ignore[override]
        return None


bearer_scheme = _BearerDoc(
    scheme_name="bearer",
    auto_error=False,
    description="A login JWT (POST /auth/login) or a personal API token (fdt_...).",
)
basic_scheme = _BasicDoc(
    scheme_name="basic", auto_error=False, description="User name and password, or user name and API token."
)


def source_of(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


def authenticate(services: Services, authorization: str | None, source: str) -> Actor:
    """``Authorization: Bearer <jwt|api token>`` or ``Basic <user:password|user:api token>``."""
    if not authorization:
        raise AuthenticationFailed("authentication required")
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not credentials or "\x00" in credentials:
        raise AuthenticationFailed("malformed Authorization header")
    if scheme.lower() == "bearer":
        return services.users.authenticate_bearer(credentials, source, via=VIA)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise AuthenticationFailed("malformed Basic credentials") from exc
        username, sep, secret = decoded.partition(":")
        if not sep or not username or "\x00" in decoded:
            raise AuthenticationFailed("malformed Basic credentials")
        return services.users.authenticate_basic(username, secret, source, via=VIA)
    raise AuthenticationFailed("unsupported authorization scheme; use Bearer or Basic")


def current_actor(
    request: Request,
    services: ServicesDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    _basic: Annotated[HTTPBasicCredentials | None, Security(basic_scheme)],
) -> Actor:
    # A plain ``def``: FastAPI runs it in the threadpool, so argon2 never blocks the event loop.
    return authenticate(services, request.headers.get("authorization"), source_of(request))


CurrentActor = Annotated[Actor, Depends(current_actor)]
