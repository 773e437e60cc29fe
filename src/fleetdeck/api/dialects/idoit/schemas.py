"""i-doit's parameter spellings: ids as integers or numeric strings, constants or ids for
types and statuses, ``limit`` as ``"offset,count"``, the legacy names of categories."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit.errors import Code, IdoitError

# Constants i-doit still accepts for renamed categories (pyidoit uses them).
LEGACY_CATEGORIES = {
    "C__CMDB__SUBCAT__NETWORK_PORT": "C__CATG__NETWORK_PORT",
    "C__CMDB__SUBCAT__NETWORK_INTERFACE_P": "C__CATG__NETWORK_INTERFACE",
    "C__CMDB__SUBCAT__NETWORK_INTERFACE_L": "C__CATG__NETWORK_LOG_PORT",
    "C__CMDB__SUBCAT__STORAGE__DEVICE": "C__CATG__STORAGE_DEVICE",
    "C__CMDB__SUBCAT__LICENCE_LIST": "C__CATS__LICENCE_LIST",
}

RECORD_STATUS_CONSTS = {
    "C__RECORD_STATUS__BIRTH": 1,
    "C__RECORD_STATUS__NORMAL": 2,
    "C__RECORD_STATUS__ARCHIVED": 3,
    "C__RECORD_STATUS__ARCHIVE": 3,  # the PHP client's test suite spells it so
    "C__RECORD_STATUS__DELETED": 4,
    "C__RECORD_STATUS__PURGE": 5,
    "C__RECORD_STATUS__TEMPLATE": 6,
    "C__RECORD_STATUS__MASS_CHANGES_TEMPLATE": 7,
}


def numeric(value: Any, name: str) -> int:
    """A positive id given as an integer or a numeric string."""
    if isinstance(value, bool) or value is None:
        raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} has to be numeric.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} has to be numeric.")
    if number <= 0:
        raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} has to be a positive number.")
    return number


def required(value: Any, name: str) -> Any:
    if value is None:
        raise IdoitError(Code.INVALID_PARAMS, f"Mandatory parameter '{name}' not found in your request.")
    return value


def record_status(value: Any, name: str = "status") -> int:
    """A record status as an id or a ``C__RECORD_STATUS__*`` constant."""
    if isinstance(value, str) and value.strip() in RECORD_STATUS_CONSTS:
        return RECORD_STATUS_CONSTS[value.strip()]
    if (
        isinstance(value, int | str)
        and not isinstance(value, bool)
        and str(value).strip().lstrip("-").isdigit()
    ):
        number = int(str(value).strip())
        if number == -1 or 1 <= number <= 7:
            return number
    raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} is not a valid record status: {value!r}.")


def category_const(value: Any, name: str = "category") -> str:
    if not isinstance(value, str) or not value.strip():
        raise IdoitError(Code.INVALID_PARAMS, f"Parameter {name} has to be a category constant.")
    text = value.strip()
    return LEGACY_CATEGORIES.get(text, text)


def limit(value: Any) -> tuple[int, int | None]:
    """``limit``: a count, or ``"offset,count"``; returns (offset, count)."""
    if value is None or value == "":
        return 0, None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return 0, value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if all(p.isdigit() for p in parts) and len(parts) in (1, 2):
            return (0, int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    raise IdoitError(Code.INVALID_PARAMS, f"Parameter limit has to be a number or 'offset,count': {value!r}.")
