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
        None,  # not pinned: opsi stores and returns null
    )
    pkgs = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    by_name = {p["family_name"]: p for p in pkgs}
    assert by_name["jedit"]["depends_on"] == [by_name["javavm"]["id"]]
    rpc.ok("productDependency_delete", "jedit", "4.5", "3", "setup", "javavm")
    assert rpc.ok("productDependency_getObjects") == []


def test_every_opsi_form_is_kept(rpc: Rpc) -> None:
    cleanup = {**JEDIT, "id": "cleanup", "productVersion": "1", "packageVersion": "1", "uninstallScript": "y"}
    rpc.ok("product_createObjects", [JEDIT, JAVA, cleanup])
    rpc.ok(
        "productDependency_create",
        "jedit",
        "4.5",
        "3",
        "setup",
        "cleanup",
        None,
        None,
        "setup",
        None,
        "after",
    )
    rpc.ok(
        "productDependency_create",
        "jedit",
        "4.5",
        "3",
        "uninstall",
        "javavm",
        None,
        None,
        None,
        "not_installed",
    )
    rows = {(d["productAction"], d["requiredProductId"]): d for d in rpc.ok("productDependency_getObjects")}
    after = rows[("setup", "cleanup")]
    assert (after["requiredAction"], after["requiredInstallationStatus"], after["requirementType"]) == (
        "setup",
        None,
        "after",
    )
    loose = rows[("uninstall", "javavm")]
    assert (loose["requiredInstallationStatus"], loose["requirementType"]) == ("not_installed", None)
    # a partial update changes only what it names
    rpc.ok("productDependency_updateObject", {**after, "requirementType": "before", "requiredAction": None})
    (changed,) = rpc.ok("productDependency_getObjects", [], {"requiredProductId": "cleanup"})
    assert (changed["requiredAction"], changed["requirementType"]) == ("setup", "before")
    # only the "install first" rule counts for fleetdeck's own deployments
    pkgs = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    by_name = {p["family_name"]: p for p in pkgs}
    assert by_name["jedit"]["depends_on"] == [by_name["cleanup"]["id"]]


def test_bad_dependencies_are_refused(rpc: Rpc) -> None:
    rpc.ok("product_createObjects", [JEDIT, JAVA])
    base = ["jedit", "4.5", "3", "setup", "javavm", None, None]
    assert rpc.error("productDependency_create", *base, "setup", "installed")["class"] == "ValueError"
    assert rpc.error("productDependency_create", *base, None, None)["class"] == "ValueError"
    assert rpc.error("productDependency_create", *base, "explode", None)["class"] == "ValueError"
    assert (
        rpc.error("productDependency_create", *base, None, "installed", "sideways")["class"] == "ValueError"
    )
    bad_action = ["jedit", "4.5", "3", "explode", "javavm"]
    assert (
        rpc.error("productDependency_create", *bad_action, None, None, None, "installed")["class"]
        == "ValueError"
    )
    assert rpc.error(
        "productDependency_create", "jedit", "4.5", "3", "setup", "jedit", None, None, None, "installed"
    )["class"] in ("BackendBadValueError", "ValueError")
    assert (
        rpc.error(
            "productDependency_create", "jedit", "4.5", "3", "setup", "nope", None, None, None, "installed"
        )["class"]
        == "BackendMissingDataError"
    )
    assert rpc.ok("productDependency_getObjects") == []
