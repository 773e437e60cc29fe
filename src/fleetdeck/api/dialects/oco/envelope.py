"""OCO's HTTP envelope (``api-client.php``), with OCO's order of checks:

1. API disabled (setting ``oco.api_enabled``)      -> 405, empty body
2. ``Content-Type`` not exactly ``application/json`` -> 400, empty body
3. HTTP Basic auth of a fleetdeck user fails        -> 401, ``HTTP Basic Auth: <reason>``
4. body is not JSON (or not an object/list)         -> 400 ("Payload Corrupt"), empty body
5. any element lacks ``jsonrpc: "2.0"``, ``method`` or a non-null ``id`` -> the whole request 400

Then the kit's JSON-RPC engine runs every element on its own (a batch answers a list in the same
order) under ``OcoPolicy``; an element's failures are JSON-RPC errors with HTTP 200
(``errors.py``). ``params.api_key`` is compared with the secret setting ``oco.api_key`` when that
is set; arguments are in ``params.data``.

OCO clients send their password with every call; the kit's credential cache makes every call
after the first cost what a token costs instead of an argon2 verification.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fleetdeck.api.dialects.oco.errors import Code, OcoError, error_object, language, reason_key, text
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.oco.render import typed
from fleetdeck.api.dialects.oco.settings import API_KEY, ENABLED_KEY, NATIVE, VALUE_TYPES_KEY
from fleetdeck.api.kit.bodies import BodyInvalid, decode_json, encode_json
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.api.kit.jsonrpc import Answer, Call, Engine, Policy, Rejected
from fleetdeck.api.kit.registry import Method
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed, TooManyAttempts
from fleetdeck.core.services import Services

VIA = "oco"
CONTENT_TYPE = "application/json"


class Gate:
    """The OCO settings, read from core's settings store (cached there) on every request."""

    def __init__(self, services: Services) -> None:
        self._settings = services.settings

    def enabled(self) -> bool:
        return bool(self._settings.value(ENABLED_KEY))

    def native_values(self) -> bool:
        """``oco.value_types`` is ``native``: JSON integers as OCO on PHP >= 8.1 sends them."""
        return bool(self._settings.value(VALUE_TYPES_KEY) == NATIVE)

    def state(self) -> tuple[bool, bool]:
        """Both switches in one trip to a worker thread: enabled, native values."""
        return self.enabled(), self.native_values()

    def api_key_accepted(self, candidate: object) -> bool:
        """True when no API key is set, or ``candidate`` matches it (constant time, in core)."""
        if not self._settings.is_set(API_KEY):
            return True
        return isinstance(candidate, str) and self._settings.matches_secret(API_KEY, candidate)


def _object(value: Any) -> Mapping[str, Any] | None:
    """``params`` and ``data``: an object; null and ``[]`` (PHP's empty array) mean empty."""
    if value is None or value == []:
        return {}
    return value if isinstance(value, dict) else None


class OcoPolicy(Policy[Context]):
    registry = METHODS

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def elements(self, payload: Any) -> tuple[Sequence[Any], bool]:
        batch = isinstance(payload, list)
        elements = payload if batch else [payload]
        if not elements or not all(_well_formed(e) for e in elements):
            raise Rejected(Answer(status=400, empty=True))  # OCO refuses the whole request
        return elements, batch

    def parse(self, element: Any) -> Call:
        return Call(element["id"], element["method"], element.get("params"))

    def refuse_batch(self, count: int) -> Answer:
        return Answer(status=400, empty=True)  # as any request OCO cannot take

    def admit(self, ctx: Context, call: Call) -> None:
        params = _object(call.params)
        if params is None:
            raise OcoError(Code.INVALID_REQUEST, "invalid_input")
        if not self.gate.api_key_accepted(params.get("api_key")):
            raise OcoError(Code.PERMISSION_DENIED, "permission_denied")

    def lookup(self, call: Call) -> Method:
        method = self.registry.get(call.method)
        if method is None:
            raise OcoError(Code.INVALID_REQUEST, "unknown_method")
        return method

    def arguments(self, call: Call, method: Method) -> tuple[Sequence[Any], dict[str, Any]]:
        data = _object((_object(call.params) or {}).get("data"))
        if data is None:
            raise OcoError(Code.INVALID_REQUEST, "invalid_input")
        return (), dict(data)

    def result(self, ctx: Context, call: Call, value: Any) -> Any:
        data = typed(value, ctx.native)
        return {"jsonrpc": "2.0", "id": call.id, "result": {"success": True, "data": data}}

    def error(self, ctx: Context | None, call: Call | None, element: Any, exc: BaseException) -> Any:
        lang = ctx.lang if ctx is not None else "en"
        rpc_id = call.id if call is not None else None
        return {"jsonrpc": "2.0", "id": rpc_id, "error": error_object(exc, lang)}


def _well_formed(element: Any) -> bool:
    return (
        isinstance(element, dict)
        and element.get("jsonrpc") == "2.0"
        and element.get("id") is not None
        and isinstance(element.get("method"), str)
    )


def _credentials(authorization: str | None) -> tuple[str, str]:
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
    return username, secret


def _unauthorized(exc: AuthenticationFailed, lang: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="OCO Client API"'}
    if isinstance(exc, TooManyAttempts):
        key = "too_many_attempts"
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    else:
        key = reason_key(exc) or "login_failed"
    return PlainTextResponse(f"HTTP Basic Auth: {text(key, lang)}", status_code=401, headers=headers)


def decode(body: bytes) -> Any:
    """The decoded body, or ``Rejected`` (400 Payload Corrupt) when it is not a JSON object or
    array, or holds what fleetdeck cannot take (NaN, 1e400, a lone surrogate: kit ``bodies``)."""
    try:
        payload = decode_json(body)
    except BodyInvalid:
        raise Rejected(Answer(status=400, empty=True)) from None
    if not isinstance(payload, list | dict):
        raise Rejected(Answer(status=400, empty=True))
    return payload


def endpoint(deps: DialectDeps) -> Callable[[Request], Awaitable[Response]]:
    services = deps.services
    gate = Gate(services)
    engine = Engine(OcoPolicy(gate), deps.limits)

    def authenticate(authorization: str | None, source: str) -> Actor:
        username, secret = _credentials(authorization)
        return deps.credentials.authenticate_basic(services.users, username, secret, source, VIA)

    async def handle(request: Request) -> Response:
        enabled, native = await run_in_threadpool(gate.state)
        if not enabled:
            return Response(status_code=405)
        if request.headers.get("content-type") != CONTENT_TYPE:
            return Response(status_code=400)
        lang = language(request.headers.get("accept-language"))
        source = request.client.host if request.client else ""
        try:
            actor = await run_in_threadpool(authenticate, request.headers.get("authorization"), source)
        except AuthenticationFailed as exc:
            return _unauthorized(exc, lang)
        try:
            payload = decode(await request.body())
        except Rejected as rejected:
            return _send(rejected.answer)
        ctx = Context(services=services, actor=actor, lang=lang, native=native)
        return _send(await engine.handle(ctx, payload, caller=f"user:{actor.user_id}"))

    return handle


def _send(answer: Answer) -> Response:
    if answer.empty:
        return Response(status_code=answer.status)
    return Response(encode_json(answer.body), status_code=answer.status, media_type=CONTENT_TYPE)
