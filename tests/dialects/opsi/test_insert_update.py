"""opsi's two ways to write one object, for product properties, their states and config states:
``insertObject`` replaces the whole object (attributes not given become their defaults), while
``updateObject`` changes only the attributes given non-null and never creates a missing object
(``updateObjects`` does). Each object is read back after every call."""

from __future__ import annotations

from typing import Any

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, enroll
from .test_properties import PRODUCT

CLIENT, OTHER = "pc-1.fleetdeck.local", "pc-2.fleetdeck.local"
LANG = {
    "type": "UnicodeProductProperty",
    "productId": "jedit",
    "productVersion": "4.5",
    "packageVersion": "3",
    "propertyId": "lang",
}
ATTRIBUTES = ("description", "possibleValues", "defaultValues", "editable", "multiValue")


def read_property(rpc: Rpc) -> dict[str, Any] | None:
    found = rpc.ok("productProperty_getObjects", [], {"productId": "jedit", "propertyId": "lang"})
    assert len(found) <= 1
    return {a: found[0][a] for a in ATTRIBUTES} if found else None


def test_product_property(rpc: Rpc) -> None:
    rpc.ok("product_insertObject", PRODUCT)
    full = {
        "description": "Language",
        "possibleValues": ["de", "en", "fr"],
        "defaultValues": ["en"],
        "editable": False,
        "multiValue": True,
    }
    rpc.ok("productProperty_insertObject", {**LANG, **full})
    assert read_property(rpc) == full

    rpc.ok("productProperty_updateObject", {**LANG, "description": "Sprache", "editable": None})
    assert read_property(rpc) == {**full, "description": "Sprache"}
    rpc.ok("productProperty_updateObject", {**LANG, "defaultValues": ["de"], "multiValue": False})
    assert read_property(rpc) == {
        **full,
        "description": "Sprache",
        "defaultValues": ["de"],
        "multiValue": False,
    }

    rpc.ok("productProperty_insertObject", {**LANG, "defaultValues": ["fr"]})
    assert read_property(rpc) == {
        "description": "",
        "possibleValues": ["fr"],  # opsi adds the defaults to the possible values
        "defaultValues": ["fr"],
        "editable": True,
        "multiValue": False,
    }

    rpc.ok("productProperty_delete", "jedit", "4.5", "3", "lang")
    rpc.ok("productProperty_updateObject", {**LANG, "description": "not there"})
    assert read_property(rpc) is None
    rpc.ok("productProperty_updateObjects", [{**LANG, "description": "created"}])
    assert read_property(rpc) == {
        "description": "created",
        "possibleValues": [],
        "defaultValues": [],
        "editable": True,
        "multiValue": False,
    }


def states(rpc: Rpc, method: str, **flt: str) -> dict[str, list[Any]]:
    return {s["objectId"]: s["values"] for s in rpc.ok(method, [], flt) if s["objectId"] in (CLIENT, OTHER)}


def test_product_property_state(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    rpc.ok("product_insertObject", PRODUCT)
    rpc.ok("productProperty_insertObject", {**LANG, "possibleValues": ["de", "en", "fr"], "multiValue": True})
    ident = {"productId": "jedit", "propertyId": "lang"}

    def read() -> dict[str, list[Any]]:
        return states(rpc, "productPropertyState_getObjects", **ident)

    rpc.ok("productPropertyState_insertObject", {**ident, "objectId": CLIENT, "values": ["de", "en"]})
    assert read() == {CLIENT: ["de", "en"]}
    rpc.ok("productPropertyState_updateObject", {**ident, "objectId": CLIENT, "values": None})
    assert read() == {CLIENT: ["de", "en"]}
    rpc.ok("productPropertyState_updateObject", {**ident, "objectId": CLIENT, "values": ["fr"]})
    assert read() == {CLIENT: ["fr"]}
    rpc.ok("productPropertyState_insertObject", {**ident, "objectId": CLIENT})
    assert read() == {CLIENT: []}

    rpc.ok("productPropertyState_updateObject", {**ident, "objectId": OTHER, "values": ["de"]})
    assert read() == {CLIENT: []}
    rpc.ok("productPropertyState_updateObjects", [{**ident, "objectId": OTHER, "values": ["de"]}])
    assert read() == {CLIENT: [], OTHER: ["de"]}


def test_config_state(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    rpc.ok("config_createUnicode", "x.opt", "", ["a", "b", "c"], ["a"], False, True)

    def read() -> dict[str, list[Any]]:
        return states(rpc, "configState_getObjects", configId="x.opt")

    rpc.ok("configState_insertObject", {"configId": "x.opt", "objectId": CLIENT, "values": ["a", "b"]})
    assert read() == {CLIENT: ["a", "b"]}
    rpc.ok("configState_updateObject", {"configId": "x.opt", "objectId": CLIENT, "values": None})
    assert read() == {CLIENT: ["a", "b"]}
    rpc.ok("configState_updateObject", {"configId": "x.opt", "objectId": CLIENT, "values": ["c"]})
    assert read() == {CLIENT: ["c"]}
    rpc.ok("configState_insertObject", {"configId": "x.opt", "objectId": CLIENT})
    assert read() == {CLIENT: []}

    rpc.ok("configState_updateObject", {"configId": "x.opt", "objectId": OTHER, "values": ["b"]})
    assert read() == {CLIENT: []}
    rpc.ok("configState_updateObjects", [{"configId": "x.opt", "objectId": OTHER, "values": ["b"]}])
    assert read() == {CLIENT: [], OTHER: ["b"]}
