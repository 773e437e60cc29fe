"""RemotePC's errors: ``{"status": <HTTP status name>, "code": <HTTP status>, "errorsCount": n,
"errors": [{"description": <text>}]}`` with the same HTTP status, and its English texts.

Core's exceptions are mapped by one ``ErrorTable`` (class -> status and generic text); where
RemotePC has a text of its own for a field or a reason, ``describe`` picks it, per endpoint
(the same core refusal reads "Computer(s) not found" on assign and "Computer not found" on
comments, as in RemotePC's documentation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetdeck.api.kit.errors import ErrorTable
from fleetdeck.api.kit.listing import ListSyntaxError
from fleetdeck.core import errors as core

STATUS_NAMES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL_SERVER_ERROR",
    501: "NOT_IMPLEMENTED",
}

# RemotePC's texts (English, as its documentation and samples spell them, typos included)
FAILED = "FAILED"
INTERNAL = "INTERNAL_SERVER_ERROR"
INVALID_USER = "Invalid user"
INVALID_PERMISSION = "Invalid user permission"
INVALID_PLAN = "Invalid user plan"
INVALID_2FA = "Invalid two factor status"
INVALID_PAGE = "Invalid page index"
FIRST_BLANK = "First name cannot be blank"
FIRST_CHARS = "First name can contain a-z, A-Z and space"
LAST_BLANK = "Last name cannot be blank"
LAST_CHARS = "Last name can contain a-z, A-Z and space"
EMAIL_BLANK = "Username/Email cannot be blank"
EMAIL_INVALID = "Enter a valid Username/Email"
PASSWORD_BLANK = "Password cannot be blank"
PASSWORD_CHARS = "Password can contain A-Z, a-z, 0-9 and ~`!@#$%^&*()-_+={}|[];\\'\"<>,.?/"
PASSWORD_LENGTH = "Password should be between 6 - 20 characters"
EMAIL_TAKEN = "Email is already in use or already invited."
EMAIL_OTHER_ADMIN = "Email in use with other Admin"
USERNAME_REQUIRED = "Username is required"
NAMES_MISSING = "Computer names are not found in the request"
USER_NOT_FOUND = "User not found"
COMPUTERS_NOT_FOUND = "Computer(s) not found"
COMPUTER_NOT_FOUND = "Computer not found"
GROUP_BLANK = "Group name can not be blank"
GROUP_EXISTS = "Group name is already exists"
GROUP_MISSING = "Group name does not exists"
GROUP_INVALID = "Invalid group name"
COMPUTER_LIMIT = "Computer limit exceeded"
COMPUTER_BLANK = "Computer name can not be blank"
COMMENT_BLANK = "Comment can not be blank"
COMMENT_LENGTH = "Comment length should be between 6 and 250"
SSO_NOT_SET_UP = (
    "SSO must be configured on the Administrator account first to enable it for users. If SSO is"
    " not set up on the Administrator account, it cannot be enabled for any user."
)
# fleetdeck's own texts, where RemotePC documents none
INVALID_PARAMETERS = "Invalid parameters"
AMBIGUOUS = "Computer name is not unique: {name}"
ONLINE = "Only offline computers can be removed: {name}"
NOT_FOUND_PATH = "Not found"
METHOD_NOT_ALLOWED = "Method not allowed"
TOO_LARGE = "Request too large"
MACHINE_ID_BLANK = "machine_id is required"


class RemotePcError(Exception):
    """An answer in RemotePC's error envelope."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(descriptions[0] if descriptions else FAILED)
        self.status = status
        self.descriptions = list(descriptions) or [FAILED]


@dataclass(frozen=True, slots=True)
class Generic:
    status: int
    description: str


ERRORS: ErrorTable[Generic] = ErrorTable(
    {
        RemotePcError: Generic(400, FAILED),  # rendered from the exception itself
        ListSyntaxError: Generic(400, INVALID_PARAMETERS),
        core.ValidationFailed: Generic(400, INVALID_PARAMETERS),
        core.Conflict: Generic(400, FAILED),
        core.NotFound: Generic(404, NOT_FOUND_PATH),
        core.AuthenticationFailed: Generic(401, INVALID_USER),
        core.PermissionDenied: Generic(403, INVALID_PERMISSION),
        core.NotImplementedYet: Generic(501, FAILED),
        core.Unavailable: Generic(500, FAILED),
        core.AgentFailed: Generic(500, FAILED),
    },
    Generic(500, INTERNAL),
)

# Per endpoint texts: (field or object type, core reason or problem) -> text. Keys are looked up
# most specific first: (field, reason), then (field, None).
Texts = Mapping[tuple[str, str | None], str]

