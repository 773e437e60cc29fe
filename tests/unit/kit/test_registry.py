"""The method-declaration registry shared by the JSON-RPC dialects (``api/kit/registry.py``)."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BeforeValidator

from fleetdeck.api.kit.registry import ParamsInvalid, Registry


def make() -> Registry:
    reg = Registry("test")

    @reg.method("obj_getObjects", deprecated=True, alternative="obj_find")
    def get_objects(ctx: object, attributes: tuple[str, ...] = (), limit: int = 10) -> dict[str, object]:
        """Old lookup.

        More text."""
        return {"ctx": ctx, "attributes": attributes, "limit": limit}

    @reg.method("obj_find")
    def find(ctx: object, name: str, exact: bool = False) -> str:
        return f"{ctx}:{name}:{exact}"

    return reg


def test_declaration_is_recorded_once_in_order() -> None:
    reg = make()
    assert reg.names() == ["obj_getObjects", "obj_find"]
    assert "obj_find" in reg
    assert len(reg) == 2
    described = reg.describe()
    assert described[0] == {
        "name": "obj_getObjects",
        "params": [
            {"name": "attributes", "required": False, "default": ()},
            {"name": "limit", "required": False, "default": 10},
        ],
        "summary": "Old lookup.",
        "deprecated": True,
        "alternative": "obj_find",
        "status": "implemented",
    }
    assert described[1]["params"][0] == {"name": "name", "required": True, "default": None}
    with pytest.raises(ValueError, match="declared twice"):
        reg.method("obj_find")(lambda ctx: None)


def test_bind_keywords_positionals_and_lax_types() -> None:
    reg = make()
    find = reg.get("obj_find")
    assert find is not None
    assert find.invoke("c", {"name": "x", "exact": "1", "unknown": 5}) == "c:x:True"
    assert find.invoke("c", args=["y"]) == "c:y:False"
    getter = reg.get("obj_getObjects")
    assert getter is not None
    assert getter.invoke("c", {"attributes": ["a"], "limit": "3"}) == {
        "ctx": "c",
        "attributes": ("a",),
        "limit": 3,
    }


@pytest.mark.parametrize(
    ("kwargs", "args", "match"),
    [
        ({}, (), "name"),
        ({"name": ["x"]}, (), "name"),
        ({"name": "x", "exact": "perhaps"}, (), "exact"),
        ({}, ("a", True, 3), "at most 2"),
    ],
)
def test_bind_rejects_what_does_not_fit(
    kwargs: dict[str, object], args: tuple[object, ...], match: str
) -> None:
    find = make().get("obj_find")
    assert find is not None
    with pytest.raises(ParamsInvalid, match=match):
        find.bind(kwargs, args)


BlankIsNone = Annotated[int | None, BeforeValidator(lambda v: None if v == "" else v)]


def test_annotated_validators_of_a_declaration_apply() -> None:
    """``Annotated[..., BeforeValidator]`` parameter types keep their validators (an earlier
    registry read the hints without extras and silently dropped them)."""
    reg = Registry("test")

    @reg.method("m")
    def m(ctx: object, group_id: BlankIsNone = None) -> object:
        return group_id

    method = reg.get("m")
    assert method is not None
    assert method.bind({"group_id": ""}) == {"group_id": None}
    assert method.bind({"group_id": "7"}) == {"group_id": 7}
    with pytest.raises(ParamsInvalid):
        method.bind({"group_id": "x"})
