"""``/rpc`` over HTTP as opsiconfd serves it: HEAD probe, GET with the request in the query
string, POST with JSON or msgpack, compressed or not; sessions; opsi's 401 and 400 answers.

Order: authenticate (cookie, else Basic) -> read and decode the body (400 with a 1.0-style
error on failure) -> run every call in a worker thread (core is synchronous) -> encode and, above
10,000 bytes, compress as the client accepts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fleetdeck import __version__
from fleetdeck.api.dialects.opsi import auth, codec
from fleetdeck.api.dialects.opsi.envelope import render_error, run_call
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.errors import AuthenticationFailed, TooManyAttempts
from fleetdeck.core.services import Services

log = logging.getLogger("fleetdeck.api.opsi")

OPSI_VERSION = "4.3.0.0"
SERVER = f"opsiconfd {OPSI_VERSION} (uvicorn) fleetdeck/{__version__}"
MAX_DECOMPRESSED = 64 * 1024 * 1024
AUTH_DELAY_SEC = 0.2

Handler = Callable[[Request], Awaitable[Response]]


def base_headers() -> dict[str, str]:
    return {
        "Server": SERVER,
        "X-opsi-server-role": "configserver",
        "X-opsi-auth-methods": "password",
    }


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


async def _unauthorized(request: Request, message: str, retry_after: float | None = None) -> Response:
    await asyncio.sleep(AUTH_DELAY_SEC)  # opsiconfd's delay: slows guessing, costs no thread
    headers = base_headers()
    headers["x-opsi-error"] = message[:64]
    if request.headers.get("x-requested-with", "").lower() != "xmlhttprequest":
        headers["WWW-Authenticate"] = 'Basic realm="opsi", charset="UTF-8"'
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    body = codec.dumps({"id": None, "result": None, "error": message}, "json")
    return Response(body, status_code=401, media_type=codec.JSON_TYPE, headers=headers)


def _session_id(request: Request) -> str | None:
    return request.cookies.get(auth.COOKIE) or request.query_params.get("session_id")


async def principal_of(
    request: Request, services: Services, sessions: auth.Sessions
) -> tuple[auth.Principal, auth.Session | None] | Response:
    """The caller, and a new session to announce (None when an existing one was used)."""
    existing = sessions.get(_session_id(request))
    if existing is not None:
        return existing.principal, None
    try:
        principal = await run_in_threadpool(
            auth.authenticate, services, request.headers.get("authorization"), _source(request)
        )
    except TooManyAttempts as exc:
        return await _unauthorized(request, "Authentication error", exc.retry_after)
    except AuthenticationFailed:
        return await _unauthorized(request, "Authentication error")
    lifetime = auth.lifetime(request.headers.get("x-opsi-session-lifetime"))
    return principal, sessions.create(principal, lifetime)


def _session_headers(response: Response, principal: auth.Principal, session: auth.Session | None) -> None:
    response.headers["X-opsi-user-id"] = f"{principal.kind}:{principal.actor.username}"
    if principal.found_by_address and principal.host_id is not None:
        response.headers["x-opsi-new-host-id"] = principal.host_id
    if session is not None:
        response.set_cookie(
            auth.COOKIE,
            session.id,
            max_age=session.lifetime,
            path="/",
            secure=True,
            httponly=True,
            samesite="strict",
        )


def _bad_request(message: str) -> Response:
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
        return _bad_request(f"Unhandled Accept-Encoding {request.headers.get('accept-encoding')!r}")
    if encoding and len(data) > codec.COMPRESS_ABOVE:
        data = codec.compress(data, encoding)
        headers["content-encoding"] = encoding
    media = codec.MSGPACK_TYPE if ser == "msgpack" else codec.JSON_TYPE
    return Response(data, media_type=media, headers=headers)


def rpc_endpoint(services: Services, sessions: auth.Sessions) -> Handler:
    async def handle(request: Request) -> Response:
        who = await principal_of(request, services, sessions)
        if isinstance(who, Response):
            return who
        principal, new_session = who
        if request.method == "HEAD":
            response = Response(status_code=200, headers=base_headers())
            _session_headers(response, principal, new_session)
            return response
        req_ser = codec.request_serialization(request.headers.get("content-type"))
        try:
            raw = codec.decompress(
                await _document(request), request.headers.get("content-encoding"), MAX_DECOMPRESSED
            )
            payload = codec.loads(raw, req_ser or "json") if raw.strip() else None
        except codec.CodecError as exc:
            return _bad_request(str(exc))
        if payload is None:
            return _bad_request("Invalid request: empty body")
        calls = payload if isinstance(payload, list) else [payload]
        ctx = Context(
            services=services,
            actor=principal.actor,
            host_id=principal.host_id,
            extras={"host_key": principal.host_key} if principal.host_key else None,
        )

        def run_all() -> list[dict[str, Any]]:
            return [run_call(ctx, c) for c in calls]

        answers = await run_in_threadpool(run_all)
        if any(c.get("method") == "backend_exit" for c in calls if isinstance(c, dict)):
            sessions.delete(new_session.id if new_session else _session_id(request))
            new_session = None
        # opsi quirk: a one-element batch answers a bare object
        answer: Any = answers if isinstance(payload, list) and len(answers) != 1 else answers[0]
        response = _encode(request, answer, req_ser)
        _session_headers(response, principal, new_session)
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
