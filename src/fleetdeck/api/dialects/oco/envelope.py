"""OCO's HTTP envelope (``api-client.php``), with OCO's order of checks:

1. API disabled (setting ``oco.api_enabled``)      -> 405, empty body
2. ``Content-Type`` not exactly ``application/json`` -> 400, empty body
3. HTTP Basic auth of a fleetdeck user fails        -> 401, ``HTTP Basic Auth: <reason>``
4. body is not JSON (or not an object/list)         -> 400 ("Payload Corrupt"), empty body
5. any element lacks ``jsonrpc: "2.0"``, ``method`` or a non-null ``id`` -> the whole request 400

Then every element runs on its own (a batch answers a list in the same order); its failures are
JSON-RPC errors with HTTP 200 (``errors.py``). ``params.api_key`` is compared with the secret
setting ``oco.api_key`` when that is set; arguments are in ``params.data``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from fleetdeck.api.dialects.oco.errors import Code, OcoError, error_object, language, text
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.rpc import ParamsInvalid
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed, TooManyAttempts
from fleetdeck.core.services import Services

VIA = "oco"
ENABLED_KEY = "oco.api_enabled"
API_KEY = "oco.api_key"
CONTENT_TYPE = "application/json"


class Gate:
    """The two OCO settings, read from core's settings store (cached there) on every request."""

    def __init__(self, services: Services) -> None:
        self._settings = services.settings

    def enabled(self) -> bool:
        return bool(self._settings.value(ENABLED_KEY))

    def api_key_accepted(self, candidate: object) -> bool:
        """True when no API key is set, or ``candidate`` matches it (constant time, in core)."""
        if not self._settings.is_set(API_KEY):
            return True
        return isinstance(candidate, str) and self._settings.matches_secret(API_KEY, candidate)


def _authenticate(services: Services, authorization: str | None, source: str) -> Actor:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        raise AuthenticationFailed("HTTP Basic credentials required", reason="login_failed")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationFailed("malformed Basic credentials", reason="login_failed") from exc
    username, _, secret = decoded.partition(":")
    if not username.strip():
        raise AuthenticationFailed("user name is empty", reason="username_cannot_be_empty")
    if not secret or "\x00" in decoded:
        raise AuthenticationFailed("password is empty", reason="login_failed")
    return services.users.authenticate_basic(username, secret, source, via=VIA)


def _unauthorized(exc: AuthenticationFailed, lang: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="OCO Client API"'}
    if isinstance(exc, TooManyAttempts):
        key = "too_many_attempts"
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    else:
        reason = exc.detail.get("reason")
        key = reason if isinstance(reason, str) else "login_failed"
    return PlainTextResponse(f"HTTP Basic Auth: {text(key, lang)}", status_code=401, headers=headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_payload(body: bytes) -> list[dict[str, Any]] | dict[str, Any] | None:
    """The request object or batch, or None when OCO would answer 400 Payload Corrupt."""
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    elements = payload if isinstance(payload, list) else [payload]
    if not elements:
        return None
    for e in elements:
        if not isinstance(e, dict) or e.get("jsonrpc") != "2.0" or e.get("id") is None:
            return None
        if not isinstance(e.get("method"), str):
            return None
    return payload if isinstance(payload, list | dict) else None


def _object(value: Any) -> Mapping[str, Any] | None:
    """``params`` and ``data``: an object; null and ``[]`` (PHP's empty array) mean empty."""
    if value is None or value == []:
        return {}
    return value if isinstance(value, dict) else None


def run_element(services: Services, actor: Actor, lang: str, gate: Gate, element: dict[str, Any]) -> Any:
    ctx = Context(services=services, actor=actor, lang=lang)
    try:
        params = _object(element.get("params"))
        if params is None:
            raise OcoError(Code.INVALID_REQUEST, "invalid_input")
        if not gate.api_key_accepted(params.get("api_key")):
            raise OcoError(Code.PERMISSION_DENIED, "permission_denied")
        method = METHODS.get(element["method"])
        if method is None:
            raise OcoError(Code.INVALID_REQUEST, "unknown_method")
        data = _object(params.get("data"))
        if data is None:
            raise OcoError(Code.INVALID_REQUEST, "invalid_input")
        try:
            kwargs = method.bind(data)
        except ParamsInvalid as exc:
            raise OcoError(
                Code.INVALID_REQUEST, message=f"{text('invalid_input', lang)} ({exc.message})"
            ) from None
        result = method.func(ctx, **kwargs)
    except Exception as exc:  # every failure of one element is that element's error object
        return {"jsonrpc": "2.0", "id": element["id"], "error": error_object(exc, lang)}
    return {"jsonrpc": "2.0", "id": element["id"], "result": {"success": True, "data": result}}


def endpoint(services: Services) -> Callable[[Request], Awaitable[Response]]:
    gate = Gate(services)

    async def handle(request: Request) -> Response:
        if not await run_in_threadpool(gate.enabled):
            return Response(status_code=405)
        if request.headers.get("content-type") != CONTENT_TYPE:
            return Response(status_code=400)
        lang = language(request.headers.get("accept-language"))
        source = request.client.host if request.client else ""
        try:
            actor = await run_in_threadpool(
                _authenticate, services, request.headers.get("authorization"), source
            )
        except AuthenticationFailed as exc:
            return _unauthorized(exc, lang)
        payload = parse_payload(await request.body())
        if payload is None:
            return Response(status_code=400)
        elements = payload if isinstance(payload, list) else [payload]

        def run_all() -> list[Any]:
            return [run_element(services, actor, lang, gate, e) for e in elements]

        answers = await run_in_threadpool(run_all)
        return JSONResponse(answers if isinstance(payload, list) else answers[0])

    return handle
