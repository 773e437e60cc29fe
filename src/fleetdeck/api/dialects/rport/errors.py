"""rportd's error envelope, and core's exceptions mapped onto its statuses and texts.

Every failure is ``{"errors": [{"code", "title", "detail"}]}``, all three keys always present
(rportd writes "" when unset); the HTTP status is the first item's. ``code`` is only filled
where rportd's handlers pass one (``ERR_CODE_...``), as rportd does.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from fleetdeck.api.kit.bodies import encode_json
from fleetdeck.api.kit.errors import ErrorTable
from fleetdeck.core import errors as core

JSON_TYPE = "application/json; charset=UTF-8"
UNAUTHORIZED = "unauthorized"
BANNED = "too many requests, please try later"
SCOPE_REFUSED = "the scope of the provided token is not authorized for this operation"
NOT_ADMIN = "current user should belong to Administrators group to access this resource"


class RportError(Exception):
    """An answer in rportd's words, raised by the dialect's own checks."""

    def __init__(self, status: int, title: str, detail: str = "", code: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class Entry:
    status: int
    title: str | None = None  # None: the exception's own message


ERRORS: ErrorTable[Entry] = ErrorTable(
    {
        core.NotFound: Entry(404),
        core.Conflict: Entry(409),
        core.ValidationFailed: Entry(400),
        core.AuthenticationFailed: Entry(401, UNAUTHORIZED),
        core.TooManyAttempts: Entry(429, BANNED),
        core.PermissionDenied: Entry(403),
        core.NotImplementedYet: Entry(501),
        core.Unavailable: Entry(503),
        core.AgentFailed: Entry(409),
    },
    Entry(500, "internal error"),
)


def error_response(status: int, title: str, detail: str = "", code: str = "") -> Response:
    body = {"errors": [{"code": code, "title": title, "detail": detail}]}
    return Response(encode_json(body), status, media_type=JSON_TYPE)


def render(exc: BaseException) -> Response:
    """The answer to an exception: the dialect's own, or core's through ``ERRORS``."""
    if isinstance(exc, RportError):
        return error_response(exc.status, exc.title, exc.detail, exc.code)
    entry = ERRORS[exc]
    if isinstance(exc, core.FleetdeckError):
        if entry.title is None:
            return error_response(entry.status, exc.message)
        # 401/429: rportd's fixed title, unless core says why (e.g. an expired password)
        response = error_response(entry.status, exc.message if exc.detail.get("reason") else entry.title)
        if isinstance(exc, core.TooManyAttempts):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    return error_response(500, "internal error")


def internal_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal error")
