"""OCO's parameter shapes. OCO's names are already snake_case, so no aliases are needed; what
lives here is how loosely typed PHP-era input is accepted (ids as numbers or numeric strings,
0/1 flags, ``null`` for an empty list) and the nested objects of ``package.create``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

INT64 = 2**63 - 1


def _none_to_empty(value: Any) -> Any:
    return () if value is None else value


def _blank_to_none(value: Any) -> Any:
    return None if value in ("", None) else value


# An object id: a JSON number or a numeric string; out-of-range numbers are a validation error.
Id = Annotated[int, Field(ge=-INT64, le=INT64)]
# An optional id: null, "" and a missing value all mean "not given".
OptId = Annotated[Id | None, BeforeValidator(_blank_to_none)]
# An optional number where PHP's empty() counts: null and "" mean "not given".
OptInt = Annotated[Id | None, BeforeValidator(_blank_to_none)]
# A list of ids; null means empty.
IdList = Annotated[tuple[Id, ...], BeforeValidator(_none_to_empty)]
StrList = Annotated[tuple[str, ...], BeforeValidator(_none_to_empty)]
# 0/1, true/false, "0"/"1".
Flag = bool
# Free text; null means empty.
Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else v)]


class PackageFile(BaseModel):
    """One entry of ``package.create``'s ``files``: a name and base64 content."""

    model_config = ConfigDict(extra="ignore")

    name: Text = ""
    content: Text = ""
