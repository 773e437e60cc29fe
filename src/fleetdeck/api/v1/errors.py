"""Exception handlers: every failure leaves as ``{"error": {"code", "message", "detail"?}}``.

Core errors are mapped by class (following the MRO, so subclasses inherit their parent's status
unless listed themselves). Anything unexpected becomes a plain 500 whose traceback stays in the
server log.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetdeck.api.limits import BodyTooLarge
from fleetdeck.core import errors as core

log = logging.getLogger("fleetdeck.api")

WWW_AUTHENTICATE = 'Bearer, Basic realm="fleetdeck"'

STATUS: dict[type[core.FleetdeckError], int] = {
    core.NotFound: 404,
    core.Conflict: 409,
    core.ValidationFailed: 422,
    core.TooManyAttempts: 429,
    core.AuthenticationFailed: 401,
    core.PermissionDenied: 403,
    core.NotImplementedYet: 501,
    core.AgentTimeout: 504,
    core.Unavailable: 503,
    core.AgentFailed: 502,
    core.FleetdeckError: 400,
}

HTTP_CODES = {
    400: "bad_request",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}


def error_response(
    status: int,
    code: str,
    message: str,
    detail: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail:
        body["detail"] = jsonable_encoder(detail)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def status_of(exc: core.FleetdeckError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500  # pragma: no cover - FleetdeckError itself is mapped


def _core_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, core.FleetdeckError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(exc, core.TooManyAttempts):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return error_response(status, exc.code, exc.message, exc.detail, headers)


def _field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errs):
        reason = next(
            (e.get("ctx", {}).get("error", "") for e in errs if e.get("type") == "json_invalid"), ""
        )
        return error_response(400, "malformed_json", f"request body is not valid JSON: {reason}".rstrip(": "))
    fields = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in errs]
    first = fields[0] if fields else {"field": "", "message": "invalid request"}
    return error_response(
        422, "validation_failed", f"{first['field']}: {first['message']}", {"errors": fields}
    )


def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    return error_response(413, "body_too_large", "request body is too large")


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, BodyTooLarge):  # raised by the size limit while FastAPI read the body
        return _body_too_large(request, exc.__cause__)
    status = exc.status_code
    code = HTTP_CODES.get(status, "error")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    return error_response(status, code, message, headers=headers)


class InternalErrors:
    """Turns an unhandled exception into the 500 envelope and logs it once.

    Starlette's own handler for ``Exception`` re-raises after responding; this middleware, placed
    inside it, does not, so the outer application sees an ordinary 500 response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise  # the size limit outside answers 413
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(core.FleetdeckError, _core_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_middleware(InternalErrors)
