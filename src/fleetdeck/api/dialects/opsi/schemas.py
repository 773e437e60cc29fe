"""opsi's parameter types, read from opsi's own interface description.

``data/interface.json`` records every method's annotations as opsiconfd declares them
(``"list[str] | None"``, ``"list[dict] | list[Host] | dict | Host"``...). ``param_type`` turns
such a string into a type the kit's registry validates with pydantic, so a call with a wrong
type is refused at the edge in opsi's error format instead of reaching core. Object types
(``Host``, ``ProductOnClient``...) arrive as JSON objects, so they are ``dict``; what an object
must contain is each family's ``coerce``'s business (``objects/``).

opsiconfd itself checks no parameter types: its code coerces (``forceList``, ``forceUnicode``...)
and a value that cannot be coerced fails there with a ``ValueError``. So a wrong value type is a
``ValueError`` here too, while a missing or surplus argument is Python's ``TypeError``
(``errors.py``). A few published annotations are narrower than what opsi's code takes
(``productProperty_createBool(defaultValues: "str | None")`` is called with a list of booleans);
``OVERRIDES`` corrects those, each with its reason. Where opsi's own code coerces, so does
this: a number given for a ``str`` parameter is its text (``forceUnicode``), a single value
given for a list parameter is a list of one (``forceList``: ``clientIds="pc.domain"``), and the
values of a ``dict`` parameter are the method's to coerce. Booleans are never text.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Union

from pydantic import BeforeValidator

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\[|\]|,|\|)\s*")
IDENT_TYPE = "IdentType"
ATTRIBUTES_TYPE = "AttributeList"


def _number_as_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _one_as_list(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value)  # opsi iterates it: its keys (``host_getObjects({"id": ...})``)
    return [value] if value is not None and not isinstance(value, list | tuple) else value


def _attribute_names(value: Any) -> Any:
    """``attributes`` as opsi's getters take it: a list of names, one name, or a dict (opsi
    iterates it: its keys). A number or a boolean is no name: it stays, and fails."""
    if isinstance(value, dict):
        return list(value)
    return [value] if isinstance(value, str) else value


OpsiStr = Annotated[str, BeforeValidator(_number_as_text)]
Object = dict[str, Any]

NAMES: dict[str, Any] = {
    "str": OpsiStr,
    "int": int,
    "float": float,
    "bool": bool,
    "None": type(None),
    "Any": Any,
    "dict": Object,
    "list": Annotated[list[Any], BeforeValidator(_one_as_list)],
    IDENT_TYPE: OpsiStr | Object | list[Any],  # opsi's ident: "a;b", {attr: value} or [a, b]
    # ``attributes`` of the getters: opsi iterates it as given, so no forceList (5 is an error)
    ATTRIBUTES_TYPE: Annotated[list[OpsiStr], BeforeValidator(_attribute_names)],
}


class _Parser:
    """A small recursive-descent parser for opsi's annotation strings."""

    def __init__(self, text: str) -> None:
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        if "".join(self.tokens) != re.sub(r"\s+", "", text):
            raise ValueError(f"cannot read annotation {text!r}")
        self.pos = 0

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r}, got {token!r}")
        self.pos += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def union(self) -> Any:
        options = [self.single()]
        while self.peek() == "|":
            self.take("|")
            options.append(self.single())
        unique = list(dict.fromkeys(options))
        return unique[0] if len(unique) == 1 else Union[tuple(unique)]  # noqa: UP007 - built at run time

    def single(self) -> Any:
        name = self.take()
        if self.peek() != "[":
            return NAMES.get(name, Object)  # an opsi object type: a JSON object
        self.take("[")
        args = [self.union()]
        while self.peek() == ",":
            self.take(",")
            args.append(self.union())
        self.take("]")
        if name == "list":
            return Annotated[list[args[0]], BeforeValidator(_one_as_list)]  # type: ignore[valid-type]
        if name == "dict":
            return Object  # its values are coerced by the method (``setProductProperties`` takes booleans)
        raise ValueError(f"unknown generic {name!r}")


# (method, parameter) -> the annotation opsi's code actually accepts, where the published one is narrower
OVERRIDES: dict[tuple[str, str], str] = {
    **{
        (method, "defaultValues"): "list[Any] | None"  # forceList'ed; booleans for createBool
        for method in (
            "productProperty_create",
            "productProperty_createBool",
            "productProperty_createUnicode",
        )
    },
    **{
        (method, flag): "bool | None"  # forceBool'ed
        for method in ("productProperty_create", "productProperty_createUnicode")
        for flag in ("editable", "multiValue")
    },
    ("productOnDepot_create", "locked"): "bool | None",  # forceBool'ed (ProductOnDepot.setLocked)
    **{
        (method, "maxBandwidth"): "int | None"  # forceInt'ed
        for method in ("host_createOpsiDepotserver", "host_createOpsiConfigserver")
    },
    **{
        (method, "hardwareAddress"): "list[str] | None"  # forceHardwareAddress takes the first of a list
        for method in (
            "createClient",
            "host_createOpsiClient",
            "host_createOpsiDepotserver",
            "host_createOpsiConfigserver",
        )
    },
}


def annotation_of(method: str, param: str, published: str | None) -> str | None:
    if param == "attributes" and published == "list[str] | None":
        return f"{ATTRIBUTES_TYPE} | None"  # host_getObjects(attributes=5) fails as in opsi
    return OVERRIDES.get((method, param), published)


@functools.cache
def param_type(annotation: str | None) -> Any:
    """The type of a parameter annotated ``annotation`` in opsi's interface (None: unknown)."""
    if not annotation:
        return Any
    parser = _Parser(annotation)
    result = parser.union()
    if parser.peek() is not None:
        raise ValueError(f"cannot read annotation {annotation!r}")
    return result
