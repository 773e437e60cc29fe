"""opsi product dependencies over fleetdeck package dependencies."""

from __future__ import annotations

from .conftest import Rpc

JEDIT = {
    "type": "LocalbootProduct",
    "id": "jedit",
    "productVersion": "4.5",
    "packageVersion": "3",
    "setupScript": "x",
}
JAVA = {**JEDIT, "id": "javavm", "productVersion": "1.8", "packageVersion": "1"}


def test_dependency_round_trip(rpc: Rpc) -> None:
    rpc.ok("product_createObjects", [JEDIT, JAVA])
    rpc.ok(
        "productDependency_create",
        "jedit",
        "4.5",
        "3",
        "setup",
        "javavm",
        None,
        None,
        None,
        "installed",
        "before",
    )
    (dep,) = rpc.ok("productDependency_getObjects", [], {"productId": "jedit"})
    assert dep["ident"] == "jedit;4.5;3;setup;javavm"
    assert (dep["requiredInstallationStatus"], dep["requirementType"], dep["requiredProductVersion"]) == (
        "installed",
        "before",
        "1.8",
    )
    pkgs = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    by_name = {p["family_name"]: p for p in pkgs}
    assert by_name["jedit"]["depends_on"] == [by_name["javavm"]["id"]]
    rpc.ok("productDependency_delete", "jedit", "4.5", "3", "setup", "javavm")
    assert rpc.ok("productDependency_getObjects") == []


def test_unsupported_forms_say_so(rpc: Rpc) -> None:
    rpc.ok("product_createObjects", [JEDIT, JAVA])
    err = rpc.error(
        "productDependency_create", "jedit", "4.5", "3", "setup", "javavm", None, None, "setup", None, "after"
    )
    assert err["class"] == "BackendError" and "supports one form" in err["message"]
    assert (
        rpc.error("productDependency_create", "jedit", "4.5", "3", "setup", "nope")["class"]
        == "BackendMissingDataError"
    )
