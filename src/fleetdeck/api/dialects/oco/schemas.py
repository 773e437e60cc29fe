"""OCO's parameter shapes. OCO's names are already snake_case, so no aliases are needed; what
lives here is how loosely typed PHP-era input is accepted, and refused, as OCO does:

* text where a number came (a host name ``123``): PHP reads the number as its decimal text;
* ids as JSON numbers or numeric strings (``"12"``, `` 12 ``, ``12.0``); an id that cannot name
  a row (``"abc"``, ``1.5``, beyond 64 bits, an object) is an id of nothing, so the method
  answers OCO's -32003 "Not found" (a list of ids skips it, as OCO skips unknown ids), never a
  type error or a database error;
* flags with PHP's truthiness (``0``, ``"0"``, ``""``, ``false`` and ``null`` are false);
* ``null`` for an empty list, and a scalar where a list belongs (PHP's ``foreach`` warns and
  runs zero times) as an empty list;
* the nested objects of ``package.create``.

Numbers that are not ids (``restart_timeout``, ``license_count``) keep their range check:
OCO stores them, so a value no column holds is "Invalid Value" (-32001).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

INT64 = 2**63 - 1
# The id of nothing: no row has it (ids start at 1), so a lookup answers "not found". Not 0,
# because a method treats 0 like a missing id, and OCO tells "given but unknown" (not found)
# from "not given" (e.g. ``package.list``'s "package_family_id or package_group_id is required").
NO_SUCH_ID = -1
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _none_to_empty(value: Any) -> Any:
    return () if value is None else value


def _blank_to_none(value: Any) -> Any:
    return None if value in ("", None) else value


def php_text(value: Any) -> Any:
    """A scalar as PHP's string conversion writes it: ``123`` -> ``"123"``, ``1.5`` -> ``"1.5"``,
    ``2.0`` -> ``"2"``, ``true`` -> ``"1"``, ``false`` and ``null`` -> ``""``. Lists and objects
    are left to fail validation (PHP would write "Array")."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return value


def php_flag(value: Any) -> Any:
    """PHP's truthiness of a scalar: ``0``, ``0.0``, ``""``, ``"0"``, ``false`` and ``null`` are
    false, every other number or string is true (``2``, ``"yes"``, even ``"false"``)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value not in ("", "0")
    return value


def loose_id(value: Any) -> int:
    """An id as OCO's lookup takes it; anything that names no row is ``NO_SUCH_ID``."""
    if isinstance(value, bool):
        return NO_SUCH_ID
    whole_float = isinstance(value, float) and value.is_integer()
    if whole_float or (isinstance(value, str) and _INTEGER.fullmatch(value)):
        value = int(value)
    if isinstance(value, int) and -INT64 <= value <= INT64:
        return value
    return NO_SUCH_ID


def _opt_id(value: Any) -> int | None:
    return None if value in ("", None) else loose_id(value)


def _id_list(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(loose_id(v) for v in value)


def _text_list(value: Any) -> Any:
    if value is None:
        return ()
    return [php_text(v) for v in value] if isinstance(value, list) else value


# An optional id: null, "" and a missing value all mean "not given"; a value that names no row
# is NO_SUCH_ID.
OptId = Annotated[int | None, BeforeValidator(_opt_id)]
# A number OCO stores: a JSON number or a numeric string within 64 bits.
Int64 = Annotated[int, Field(ge=-INT64, le=INT64)]
# An optional number where PHP's empty() counts: null and "" mean "not given".
OptInt = Annotated[Int64 | None, BeforeValidator(_blank_to_none)]
# A list of ids; null (or a scalar) means empty; entries that name no row are NO_SUCH_ID.
IdList = Annotated[tuple[int, ...], BeforeValidator(_id_list)]
StrList = Annotated[tuple[str, ...], BeforeValidator(_text_list)]
# 0/1, true/false, "0"/"1", and PHP's truthiness for the rest.
Flag = Annotated[bool, BeforeValidator(php_flag)]
# Free text; null means empty, numbers are their decimal text.
Text = Annotated[str, BeforeValidator(php_text)]
# Optional text (dates, line endings): null stays null, numbers are their decimal text.
OptText = Annotated[str | None, BeforeValidator(lambda v: None if v is None else php_text(v))]


class PackageFile(BaseModel):
    """One entry of ``package.create``'s ``files``: a name and base64 content."""

    model_config = ConfigDict(extra="ignore")

    name: Text = ""
    content: Text = ""
