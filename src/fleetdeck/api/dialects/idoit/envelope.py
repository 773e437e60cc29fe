"""i-doit's HTTP envelope (``POST /src/jsonrpc.php``), in i-doit's order of checks:

1. API switched off (``idoit.api_enabled``)     -> -32099, ``data.error`` says so
2. not POST, or ``Content-Type`` not JSON      -> -32600
3. empty body -> -32600; not JSON -> -32700
4. user credentials: ``X-RPC-Auth-Session`` (an ``idoit.login`` session) or
   ``X-RPC-Auth-Username``/``-Password``; a failure is reported by every element, after its
   API key check (-32604)

Every answer is HTTP 200. Then the kit's engine runs each element under ``IdoitPolicy``:
``version`` or ``jsonrpc`` "2.0"; ids are integers or non-empty strings, echoed with their JSON
type (other ids: -32603 with id null); no id = notification, answered with nothing; a batch
with duplicate ids is refused as a whole (-32603), one with different API keys too (-32602);
``params`` must be an object (-32604) holding the API key (``apikey``) and optionally the
language (``language``: en/de), both removed before the method sees its parameters.
Calls without user credentials run as the built-in API user, unless ``idoit.enforce_auth``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fleetdeck.api.dialects.idoit.errors import Code, IdoitError, error_object
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.settings import API_KEY, ENABLED_KEY, ENFORCE_AUTH_KEY, TENANT_KEY
from fleetdeck.api.kit.bodies import BodyInvalid, decode_json, encode_json
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.api.kit.jsonrpc import Answer, Call, Engine, Policy, Rejected
from fleetdeck.api.kit.registry import Method
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.services import Services

VIA = "idoit"
API_USER = "Api System"  # i-doit's built-in person for calls with only the API key
SESSION_HEADER = "X-RPC-Auth-Session"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, X-RPC-Auth-Username, X-RPC-Auth-Password, X-RPC-Auth-Session"
    ),
    "Access-Control-Expose-Headers": SESSION_HEADER,
}
LANGUAGES = ("en", "de")


class Gate:
    """The i-doit settings, read from core's settings store on every request."""

    def __init__(self, services: Services) -> None:
        self._settings = services.settings

    def state(self) -> tuple[bool, bool, str]:
        """enabled, enforce authentication, tenant name: one trip to a worker thread."""
        return (
            bool(self._settings.value(ENABLED_KEY)),
            bool(self._settings.value(ENFORCE_AUTH_KEY)),
            str(self._settings.value(TENANT_KEY) or "fleetdeck"),
        )

    def api_key_accepted(self, candidate: object) -> bool:
        """Only the configured key (compared in constant time in core); none while unset."""
        if not self._settings.is_set(API_KEY):
            return False
        return (
            isinstance(candidate, str)
            and bool(candidate)
            and self._settings.matches_secret(API_KEY, candidate)
        )


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value != ""
    )


def _error(rpc_id: Any, exc: BaseException) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error_object(exc), "id": rpc_id}


class IdoitPolicy(Policy[Context]):
    registry = METHODS

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def elements(self, payload: Any) -> tuple[Sequence[Any], bool]:
        if not isinstance(payload, list):
            return [payload], False
        if not payload:
            raise Rejected(Answer(_error(None, IdoitError(Code.INVALID_REQUEST, "The batch is empty."))))
        ids = [e["id"] for e in payload if isinstance(e, dict) and "id" in e]
        hashable = [(type(i).__name__, i) for i in ids if _valid_id(i)]
        if len(set(hashable)) != len(hashable):
            raise Rejected(
                Answer(_error(None, IdoitError(Code.INTERNAL_ERROR, "Duplicate request ids in the batch.")))
            )
        keys = {
            repr(e["params"].get("apikey"))
            for e in payload
            if isinstance(e, dict) and isinstance(e.get("params"), dict)
        }
        if len(keys) > 1:
            raise Rejected(
                Answer(
                    _error(
                        None,
                        IdoitError(Code.INVALID_PARAMS, "All requests of a batch must use the same API key."),
                    )
                )
            )
        return payload, True

    def parse(self, element: Any) -> Call:
        if not isinstance(element, dict):
            raise IdoitError(Code.AUTH_ERROR, "A request must be a JSON object.")
        if element.get("version") != "2.0" and element.get("jsonrpc") != "2.0":
            raise IdoitError(Code.INVALID_REQUEST, 'The request needs "version" or "jsonrpc" set to "2.0".')
        if "id" in element and not _valid_id(element["id"]):
            raise IdoitError(Code.INTERNAL_ERROR, "The request id must be an integer or a non-empty string.")
        method = element.get("method")
        if not isinstance(method, str) or not method.strip():
            raise IdoitError(Code.INVALID_REQUEST, '"method" must be a non-empty string.')
        return Call(
            element.get("id"), method.strip(), element.get("params"), notification="id" not in element
        )

    def admit(self, ctx: Context, call: Call) -> None:
        params = call.params
        if not isinstance(params, dict):
            raise IdoitError(
                Code.AUTH_ERROR, "Parameters are missing or not an object; the API key is required."
            )
        if not self.gate.api_key_accepted(params.get("apikey")):
            raise IdoitError(Code.AUTH_ERROR, "The API key is missing or wrong.")
        lang = params.get("language")
        ctx.lang = lang if lang in LANGUAGES else "en"
        if ctx.auth_error is not None:
            raise ctx.auth_error

    def lookup(self, call: Call) -> Method:
        method = self.registry.get(call.method)
        if method is None and call.method.count(".") == 1:
            method = self.registry.get(call.method + ".read")  # the default option is read
        if method is None:
            raise IdoitError(Code.METHOD_NOT_FOUND, f"Method '{call.method}' does not exist.")
        return method

    def arguments(self, call: Call, method: Method) -> tuple[Sequence[Any], dict[str, Any]]:
        params = dict(call.params) if isinstance(call.params, dict) else {}
        params.pop("apikey", None)
        params.pop("language", None)
        return (), params

    def result(self, ctx: Context, call: Call, value: Any) -> Any:
        return {"jsonrpc": "2.0", "result": value, "id": call.id}

    def error(self, ctx: Context | None, call: Call | None, element: Any, exc: BaseException) -> Any:
        return _error(call.id if call is not None else None, exc)


