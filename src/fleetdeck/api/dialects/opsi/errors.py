"""opsi's exception classes, as they appear in ``error.data.class`` (2.0) or ``error.class`` (1.0).

Raise these from methods; the envelope renders ``str(exc)`` as the message and ``opsi_class`` as
the class. Core's exceptions (and the kit's) are mapped by one table, ``ERRORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetdeck.api.kit.errors import ErrorTable
from fleetdeck.api.kit.jsonrpc import Call
from fleetdeck.api.kit.registry import ParamsInvalid
from fleetdeck.core import errors as core


class OpsiError(Exception):
    opsi_class = "OpsiError"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OpsiValueError(OpsiError):
    """Python's ValueError as opsi reports it (unknown method, bad filter key, invalid ident)."""

    opsi_class = "ValueError"


class OpsiTypeError(OpsiError):
    opsi_class = "TypeError"


class BackendError(OpsiError):
    opsi_class = "BackendError"


class BackendBadValueError(OpsiError):
    opsi_class = "BackendBadValueError"


class BackendMissingDataError(OpsiError):
    opsi_class = "BackendMissingDataError"


class BackendReferentialIntegrityError(OpsiError):
    opsi_class = "BackendReferentialIntegrityError"


class BackendIOError(OpsiError):
    opsi_class = "BackendIOError"


class BackendPermissionDeniedError(OpsiError):
    opsi_class = "BackendPermissionDeniedError"


class BackendAuthenticationError(OpsiError):
    opsi_class = "BackendAuthenticationError"


class LicenseMissingError(OpsiError):
    opsi_class = "LicenseMissingError"


class LicenseConfigurationError(OpsiError):
    opsi_class = "LicenseConfigurationError"


class NotSupportedError(OpsiError):
    """A method of opsi's interface that fleetdeck does not answer (see docs/compat/opsi.md)."""

    opsi_class = "BackendError"


class InvalidCall(OpsiValueError):
    """A call that parsed far enough to know its id and version, but is not valid."""

    def __init__(self, call: Call, message: str) -> None:
        super().__init__(message)
        self.call = call


Rendered = tuple[str, str]  # (opsi class, message)
INTERNAL = "Internal error (see the server log)"


def _as(opsi_class: str) -> Callable[[BaseException], Rendered]:
    return lambda exc: (opsi_class, str(exc))


def _binding_class(exc: ParamsInvalid) -> str:
    """A missing or surplus argument is Python's TypeError; a value of the wrong type is the
    ValueError opsi's own coercion (``forceList``, ``forceInt``...) would raise."""
    if any(
        e.get("type") not in ("missing", "missing_argument", "unexpected_keyword_argument")
        for e in exc.errors
    ):
        return "ValueError"
    return "TypeError"


def _own(exc: Any) -> Rendered:
    return exc.opsi_class, exc.message


# Exception class -> how opsi reports it; the nearest class in the exception's MRO wins. An
# exception no entry covers is unexpected: logged with its traceback, never shown.
ERRORS: ErrorTable[Callable[[Any], Rendered]] = ErrorTable(
    {
        OpsiError: _own,
        ParamsInvalid: lambda exc: (_binding_class(exc), exc.message),
        core.NotFound: _as("BackendMissingDataError"),
        core.PermissionDenied: _as("BackendPermissionDeniedError"),
        core.ValidationFailed: _as("ValueError"),
        core.Conflict: _as("BackendBadValueError"),
        core.FleetdeckError: _as("BackendError"),
    },
    default=lambda exc: ("BackendError", INTERNAL),
)


def class_and_message(exc: BaseException) -> Rendered:
    return ERRORS[exc](exc)
