"""opsi's exception classes, as they appear in ``error.data.class`` (2.0) or ``error.class`` (1.0).

Raise these from methods; the transport renders ``str(exc)`` as the message and ``opsi_class`` as
the class. Core exceptions are mapped by the transport (NotFound -> BackendMissingDataError, ...).
"""

from __future__ import annotations


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
