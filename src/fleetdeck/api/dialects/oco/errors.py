"""OCO's error codes and texts, and the mapping of core errors onto them.

Every failure inside a request element becomes ``{"code", "message", "data": null}`` with HTTP
200; the envelope-level failures (405/400/401) are in ``envelope.py``. Texts are OCO's own, in
English and German (``Accept-Language: de...``); a few OCO messages are not localized and stay
English in both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from fleetdeck.api.kit.errors import ErrorTable
from fleetdeck.api.kit.registry import ParamsInvalid
from fleetdeck.core import errors as core


class Code(enum.IntEnum):
    NOT_FOUND = -32003
    PERMISSION_DENIED = -32002
    INVALID_REQUEST = -32001  # validation, invalid request, unknown method
    ERROR = -32000  # anything else


# key -> (English, German). Keys are OCO's translation keys; core's reasons map onto them
# (``REASON_KEYS``).
TEXTS: dict[str, tuple[str, str]] = {
    "permission_denied": (
        "Permission denied. You do not have the necessary rights.",
        "Zugriff verweigert. Sie besitzen nicht die notwendigen Rechte.",
    ),
    "not_found": ("Not found", "Nicht gefunden"),
    "unknown_method": ("Unknown Method", "Unbekannte Methode"),
    "payload_corrupt": ("Payload corrupt", "Payload fehlerhaft"),
    "name_cannot_be_empty": ("The name cannot be empty", "Der Name darf nicht leer sein"),
    "hostname_cannot_be_empty": ("The host name cannot be empty", "Der Hostname darf nicht leer sein"),
    "hostname_already_exists": ("This hostname already exists", "Der angegebene Hostname existiert bereits"),
    "please_fill_required_fields": (
        "Please fill the required fields",
        "Bitte füllen Sie die erforderlichen Felder aus",
    ),
    "package_exists_with_version": (
        "A package with this name already exists with this version.",
        "Es existiert bereits ein Paket mit diesem Namen und dieser Version.",
    ),
    "end_time_before_start_time": (
        "The end time cannot be before the start time.",
        "Die Endzeit darf nicht vor der Startzeit liegen.",
    ),
    "invalid_input": (
        "Invalid Value. Please check your input.",
        "Ungültiger Wert. Bitte prüfen Sie Ihre Eingaben.",
    ),
    "no_jobs_created": (
        "Your request did not produced any jobs. Please check if you have at least one computer and"
        " one package selected.",
        "Ihre Anfrage erzeugte keine Jobs. Bitte prüfen Sie, ob Sie mindestens einen Computer und ein"
        " Paket ausgewählt haben.",
    ),
    "delete_failed_active_jobs": (
        "The object could not be deleted because there are still active jobs referencing this object."
        " Please delete the corresponding jobs first, then try again.",
        "Das Objekt konnte nicht gelöscht werden, da noch aktive Jobs vorhanden sind, die auf dieses"
        " Objekt verweisen. Bitte löschen Sie zuerst die entsprechenden Jobs und versuchen Sie es erneut.",
    ),
    "delete_failed_dependent_packages": (
        "The package could not be deleted because there are still dependent packages which are"
        " referenced to this package.",
        "Das Paket konnte nicht gelöscht werden, da noch von diesem Pakete abhängige Pakete zugeordnet sind.",
    ),
    "no_mac_addresses_for_wol": (
        "No WOL packet could be sent because no MAC address of this computer is known.",
        "Es konnte kein WOL-Paket gesendet werden, da keine MAC-Adresse dieses Rechners bekannt ist.",
    ),
    "invalid_ip_address": ("Invalid IP address", "Ungültige IP-Adresse"),
    "invalid_time_input": ("Invalid time input", "Ungültige Zeiteingabe"),
    "aborted_after_failed": ("Aborted after failed job", "Nach Fehler abgebrochen"),
    "unknown_error": ("Unknown Error", "Unbekannter Fehler"),
    "not_implemented": (
        "This method is not available on this server yet.",
        "Diese Methode ist auf diesem Server noch nicht verfügbar.",
    ),
    # 401 bodies (``HTTP Basic Auth: <text>``)
    "login_failed": ("Login failed", "Anmeldung fehlgeschlagen"),
    "username_cannot_be_empty": ("The username cannot be empty", "Der Benutzername darf nicht leer sein"),
    "too_many_attempts": (
        "Too many failed logins, please try again later",
        "Zu viele fehlgeschlagene Anmeldungen, bitte versuchen Sie es später erneut",
    ),
    # Not localized in OCO: identical in both languages.
    "package_family_or_group_required": (
        "package_family_id or package_group_id is required",
        "package_family_id or package_group_id is required",
    ),
    "only_select_queries": (
        "Only SELECT queries are allowed in reports",
        "Only SELECT queries are allowed in reports",
    ),
}

# Core's reasons onto OCO's translation keys: every reason core reports has OCO's text for it.
REASON_KEYS: dict[core.Reason, str] = {
    core.Reason.INVALID: "invalid_input",
    core.Reason.NAME_EMPTY: "name_cannot_be_empty",
    core.Reason.REQUIRED_MISSING: "please_fill_required_fields",
    core.Reason.VERSION_EXISTS: "package_exists_with_version",
    core.Reason.END_BEFORE_START: "end_time_before_start_time",
    core.Reason.INVALID_IP_RANGE: "invalid_ip_address",
    core.Reason.INVALID_TIME_FRAME: "invalid_time_input",
    core.Reason.NO_JOBS: "no_jobs_created",
    core.Reason.IN_USE_BY_JOBS: "delete_failed_active_jobs",
    core.Reason.HAS_DEPENDENTS: "delete_failed_dependent_packages",
    core.Reason.NO_MAC_ADDRESS: "no_mac_addresses_for_wol",
    core.Reason.FAMILY_OR_GROUP_REQUIRED: "package_family_or_group_required",
    core.Reason.NOT_A_SELECT: "only_select_queries",
    core.Reason.ALL_PENDING: "no_jobs_created",
    core.Reason.PENDING_JOBS: "delete_failed_active_jobs",
    core.Reason.NOT_INSTALLED: "invalid_input",
    # people and flat groups (core.people, core.groups.flat): OCO has no text of its own
    core.Reason.AMBIGUOUS_NAME: "invalid_input",
    core.Reason.NAME_EXISTS: "invalid_input",
    core.Reason.ACCOUNT_EXISTS: "invalid_input",
    core.Reason.ONLINE: "invalid_input",
    core.Reason.TOO_MANY: "invalid_input",
    core.Reason.EXPIRED: "invalid_input",
    # tunnels (core.tunnels): not an OCO feature
    core.Reason.TUNNEL_EXISTS: "invalid_input",
    core.Reason.TUNNEL_TO_PORT_EXISTS: "invalid_input",
    core.Reason.LOCAL_PORT_IN_USE: "invalid_input",
    core.Reason.REMOTE_PORT_CLOSED: "invalid_input",
    core.Reason.ACTIVE_CONNECTIONS: "invalid_input",
}

# Keys OCO reports with -32000 although they are about the input.
GENERIC_REASONS = frozenset({"no_mac_addresses_for_wol", "invalid_ip_address", "invalid_time_input"})


def text(key: str, lang: str) -> str:
    """OCO's text for ``key``; unknown keys fall back to the key itself, as OCO does."""
    en, de = TEXTS.get(key, (key, key))
    return de if lang == "de" else en


