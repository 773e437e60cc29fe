"""``/rpc`` as opsiconfd serves it: HEAD probe, GET with the request in the query string, POST
with JSON or msgpack, compressed or not; sessions; opsi's 401 and 400 answers; and every call run
by the kit's JSON-RPC engine under ``OpsiPolicy``: JSON-RPC 1.0 and 2.0 shapes, opsi's parameter
rules (a last positional ``**filter`` object), what a client host may call, and every failure as
an opsi error (``code`` 0 and ``data.class`` in 2.0) with HTTP 200.

Order: authenticate (session cookie, else Basic) -> read and decode the body (400 with a
1.0-style error on failure) -> run the calls in a worker thread (core is synchronous) -> encode
and, above 10,000 bytes, compress as the client accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from fleetdeck import __version__
from fleetdeck.api.dialects.opsi import auth, codec
from fleetdeck.api.dialects.opsi import errors as oe
from fleetdeck.api.dialects.opsi.interface import SPEC, out_of_scope
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.api.kit.jsonrpc import Answer, Call, Engine, Policy
from fleetdeck.api.kit.registry import Method
from fleetdeck.core.errors import AuthenticationFailed, TooManyAttempts

OPSI_VERSION = "4.3.0.0"
SERVER = f"opsiconfd {OPSI_VERSION} (uvicorn) fleetdeck/{__version__}"
MAX_DECOMPRESSED = 16 * 1024 * 1024  # a small compressed body must not become a huge one
AUTH_DELAY_SEC = 0.2

Handler = Callable[[Request], Awaitable[Response]]

# What an opsi client (host id + host key) may call; opsiconfd's acl.conf. Row-level "self"
# restrictions are the methods' business (``Context.host_id``).
CLIENT_PREFIXES = (
    "backend_",
    "accessControl_",
    "log_",
    "host_get",
    "host_update",
    "productOnClient_",
    "configState_",
    "productPropertyState_",
    "licenseOnClient_",
    "auditHardwareOnHost_",
    "auditSoftwareOnClient_",
    "config_create",
    "user_getCredentials",
    "getDomain",
    "getKioskProductInfosForClient",  # opsiconfd skips its ACL; the method checks "self" itself
    "setProductActionProgress",  # opsi-script's progress; the adapter checks "self"
)


READING = ("backend_info", "backend_getInterface", "backend_getLicensingInfo", "getDomain", "accessControl_")


def reads_only(name: object) -> bool:
    """Methods a GET may carry (opsiconfd answers the request in a GET's query string too): the
    ones that only read, so that a link or an image on another site cannot change anything."""
    if not isinstance(name, str):
        return True  # not a call at all: answered with its own error
    return "_get" in name or name.startswith(("get", *READING))


def client_may_call(name: str) -> bool:
    if name.startswith(CLIENT_PREFIXES) or "_get" in name:
        return True
    return name.startswith(("auditSoftware_", "auditHardware_")) and "_delete" not in name


# ------------------------------------------------------------------ the calls


def render_error(rpc_id: Any, version2: bool, cls: str, message: str) -> dict[str, Any]:
    if version2:
        return {
            "id": rpc_id,
            "error": {"message": message, "code": 0, "data": {"class": cls, "details": None}},
            "jsonrpc": "2.0",
        }
    return {"id": rpc_id, "result": None, "error": {"message": message, "class": cls, "details": None}}


def render_result(rpc_id: Any, version2: bool, result: Any) -> dict[str, Any]:
    if version2:
        return {"id": rpc_id, "result": result, "jsonrpc": "2.0"}
    return {"id": rpc_id, "result": result, "error": None}


class OpsiPolicy(Policy[Context]):
    registry = METHODS

    def elements(self, payload: Any) -> tuple[Sequence[Any], bool]:
        return (payload, True) if isinstance(payload, list) else ([payload], False)

    def parse(self, element: Any) -> Call:
        if not isinstance(element, Mapping):
            raise oe.OpsiValueError("Invalid request: not an object")
        version = "2.0" if element.get("jsonrpc") == "2.0" else "1.0"
        name = element.get("method")
        call = Call(element.get("id") or 0, str(name or ""), element.get("params"), version=version)
        if not isinstance(name, str) or not name:
            raise oe.InvalidCall(call, "Invalid request: method missing")
        return call

    def lookup(self, call: Call) -> Method:
        method = METHODS.get(call.method)
        if method is not None:
            return method
        if call.method in SPEC:
            reason = out_of_scope(call.method) or "not built yet"
            raise oe.NotSupportedError(
                f"Method '{call.method}' is not supported by fleetdeck: {reason} (see docs/compat/opsi.md)"
            )
        raise oe.OpsiValueError(f"Invalid method '{call.method}'")

    def authorize(self, ctx: Context, call: Call, method: Method) -> None:
        if ctx.is_client and not client_may_call(call.method):
            # opsiconfd's words (its ACL check): clients match on them
            raise oe.BackendPermissionDeniedError(f"No permission for method '{call.method}'")

    def arguments(self, call: Call, method: Method) -> tuple[Sequence[Any], dict[str, Any]]:
        """opsi's rules: named params are keywords; in a positional list the LAST element is the
        ``**filter`` dict only when every declared parameter is given before it."""
        params = call.params
        if params is None:
            return [], {}
        if isinstance(params, Mapping):
            kwargs = {str(k): v for k, v in params.items()}
            known = {p.name for p in method.params}
            unknown = [k for k in kwargs if k not in known]
            if unknown and method.varkw is None:
                raise oe.OpsiTypeError(f"{method.name}() got an unexpected keyword argument '{unknown[0]}'")
            return [], kwargs
        if not isinstance(params, Sequence) or isinstance(params, str | bytes):
            raise oe.OpsiTypeError("params must be a list or an object")
        args = list(params)
        if method.varkw is not None and len(args) >= len(method.params) + 1:
            extra = args.pop()
            if not isinstance(extra, Mapping):
                raise oe.OpsiTypeError(
                    f"{method.name}() keyword arguments must be an object, not {type(extra).__name__}"
                )
            return args, {str(k): v for k, v in extra.items()}
        if len(args) > len(method.params):
            raise oe.OpsiTypeError(
                f"{method.name}() takes {len(method.params)} positional arguments but {len(args)} were given"
            )
        return args, {}

    def result(self, ctx: Context, call: Call, value: Any) -> Any:
        return render_result(call.id, call.version == "2.0", value)

    def error(self, ctx: Context | None, call: Call | None, element: Any, exc: BaseException) -> Any:
        if isinstance(exc, oe.InvalidCall):
            call = exc.call
        cls, message = oe.class_and_message(exc)
        if call is None:
            return render_error(0, False, cls, message)
        return render_error(call.id, call.version == "2.0", cls, message)

    def refuse_batch(self, count: int) -> Answer:
        message = f"Invalid request: a batch holds at most {self.max_batch} calls, this one {count}"
        return Answer(render_error(0, False, "ValueError", message), status=400)

    def assemble(self, answers: list[Any], batch: bool) -> Answer:
        # opsi's quirk: a one-element batch answers a bare object
        return Answer(answers if batch and len(answers) != 1 else answers[0])


# ------------------------------------------------------------------ HTTP


def base_headers() -> dict[str, str]:
    return {
        "Server": SERVER,
        "X-opsi-server-role": "configserver",
        "X-opsi-auth-methods": "password",
    }


def _source(request: HTTPConnection) -> str:
    return request.client.host if request.client else ""


async def _unauthorized(request: HTTPConnection, message: str, retry_after: float | None = None) -> Response:
    await asyncio.sleep(AUTH_DELAY_SEC)  # opsiconfd's delay: slows guessing, costs no thread
    headers = base_headers()
    headers["x-opsi-error"] = message[:64]
    # No "WWW-Authenticate: Basic" challenge (opsiconfd sends one): it makes a browser ask for a
    # password and then send it with every request to /rpc, also ones another site triggers.
    # opsi's clients send their credentials without being asked.
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    body = codec.dumps({"id": None, "result": None, "error": message}, "json")
    return Response(body, status_code=401, media_type=codec.JSON_TYPE, headers=headers)


def _session_id(request: HTTPConnection) -> str | None:
    return request.cookies.get(auth.COOKIE) or request.query_params.get("session_id")


def _same_login(request: HTTPConnection, principal: auth.Principal) -> bool:
    """True unless the request's Basic header names another user or host than the session's
    (a shared cookie jar must not turn one login into another); no header: the session's."""
    header = request.headers.get("authorization")
    if not header:
        return True
    try:
        username, _ = auth.split_basic(header)
    except AuthenticationFailed:
        return True  # not a login: the session decides
    own = principal.host_id or principal.actor.username
    return username.lower() == str(own).lower() or (
        principal.found_by_address and principal.host_id is not None
    )


async def principal_of(
    request: HTTPConnection, deps: DialectDeps, sessions: auth.Sessions
) -> tuple[auth.Principal, auth.Session | None] | Response:
    """The caller, and a new session to announce (None when an existing one was used). A
    session's user is checked as they are now on every request. ``request`` may be a
    WebSocket handshake (the message bus authenticates the same way)."""
    existing = sessions.get(_session_id(request))
    if existing is not None and not _same_login(request, existing.principal):
        existing = None  # another login's Basic header: that login, not the cookie's
    if existing is not None:
        try:
            return await run_in_threadpool(
                auth.resume, deps.services, existing.principal, _source(request)
            ), None
        except AuthenticationFailed:
            sessions.delete(existing.id)  # the user's login ended: the Basic header may start anew
    try:
        principal = await run_in_threadpool(
            auth.authenticate,
            deps.services,
            deps.credentials,
            request.headers.get("authorization"),
            _source(request),
        )
    except TooManyAttempts as exc:
        return await _unauthorized(request, "Authentication error", exc.retry_after)
    except AuthenticationFailed:
        return await _unauthorized(request, "Authentication error")
    lifetime = auth.lifetime(request.headers.get("x-opsi-session-lifetime"))
    return principal, sessions.create(principal, lifetime)


def _session_headers(
    request: Request, response: Response, principal: auth.Principal, session: auth.Session | None
) -> None:
    """The session cookie is ``Secure`` only on HTTPS: over plain ``http://`` (loopback, a
    test rig) a browser-like client would drop a Secure cookie and log in again on every call."""
    response.headers["X-opsi-user-id"] = f"{principal.kind}:{principal.actor.username}"
    if principal.found_by_address and principal.host_id is not None:
        response.headers["x-opsi-new-host-id"] = principal.host_id
    if session is not None:
        response.set_cookie(
            auth.COOKIE,
            session.id,
            max_age=session.lifetime,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )


def _extras(request: Request, principal: auth.Principal) -> dict[str, Any]:
    """What methods may know of the transport: the URL and address the caller reached this
    server at (the config server's URL and address in opsi's records), the client's own key."""
    server = request.scope.get("server") or ("", None)
    extras: dict[str, Any] = {
        "server_url": f"{request.url.scheme}://{request.url.netloc}",
        "server_address": str(server[0] or ""),
    }
    if principal.host_key:
        extras["host_key"] = principal.host_key
    return extras


def bad_request(message: str) -> Response:
    body = codec.dumps(render_error(0, False, "ValueError", message), "json")
    return Response(body, status_code=400, media_type=codec.JSON_TYPE, headers=base_headers())


async def _document(request: Request) -> bytes:
    if request.method == "GET":
        query = request.url.query
        return unquote(query).encode("utf-8") if query and not query.startswith("session_id=") else b""
    return await request.body()


def _encode(request: Request, answer: Any, req_ser: codec.Serialization | None) -> Response:
    ser = codec.response_serialization(req_ser, request.headers.get("accept"))
    data = codec.dumps(answer, ser)
    headers = base_headers()
    headers["accept"] = "application/msgpack,application/json"
    headers["accept-encoding"] = "lz4,gzip"
    encoding = codec.response_encoding(request.headers.get("accept-encoding"))
    if encoding == "":
        return bad_request(f"Unhandled Accept-Encoding {request.headers.get('accept-encoding')!r}")
    if encoding and len(data) > codec.COMPRESS_ABOVE:
        data = codec.compress(data, encoding)
        headers["content-encoding"] = encoding
    media = codec.MSGPACK_TYPE if ser == "msgpack" else codec.JSON_TYPE
    return Response(data, media_type=media, headers=headers)


def _release(held: list[Any]) -> None:
    held.clear()


def rpc_endpoint(deps: DialectDeps, sessions: auth.Sessions) -> Handler:
    engine = Engine(OpsiPolicy(), deps.limits)

    async def handle(request: Request) -> Response:
        who = await principal_of(request, deps, sessions)
        if isinstance(who, Response):
            return who
        principal, new_session = who
        if request.method == "HEAD":
            response = Response(status_code=200, headers=base_headers())
            _session_headers(request, response, principal, new_session)
            return response
        req_ser = codec.request_serialization(request.headers.get("content-type"))
        if request.method == "POST" and req_ser is None:
            # What a browser may send to another site without asking (text/plain, forms) is not
            # a request opsi's clients make: they send JSON or msgpack.
            return bad_request(
                "Invalid request: Content-Type must be application/json or application/msgpack"
            )
        try:
            raw = codec.decompress(
                await _document(request), request.headers.get("content-encoding"), MAX_DECOMPRESSED
            )
            payload = codec.loads(raw, req_ser or "json") if raw.strip() else None
        except codec.CodecError as exc:
            return bad_request(str(exc))
        if payload is None:
            return bad_request("Invalid request: empty body")
        calls = payload if isinstance(payload, list) else [payload]
        if request.method == "GET":
            changing = [
                c.get("method") for c in calls if isinstance(c, dict) and not reads_only(c.get("method"))
            ]
            if changing:
                return bad_request(f"Invalid request: {changing[0]!r} changes data; send it with POST")
        ctx = Context(
            services=deps.services,
            actor=principal.actor,
            host_id=principal.host_id,
            extras={**_extras(request, principal), "data_dir": deps.data_dir},
        )
        answer = await engine.handle(ctx, payload, caller=f"{principal.kind}:{principal.actor.username}")
        if any(c.get("method") == "backend_exit" for c in calls if isinstance(c, dict)):
            sessions.delete(new_session.id if new_session else _session_id(request))
            new_session = None
        if answer.status != 200:
            return Response(
                codec.dumps(answer.body, "json"),
                status_code=answer.status,
                media_type=codec.JSON_TYPE,
                headers=base_headers(),
            )
        # a large answer is encoded and compressed in a worker thread, never on the event loop
        response = await run_in_threadpool(_encode, request, answer.body, req_ser)
        _session_headers(request, response, principal, new_session)
        # its objects (half a million for opsi's whole productOnClient list) are freed after
        # the response is sent, in a worker thread: ~0.1 s the client need not wait for
        response.background = BackgroundTask(_release, [answer])
        del answer
        return response

    return handle


def logout_endpoint(sessions: auth.Sessions) -> Handler:
    async def handle(request: Request) -> Response:
        sessions.delete(_session_id(request))
        response = Response(
            codec.dumps({"id": None, "result": None, "error": None}, "json"),
            media_type=codec.JSON_TYPE,
            headers=base_headers(),
        )
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    return handle
