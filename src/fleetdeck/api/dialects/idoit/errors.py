"""i-doit's JSON-RPC error codes, and core's exceptions mapped onto them.

Every error answer is ``{"code", "message", "data": {"error": <detail>}}`` with HTTP 200: the
message is the code's fixed text (clients compare it), the detail says what went wrong.
"""

from __future__ import annotations

import enum
from typing import Any

from fleetdeck.api.kit.errors import ErrorTable
from fleetdeck.api.kit.jsonrpc import InvalidParams, InvalidRequest, MethodNotFound
from fleetdeck.api.kit.registry import ParamsInvalid
from fleetdeck.core import errors as core


class Code(enum.IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    AUTH_ERROR = -32604
    SYSTEM_ERROR = -32099


MESSAGES: dict[Code, str] = {
    Code.PARSE_ERROR: "Parse error",
    Code.INVALID_REQUEST: "Invalid request",
    Code.METHOD_NOT_FOUND: "Method not found",
    Code.INVALID_PARAMS: "Invalid parameters",
    Code.INTERNAL_ERROR: "Internal error",
    Code.AUTH_ERROR: "Authentication error",
    Code.SYSTEM_ERROR: "i-doit system error",
}


class IdoitError(Exception):
    """An error of the dialect's own (envelope rules, parameter spellings)."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


ERRORS: ErrorTable[Code] = ErrorTable(
    {
        InvalidRequest: Code.INVALID_REQUEST,
        MethodNotFound: Code.METHOD_NOT_FOUND,
        InvalidParams: Code.INVALID_PARAMS,
        ParamsInvalid: Code.INVALID_PARAMS,
        core.ValidationFailed: Code.INVALID_PARAMS,
        core.NotFound: Code.SYSTEM_ERROR,
        core.Conflict: Code.SYSTEM_ERROR,
        core.AuthenticationFailed: Code.AUTH_ERROR,
        core.PermissionDenied: Code.AUTH_ERROR,
        core.NotImplementedYet: Code.METHOD_NOT_FOUND,
        core.Unavailable: Code.SYSTEM_ERROR,
        core.FleetdeckError: Code.SYSTEM_ERROR,
    },
    default=Code.INTERNAL_ERROR,
)


def _missing(exc: ParamsInvalid) -> str | None:
    for err in exc.errors:
        if err.get("type") == "missing":
            loc = err.get("loc") or ("?",)
            return f"Mandatory parameter '{loc[0]}' not found in your request."
    return None


def error_object(exc: BaseException) -> dict[str, Any]:
    """The ``error`` member for ``exc``."""
    data: dict[str, Any]
    if isinstance(exc, IdoitError):
        code, data = exc.code, {"error": exc.detail}
    else:
        code = ERRORS[exc]
        if isinstance(exc, ParamsInvalid):
            data = {"error": _missing(exc) or exc.message}
        elif isinstance(exc, core.ValidationFailed):
            data = {"error": exc.message}
            if exc.field:
                data["validation"] = {exc.field: exc.message}
        elif isinstance(exc, core.FleetdeckError):
            data = {"error": exc.message}
        elif isinstance(exc, MethodNotFound):
            data = {"error": f"Method '{exc.name}' does not exist."}
        elif code is Code.INTERNAL_ERROR:
            data = {"error": "An unexpected error occurred; it has been logged."}
        else:
            data = {"error": str(exc) or MESSAGES[code]}
    return {"code": int(code), "message": MESSAGES[code], "data": data}