def language(accept_language: str | None) -> str:
    """OCO looks at the first two characters of Accept-Language; we ship English and German."""
    return "de" if (accept_language or "").strip().lower().startswith("de") else "en"


class OcoError(Exception):
    """An error in OCO's terms, raised by the dialect itself (unknown method, bad params...)."""

    def __init__(self, code: Code, key: str | None = None, message: str | None = None) -> None:
        super().__init__(message or key or "")
        self.code = code
        self.key = key
        self.message = message

    def render(self, lang: str) -> tuple[int, str]:
        if self.key is not None:
            return int(self.code), text(self.key, lang)
        return int(self.code), self.message or text("unknown_error", lang)

    @classmethod
    def reason(cls, key: str) -> OcoError:
        return cls(Code.ERROR if key in GENERIC_REASONS else Code.INVALID_REQUEST, key)


def reason_key(exc: core.FleetdeckError) -> str | None:
    """OCO's key for why ``exc`` happened: a core ``Reason``'s mapped key; a plain string is a
    key already (the kit's list syntax reasons, the OCO envelope's own login reasons)."""
    reason = exc.detail.get("reason")
    if isinstance(reason, core.Reason):
        return REASON_KEYS[reason]
    return reason if isinstance(reason, str) else None


Rendered = tuple[int, str]
Render = Callable[[Any, str], Rendered]


def _core(code: Code, key: str | None = None) -> Render:
    """A core error: its reason's text when it has one, else ``key``'s text or its message."""

    def render(exc: core.FleetdeckError, lang: str) -> Rendered:
        reason = reason_key(exc)
        if reason is not None:
            return OcoError.reason(reason).render(lang)
        return int(code), text(key, lang) if key else exc.message

    return render


def _not_implemented(exc: core.NotImplementedYet, lang: str) -> Rendered:
    return int(Code.ERROR), f"{text('not_implemented', lang)} ({exc.message})"


def _params_invalid(exc: ParamsInvalid, lang: str) -> Rendered:
    return int(Code.INVALID_REQUEST), f"{text('invalid_input', lang)} ({exc.message})"


# Core's exception tree (and the kit's and OCO's own errors) onto OCO's codes and texts; the
# nearest class in an exception's MRO wins.
ERRORS: ErrorTable[Render] = ErrorTable(
    {
        OcoError: lambda exc, lang: exc.render(lang),
        ParamsInvalid: _params_invalid,
        core.NotFound: _core(Code.NOT_FOUND, "not_found"),
        core.PermissionDenied: _core(Code.PERMISSION_DENIED, "permission_denied"),
        core.AuthenticationFailed: _core(Code.PERMISSION_DENIED, "permission_denied"),
        core.ValidationFailed: _core(Code.INVALID_REQUEST),
        core.Conflict: _core(Code.INVALID_REQUEST),
        core.NotImplementedYet: _not_implemented,
        core.FleetdeckError: _core(Code.ERROR),
    },
    default=lambda exc, lang: (int(Code.ERROR), text("unknown_error", lang)),
)


def error_object(exc: BaseException, lang: str) -> dict[str, Any]:
    """The JSON-RPC ``error`` member for any exception raised while running one request element;
    an unexpected one is logged with its traceback and answered as OCO's "Unknown Error"."""
    code, message = ERRORS[exc](exc, lang)
    return {"code": code, "message": message, "data": None}
