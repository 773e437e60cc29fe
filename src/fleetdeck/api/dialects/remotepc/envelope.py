"""RemotePC's HTTP envelope, with its order of checks:

1. API disabled (``remotepc.api_enabled``)          -> 403 "Invalid user plan" (the account
   has no API, as a RemotePC account without an Enterprise plan)
2. caller's address not in ``remotepc.allowed_ips``  -> 403 "Invalid user permission"
3. ``Authorization: Bearer <key>`` missing or not ``remotepc.api_key`` (an empty key refuses
   every call) -> 401 "Invalid user"; each refusal is audited
4. parameters: the JSON body (trailing commas tolerated, ``schemas``), for GETs merged with the
   query string -> 400 "Invalid parameters" when it is not a JSON object
5. the endpoint (``methods/``), in a worker thread within the caller's share

Calls with the key act as the account's admin: an ``Actor`` named ``remotepc api key`` with the
admin role, via ``remotepc``, from the caller's address, so every change is in the audit log
like any other. Answers are ``{status, code, message}`` or the error envelope (``errors``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.dialects.remotepc import render
from fleetdeck.api.dialects.remotepc.registry import Context, Endpoint
from fleetdeck.api.dialects.remotepc.schemas import Params, body_object, merged
from fleetdeck.api.dialects.remotepc.settings import ALLOWED_IPS_KEY, API_KEY, ENABLED_KEY
from fleetdeck.api.kit.bodies import encode_json
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.services import Services

VIA = "remotepc"
KEY_ACTOR = "remotepc api key"
MAX_KEY = 512


def answer(status: int, body: object) -> Response:
    return Response(encode_json(body), status_code=status, media_type="application/json")


def refuse(error: e.RemotePcError) -> Response:
    return answer(error.status, e.envelope(error))


def allowed(source: str, networks: Sequence[str]) -> bool:
    """Whether ``source`` is in one of ``networks`` (addresses or CIDR); none listed: any."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    for item in networks:
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


class Gate:
    """Checks 1-3, in one trip to a worker thread (the settings are cached in core)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def admit(self, authorization: str | None, source: str) -> Actor:
        settings = self._services.settings
        if not settings.value(ENABLED_KEY):
            raise e.RemotePcError(403, e.INVALID_PLAN)
        if not allowed(source, settings.value(ALLOWED_IPS_KEY) or []):
            raise e.RemotePcError(403, e.INVALID_PERMISSION)
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if (
            scheme.lower() != "bearer"
            or not key
            or len(key) > MAX_KEY
            or not settings.is_set(API_KEY)
            or not settings.matches_secret(API_KEY, key)
        ):
            anonymous = Actor(user_id=None, username=KEY_ACTOR, role=Role.END_USER, source=source, via=VIA)
            self._services.audit.record(
                anonymous, "auth.login", "api_key", API_KEY, "failed", reason="bad_key"
            )
            raise e.RemotePcError(401, e.INVALID_USER)
        return Actor(user_id=None, username=KEY_ACTOR, role=Role.ADMIN, source=source, via=VIA)


def handler(deps: DialectDeps, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    services = deps.services
    gate = Gate(services)

    async def handle(request: Request) -> Response:
        source = request.client.host if request.client else ""
        raw = await request.body()
        base_url = str(request.base_url).rstrip("/")

        def run() -> object:
            actor = gate.admit(request.headers.get("authorization"), source)
            data = body_object(raw)
            if endpoint.method == "GET":
                data = merged(data, request.query_params.multi_items())
            ctx = Context(services=services, actor=actor, base_url=base_url)
            return endpoint.handler(ctx, Params(data))

        try:
            message = await deps.limits.run(f"remotepc:{source}", run)
        except Exception as exc:
            return refuse(e.describe(exc))
        return answer(200, render.ok(message))

    return handle
