"""opsi products are fleetdeck packages; productOnClient is the package's state on a computer,
and setting its actionRequest creates a real deployment job."""

from __future__ import annotations

from typing import Any

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, enroll

PRODUCT = {
    "type": "LocalbootProduct",
    "id": "firefox",
    "productVersion": "128.0",
    "packageVersion": "2",
    "name": "Mozilla Firefox",
    "setupScript": "sh setup.sh",
    "uninstallScript": "sh uninstall.sh",
}


def poc(rpc: Rpc, **flt: Any) -> list[dict[str, Any]]:
    return list(rpc.ok("productOnClient_getObjects", [], flt))


def test_product_round_trip_with_v1_packages(rpc: Rpc) -> None:
    rpc.ok("product_createObjects", [PRODUCT])
    (product,) = rpc.ok("product_getObjects")
    assert product["ident"] == "firefox;128.0;2"
    assert {k: product[k] for k in PRODUCT} == PRODUCT
    pkgs = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    assert [(p["family_name"], p["version"], p["package_version"]) for p in pkgs] == [
        ("Mozilla Firefox", "128.0", "2")
    ]
    (on_depot,) = rpc.ok("productOnDepot_getObjects")
    assert (
        on_depot["productId"] == "firefox"
        and on_depot["depotId"] == rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})[0]
    )
    rpc.ok("product_updateObject", {**PRODUCT, "setupScript": "sh new.sh", "name": None})
    assert rpc.ok("product_getObjects")[0]["setupScript"] == "sh new.sh"
    rpc.ok("product_delete", "firefox")
    assert rpc.ok("product_getObjects") == []


def test_a_new_version_of_a_renamed_product_joins_its_family(rpc: Rpc) -> None:
    """productId is the family's key: the display name ("Mozilla Firefox") is not looked up."""
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("product_createObjects", [{**PRODUCT, "productVersion": "129.0", "packageVersion": "1"}])
    products = rpc.ok("product_getObjects", [], {"id": "firefox"})
    assert sorted(p["ident"] for p in products) == ["firefox;128.0;2", "firefox;129.0;1"]
    assert {p["name"] for p in products} == {"Mozilla Firefox"}
    families = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    assert {p["family_id"] for p in families} == {families[0]["family_id"]}
    # Without a name the family keeps its own.
    rpc.ok("product_insertObject", {**PRODUCT, "productVersion": "130.0", "name": None})
    assert {p["name"] for p in rpc.ok("product_getObjects", [], {"id": "firefox"})} == {"Mozilla Firefox"}
    # A new product may share the name of another (opsi's key is id + versions): its own family.
    rpc.ok("product_insertObject", {**PRODUCT, "id": "firefox-esr"})
    (esr,) = rpc.ok("product_getObjects", [], {"id": "firefox-esr"})
    assert esr["name"] == "Mozilla Firefox"


def test_bad_products(rpc: Rpc) -> None:
    assert rpc.error("product_insertObject", {**PRODUCT, "id": "Bad Id"})["class"] == "ValueError"
    assert rpc.error("product_insertObject", {**PRODUCT, "productVersion": "1 0"})["class"] == "ValueError"
    assert rpc.error("product_insertObject", {**PRODUCT, "type": "NetbootProduct"})["class"] == "BackendError"
    err = rpc.error("productOnDepot_insertObject", {"productId": "x", "productType": "LocalbootProduct"})
    assert err["class"] == "ValueError"  # its ident is incomplete


def test_action_request_creates_a_job_and_none_withdraws_it(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    client = "pc-1.fleetdeck.local"
    assert poc(rpc) == []
    rpc.ok(
        "productOnClient_updateObjects",
        [
            {
                "productId": "firefox",
                "productType": "LocalbootProduct",
                "clientId": client,
                "actionRequest": "setup",
            }
        ],
    )
    (state,) = poc(rpc)
    assert state["actionRequest"] == "setup" and state["installationStatus"] == "not_installed"
    assert state["ident"] == f"firefox;LocalbootProduct;{client}"
    jobs = runtime.services.deployments.computer_jobs(admin, [cid])
    assert [(j.family_name, j.status.value) for j in jobs] == [("Mozilla Firefox", "queued")]
    rpc.ok("setProductActionRequest", "firefox", client, "setup")  # already requested: no second job
    assert len(runtime.services.deployments.computer_jobs(admin, [cid])) == 1
    rpc.ok("setProductActionRequest", "firefox", client, "none")
    assert runtime.services.deployments.computer_jobs(admin, [cid]) == []


def test_bad_action_requests(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-2")
    rpc.ok("product_createObjects", [PRODUCT])
    client = "pc-2.fleetdeck.local"
    assert rpc.error("setProductActionRequest", "firefox", client, "dance")["class"] == "ValueError"
    assert rpc.error("setProductActionRequest", "nope", client, "setup")["class"] == "BackendMissingDataError"
    assert rpc.error("setProductActionRequest", "firefox", "nobody.example.org", "setup")["class"] == (
        "BackendMissingDataError"
    )
    # uninstall of a product that is not installed is stored as opsi stores it (no job)
    rpc.ok("setProductActionRequest", "firefox", client, "uninstall")
    (state,) = poc(rpc)
    assert (state["actionRequest"], state["installationStatus"]) == ("uninstall", "not_installed")