def endpoint(deps: DialectDeps) -> Callable[[Request], Awaitable[Response]]:
    services = deps.services
    gate = Gate(services)
    engine = Engine(IdoitPolicy(gate), deps.limits)

    def authenticate(ctx: Context, enforce: bool, session: str, username: str, password: str) -> None:
        """Who calls: the session's user, the header credentials' user, or the API user."""
        try:
            if session:
                ctx.actor, info = services.sessions.resume(session, ctx.source, VIA)
                ctx.session_secret, ctx.session_info = session, info
                ctx.headers[SESSION_HEADER] = session
            elif username or password:
                ctx.actor, ctx.credential = deps.credentials.login(
                    services.users, username, password, ctx.source, VIA
                )
            elif enforce:
                raise AuthenticationFailed("Login required.")
        except AuthenticationFailed as exc:
            ctx.auth_error = IdoitError(
                Code.AUTH_ERROR,
                exc.message if exc.message == "Login required." else f"Authentication failed: {exc.message}",
            )

    async def handle(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS)
        enabled, enforce, tenant = await run_in_threadpool(gate.state)
        if not enabled:
            return _send(
                _error(
                    None,
                    IdoitError(
                        Code.SYSTEM_ERROR, "The JSON-RPC API is switched off (setting idoit.api_enabled)."
                    ),
                )
            )
        content_type = request.headers.get("content-type", "")
        if request.method != "POST" or not content_type.lower().startswith("application/json"):
            return _send(
                _error(
                    None,
                    IdoitError(
                        Code.INVALID_REQUEST,
                        "This is not a JSON-RPC. The content-type should be application/json, request method"
                        ' should be "post" and the http body should be a valid json-rpc 2.0 package.',
                    ),
                )
            )
        body = await request.body()
        if not body.strip():
            return _send(
                _error(None, IdoitError(Code.INVALID_REQUEST, "Invalid API Request. Post body is empty."))
            )
        try:
            payload = decode_json(body)
        except BodyInvalid:
            return _send(_error(None, IdoitError(Code.PARSE_ERROR, "The body is not valid JSON.")))
        source = request.client.host if request.client else ""
        actor = Actor(user_id=None, username=API_USER, role=Role.ADMIN, source=source, via=VIA)
        ctx = Context(
            services=services, actor=actor, credentials=deps.credentials, source=source, tenant=tenant
        )
        h = request.headers
        session = h.get("x-rpc-auth-session", "").strip()
        username, password = h.get("x-rpc-auth-username", ""), h.get("x-rpc-auth-password", "")
        ctx.username, ctx.password = username, password
        await run_in_threadpool(authenticate, ctx, enforce, session, username, password)
        caller = f"user:{ctx.actor.user_id}" if ctx.actor.user_id is not None else f"idoit:{source}"
        answer = await engine.handle(ctx, payload, caller=caller)
        if answer.empty:
            return Response(status_code=200, headers={**CORS, **ctx.headers})
        return _send(answer.body, ctx.headers)

    return handle


def _send(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        encode_json(body), status_code=200, media_type="application/json", headers={**CORS, **(headers or {})}
    )