PERSON_TEXTS: Texts = {
    ("first_name", "blank"): FIRST_BLANK,
    ("first_name", None): FIRST_CHARS,
    ("last_name", "blank"): LAST_BLANK,
    ("last_name", None): LAST_CHARS,
    ("email", "blank"): EMAIL_BLANK,
    ("email", None): EMAIL_INVALID,
    ("password", "blank"): PASSWORD_BLANK,
    ("password", "characters"): PASSWORD_CHARS,
    ("password", "length"): PASSWORD_LENGTH,
    ("email", core.Reason.NAME_EXISTS.value): EMAIL_TAKEN,
    ("email", core.Reason.ACCOUNT_EXISTS.value): EMAIL_OTHER_ADMIN,
}
ASSIGN_TEXTS: Texts = {
    ("user", None): USER_NOT_FOUND,
    ("username", None): USERNAME_REQUIRED,
    ("computer", None): COMPUTERS_NOT_FOUND,
    ("computer_names", core.Reason.NAME_EMPTY.value): COMPUTER_BLANK,
    ("computer_names", core.Reason.REQUIRED_MISSING.value): NAMES_MISSING,
}
GROUP_TEXTS: Texts = {
    ("group", None): GROUP_MISSING,
    ("group_name", core.Reason.NAME_EMPTY.value): GROUP_BLANK,
    ("group_name", core.Reason.NAME_EXISTS.value): GROUP_EXISTS,
    ("group_name", None): GROUP_INVALID,
    ("computer", None): COMPUTERS_NOT_FOUND,
    ("computer_names", core.Reason.NAME_EMPTY.value): COMPUTER_BLANK,
    ("computer_names", core.Reason.REQUIRED_MISSING.value): NAMES_MISSING,
}
REMOVE_TEXTS: Texts = {
    ("computer", None): COMPUTERS_NOT_FOUND,
    ("computer_names", core.Reason.NAME_EMPTY.value): COMPUTER_BLANK,
    ("computer_names", core.Reason.REQUIRED_MISSING.value): NAMES_MISSING,
}
COMMENT_TEXTS: Texts = {
    ("computer", None): COMPUTER_NOT_FOUND,
    ("computer_names", core.Reason.NAME_EMPTY.value): COMPUTER_BLANK,
    ("comment", core.Reason.REQUIRED_MISSING.value): COMMENT_BLANK,
    ("comment", None): COMMENT_LENGTH,
}
VIEWER_TEXTS: Texts = {("computer", None): COMPUTER_NOT_FOUND}
USER_TEXTS: Texts = {("user", None): USER_NOT_FOUND, ("username", None): USERNAME_REQUIRED}


def _status(generic: Generic, exc: BaseException) -> int:
    # RemotePC answers a taken or unknown name in the request as a bad request (its samples)
    if isinstance(exc, core.NotFound) and exc.object_type == "group":
        return 400
    return generic.status


def describe(exc: BaseException, texts: Texts = PERSON_TEXTS) -> RemotePcError:
    """The RemotePC error for any exception (``texts``: the endpoint's own texts)."""
    if isinstance(exc, RemotePcError):
        return exc
    generic = ERRORS[exc]  # an unexpected exception is logged there, once
    if isinstance(exc, core.FleetdeckError):
        reason = exc.detail.get("reason")
        reason = reason.value if isinstance(reason, core.Reason) else reason
        if reason == core.Reason.AMBIGUOUS_NAME.value:
            names: Sequence[str] = exc.detail.get("names") or ["?"]
            return RemotePcError(400, *(AMBIGUOUS.format(name=n) for n in names))
        if reason == core.Reason.ONLINE.value:
            names = exc.detail.get("names") or ["?"]
            return RemotePcError(400, *(ONLINE.format(name=n) for n in names))
        problems = exc.detail.get("problems")
        if problems:
            return RemotePcError(
                generic.status, *(_text(texts, f, w) or generic.description for f, w in problems)
            )
        field = exc.object_type if isinstance(exc, core.NotFound) else exc.detail.get("field")
        if isinstance(field, str):
            text = _text(texts, field, reason)
            if text:
                return RemotePcError(_status(generic, exc), text)
        if isinstance(exc, core.Unavailable | core.NotImplementedYet):
            return RemotePcError(generic.status, FAILED, exc.message)
    return RemotePcError(generic.status, generic.description)


def _text(texts: Texts, field: str, reason: object) -> str | None:
    key = reason if isinstance(reason, str) else None
    return texts.get((field, key)) or texts.get((field, None))


def envelope(error: RemotePcError) -> dict[str, object]:
    return {
        "status": STATUS_NAMES.get(error.status, "BAD_REQUEST"),
        "code": error.status,
        "errorsCount": len(error.descriptions),
        "errors": [{"description": d} for d in error.descriptions],
    }
