"""opsi's parameter types from its interface description, checked at the edge: a wrong type is
opsi's ValueError (what its own coercion raises), a missing argument Python's TypeError, and what
opsi's code accepts beyond its published annotations is still accepted."""

from __future__ import annotations

import typing

from fleetdeck.api.dialects.opsi.interface import SPEC
from fleetdeck.api.dialects.opsi.registry import METHODS
from fleetdeck.api.dialects.opsi.schemas import OVERRIDES, param_type

from .conftest import Rpc


def test_generated_methods_take_opsis_types_not_any() -> None:
    """Only parameters that opsi itself leaves untyped (``Any`` or no annotation) take anything."""
    untyped = []
    for method in METHODS:
        entry = SPEC.get(method.name, {}).get("entry")
        if entry is None:
            continue
        published = entry.get("annotations") or {}
        for p in method.params:
            if p.annotation is typing.Any and published.get(p.name) not in (None, "Any"):
                untyped.append(f"{method.name}({p.name}: {published.get(p.name)})")
    assert untyped == []
    assert len([p for m in METHODS for p in m.params if p.annotation is not typing.Any]) > 400


def test_the_annotation_parser() -> None:
    assert param_type("str") is not str  # numbers become text before the str check
    for text in ("list[str] | None", "list[dict] | list[Host] | dict | Host", "dict[str, Any]", "IdentType"):
        assert param_type(text) is not typing.Any
    assert all(isinstance(k, tuple) for k in OVERRIDES)


def test_wrong_value_types_are_value_errors(rpc: Rpc) -> None:
    assert rpc.error("host_getObjects", [{"id": 1}]) == {
        "class": "ValueError",
        "message": "attributes.0: Input should be a valid string",
    }
    assert rpc.error("setProductActionRequest", {"a": 1}, "pc.example.org", "setup")["class"] == "ValueError"
    assert rpc.error("host_createObjects", "not an object")["class"] == "ValueError"
    assert rpc.error("configState_getClientToDepotserver", [], [], "maybe")["class"] == "ValueError"


def test_missing_or_surplus_arguments_are_type_errors(rpc: Rpc) -> None:
    assert rpc.error("setProductActionRequest", "p1")["class"] == "TypeError"
    assert rpc.error("host_delete", "a", "b")["class"] == "TypeError"
    assert rpc.error("host_getObjects", named={"attributes": [], "nope": 1})["class"] in (
        "TypeError",
        "ValueError",
    )


def test_what_opsi_coerces_is_accepted(rpc: Rpc) -> None:
    rpc.ok("host_createOpsiClient", "coerce-1.example.org")
    # one value for a list parameter, a number for a text one, a dict's keys as attributes
    assert rpc.ok("host_getObjects", "id", {"id": "coerce-1.example.org"})[0]["id"] == "coerce-1.example.org"
    rows = rpc.ok("host_getObjects", {"id": "ignored-as-a-filter"})  # opsi iterates the dict
    assert rows and all(
        set(k for k, v in r.items() if v is not None) <= {"id", "type", "ident"} for r in rows
    )
    assert rpc.ok("configState_getClientToDepotserver", [], "coerce-1.example.org")[0]["clientId"] == (
        "coerce-1.example.org"
    )
    rpc.ok(
        "product_createObjects",
        [
            {
                "type": "LocalbootProduct",
                "id": "p9",
                "productVersion": 1,
                "packageVersion": 2,
                "setupScript": "s",
            }
        ],
    )
    rpc.ok("productProperty_createBool", "p9", 1, 2, "flag", "a flag", [True])
