"""The declared runtime settings: every key once, with its type, default and description.

Core declares its own settings here (``CORE_SETTINGS``); each dialect declares the settings it
owns (its switch, its keys) in its own package, and the composition root puts them all into one
``SettingsRegistry``. A setting that is not declared does not exist. Values are validated (and,
for text typed at a command line, parsed) by ``coerce`` before they are stored.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fleetdeck.core.errors import NotFound, ValidationFailed

MASK = "********"
MAX_TEXT = 10_000
MAX_ITEMS = 1_000


class Kind(enum.StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    STR_LIST = "list[str]"


class Scope(enum.StrEnum):
    GLOBAL = "global"
    COMPUTER = "computer"  # may later be overridden per computer (and per group)


@dataclass(frozen=True, slots=True)
class SettingDef:
    key: str
    kind: Kind
    default: Any
    description: str
    secret: bool = False
    scope: Scope = Scope.GLOBAL
    minimum: float | None = None
    maximum: float | None = None
    # A text setting that takes one of a few words (a mode switch): anything else is refused
    # when it is set, so a typo cannot silently select the default.
    choices: tuple[str, ...] = ()
    # A list whose items have a format of their own: each must match ``item_pattern`` (a
    # regular expression, whole item) when it is set, and the refusal quotes ``item_format``.
    item_pattern: str = ""
    item_format: str = ""


CORE_SETTINGS: tuple[SettingDef, ...] = (
    SettingDef(
        "wol.broadcast_addresses",
        Kind.STR_LIST,
        [],
        "Addresses Wake-on-LAN packets are sent to; empty = the IPv4 broadcast address of each"
        " network the computer was last seen in.",
    ),
    SettingDef("wol.port", Kind.INT, 9, "UDP port of Wake-on-LAN packets.", minimum=1, maximum=65535),
    SettingDef(
        "wol.shutdown_expiry_sec",
        Kind.INT,
        300,
        "Deployments that shut down the computers they woke: a computer that connects later than"
        " this after the wake is taken as switched on by hand and is not shut down.",
        minimum=1,
        maximum=86_400,
    ),
    SettingDef(
        "polling.offline_after_sec",
        Kind.INT,
        125,
        "A computer managed by a polling agent is online while it polls and offline once it"
        " has not called for this long (by default two of the agent's 60 s query intervals"
        " and a grace).",
        minimum=10,
        maximum=86_400,
    ),
    SettingDef(
        "polling.inventory_interval_sec",
        Kind.INT,
        7200,
        "A polling agent is asked for its inventory when the last one is older than this,"
        " besides when it asks itself or an admin forced it.",
        minimum=60,
        maximum=30 * 86_400,
    ),
    SettingDef(
        "polling.event_queries",
        Kind.STR_LIST,
        [],
        "Event log entries polling agents are asked for at every poll, each '<log>|<query>'"
        " (a Windows event log and its XPath query; 'journalctl' and a JSON query on Linux)."
        " Empty: none.",
    ),
    SettingDef(
        "polling.event_retention_sec",
        Kind.INT,
        7 * 86_400,
        "Stored event log entries older than this are purged.",
        minimum=3600,
        maximum=3650 * 86_400,
    ),
    SettingDef(
        "polling.password_rotation_users",
        Kind.STR_LIST,
        [],
        "Local accounts whose password polling agents rotate (the rotation rules), each"
        " '<user name>' (on every computer) or '<computer group id>|<user name>' (only on"
        " computers that are direct members of that group). Empty: no rotation.",
        item_pattern=r"\s*(?:[1-9][0-9]{0,17}\|)?\s*[^|\s][^|]*",
        item_format="'<user name>' or '<computer group id>|<user name>'",
    ),
    SettingDef(
        "polling.password_rotation_sec",
        Kind.INT,
        30 * 86_400,
        "A rotated password older than this is rotated again at the next poll.",
        minimum=3600,
        maximum=3650 * 86_400,
    ),
    SettingDef(
        "polling.password_length",
        Kind.INT,
        15,
        "Length of rotated passwords.",
        minimum=8,
        maximum=128,
    ),
    SettingDef(
        "polling.password_alphabet",
        Kind.STR,
        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
        "Characters rotated passwords are made of.",
    ),
    SettingDef(
        "polling.password_history",
        Kind.INT,
        5,
        "Earlier rotated passwords kept per account besides the current one.",
        minimum=0,
        maximum=100,
    ),
    SettingDef(
        "uploads.abandon_after_sec",
        Kind.INT,
        86_400,
        "A resumable payload upload that received no byte for this long is abandoned:"
        " housekeeping removes it and its partial file (audited payload_upload.abandoned).",
        minimum=600,
        maximum=365 * 86_400,
    ),
    SettingDef(
        "reports.max_rows",
        Kind.INT,
        10_000,
        "Reports return at most this many rows; longer results are cut and flagged truncated.",
        minimum=1,
        maximum=1_000_000,
    ),
    SettingDef(
        "reports.max_bytes",
        Kind.INT,
        20_000_000,
        "A report result larger than this (values as JSON text) is refused, and no single value"
        " in a report query may be longer; bounds the server's memory per report run.",
        minimum=1_000,
        maximum=1_000_000_000,
    ),
    SettingDef(
        "reports.timeout_sec",
        Kind.FLOAT,
        10.0,
        "A report run (query and fetching its rows) taking longer than this is stopped.",
        minimum=0.01,
        maximum=3600,
    ),
)


class SettingsRegistry:
    """Every declared setting of this installation, in declaration order."""

    def __init__(self, definitions: Iterable[SettingDef] = CORE_SETTINGS) -> None:
        self._defs: dict[str, SettingDef] = {}
        for d in definitions:
            if d.key in self._defs:
                raise ValueError(f"setting {d.key} declared twice")
            self._defs[d.key] = d

    def lookup(self, key: str) -> SettingDef:
        definition = self._defs.get(key)
        if definition is None:
            raise NotFound("setting", key)
        return definition

    def __iter__(self) -> Iterator[SettingDef]:
        return iter(self._defs.values())

    def __contains__(self, key: object) -> bool:
        return key in self._defs


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _fail(d: SettingDef, message: str) -> ValidationFailed:
    return ValidationFailed(f"{d.key}: {message}", field="value", key=d.key, type=d.kind.value)


def _bool(d: SettingDef, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(d, "expected true or false (also 1/0, yes/no)")


def _number(d: SettingDef, value: object) -> int | float:
    if isinstance(value, bool):
        raise _fail(d, f"expected {'an integer' if d.kind is Kind.INT else 'a number'}")
    result: int | float
    try:
        if d.kind is Kind.INT:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int | str):
                raise TypeError
            result = int(value)
        else:
            if not isinstance(value, int | float | str):
                raise TypeError
            result = float(value)
            if not math.isfinite(result):
                raise ValueError
    except (TypeError, ValueError):
        raise _fail(d, f"expected {'an integer' if d.kind is Kind.INT else 'a number'}") from None
    if d.minimum is not None and result < d.minimum:
        raise _fail(d, f"must be at least {d.minimum:g}")
    if d.maximum is not None and result > d.maximum:
        raise _fail(d, f"must be at most {d.maximum:g}")
    return result


def _text(d: SettingDef, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(d, "expected a string")
    if "\x00" in value or len(value) > MAX_TEXT:
        raise _fail(d, f"must be at most {MAX_TEXT} characters without NUL")
    if d.choices and value not in d.choices:
        raise _fail(d, f"expected one of {', '.join(d.choices)}")
    return value


def _list(d: SettingDef, value: object) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise _fail(d, "expected a JSON list of strings or comma-separated values") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise _fail(d, "expected a list of strings")
    items = [_text(d, item) for item in value]
    if d.item_pattern:
        for item in items:
            if not re.fullmatch(d.item_pattern, item):
                raise _fail(d, f"{item!r} is not of the form {d.item_format or d.item_pattern}")
    return items


def coerce(d: SettingDef, value: object) -> Any:
    """``value`` (a JSON value, or text from a command line) as the setting's type."""
    if d.kind is Kind.BOOL:
        return _bool(d, value)
    if d.kind in (Kind.INT, Kind.FLOAT):
        return _number(d, value)
    if d.kind is Kind.STR_LIST:
        return _list(d, value)
    return _text(d, value)
