"""Exception handlers: every failure leaves as ``{"error": {"code", "message", "detail"?}}``.

Core errors are mapped by one table (the kit's ``ErrorTable``: following the MRO, so subclasses
inherit their parent's status unless listed themselves). Anything unexpected becomes the 500
envelope (the kit's ``InternalErrors``) whose traceback stays in the server log.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from fleetdeck.api.kit.bodies import StrictJsonBodies
from fleetdeck.api.kit.errors import ErrorTable, InternalErrors
from fleetdeck.api.limits import BodyTooLarge
from fleetdeck.core import errors as core

# Bearer only: a Basic challenge would make browsers remember a password and send it with every
# request, also ones another site triggers. Basic still works when a client sends it unasked.
WWW_AUTHENTICATE = 'Bearer realm="fleetdeck"'

STATUS: ErrorTable[int] = ErrorTable(
    {
        core.NotFound: 404,
        core.Conflict: 409,
        core.TooLarge: 413,
        core.ValidationFailed: 422,
        core.TooManyAttempts: 429,
        core.AuthenticationFailed: 401,
        core.PermissionDenied: 403,
        core.NotImplementedYet: 501,
        core.AgentTimeout: 504,
        core.Unavailable: 503,
        core.AgentFailed: 502,
        core.FleetdeckError: 400,
    },
    default=500,
)

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


class UnsupportedMedia(Exception):
    """A body in a content type the route does not read (415); the message says which it reads."""


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
    return STATUS[exc]


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
    if _body_is_not_json(request, errs):
        return error_response(
            415,
            "unsupported_media_type",
            "the request body must be JSON: send the header Content-Type: application/json",
        )
    fields = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in errs]
    first = fields[0] if fields else {"field": "", "message": "invalid request"}
    return error_response(
        422, "validation_failed", f"{first['field']}: {first['message']}", {"errors": fields}
    )


def _body_is_not_json(request: Request, errs: list[Any]) -> bool:
    """A JSON body expected, but another Content-Type sent: FastAPI then validates the raw
    bytes and says "Input should be a valid dictionary", which does not name the header."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return False
    return any(tuple(e.get("loc", ())) == ("body",) for e in errs)


def _unsupported_media(request: Request, exc: Exception) -> JSONResponse:
    return error_response(415, "unsupported_media_type", str(exc))


def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    return _too_large()


def _too_large() -> JSONResponse:
    return error_response(413, "body_too_large", "request body is larger than the setting max_body_bytes")


def malformed_json(reason: str) -> JSONResponse:
    return error_response(400, "malformed_json", f"request body is {reason}")


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


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, "internal_error", "internal server error")


# Answers any operation that takes a JSON body can give before its handler runs (the size limit,
# StrictJsonBodies, _validation_error); FastAPI cannot know them, so ``document_body_errors``
# adds them to the OpenAPI document.
BODY_ERRORS = {
    "400": "The body is not valid JSON (`malformed_json`).",
    "413": "The body is larger than the setting max_body_bytes (`body_too_large`).",
    "415": "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`).",
}


def document_body_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Declare ``BODY_ERRORS`` on every operation of ``document`` that has a request body (in place)."""
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for status, description in BODY_ERRORS.items():
                    responses.setdefault(status, {"description": description, "content": envelope})
    return document


def install(app: FastAPI) -> None:
    app.add_middleware(StrictJsonBodies, render=malformed_json, too_large=_too_large)
    app.add_exception_handler(core.FleetdeckError, _core_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(UnsupportedMedia, _unsupported_media)
    app.add_middleware(InternalErrors, render=_internal_error)
