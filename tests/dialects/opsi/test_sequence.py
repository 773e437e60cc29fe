"""opsi's action sequencing over package dependency rules: which actions dependencies add, in
which order they run, and that the jobs are created in that order."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query

from .conftest import Rpc, enroll

CLIENT = "pc-1.fleetdeck.local"


def product(pid: str, priority: int = 0, uninstall: str = "") -> dict[str, Any]:
    return {
        "type": "LocalbootProduct",
        "id": pid,
        "productVersion": "1.0",
        "packageVersion": "1",
        "setupScript": f"install {pid}",
        "uninstallScript": uninstall,
        "priority": priority,
    }


def rule(rpc: Rpc, pid: str, required: str, **kw: Any) -> None:
    rpc.ok(
        "productDependency_createObjects",
        [
            {
                "productId": pid,
                "productVersion": "1.0",
                "packageVersion": "1",
                "productAction": kw.pop("action", "setup"),
                "requiredProductId": required,
                **kw,
            }
        ],
    )


def request(pid: str, action: str = "setup", client: str = CLIENT) -> dict[str, Any]:
    return {"productId": pid, "productType": "LocalbootProduct", "clientId": client, "actionRequest": action}


@pytest.fixture
def chain(rpc: Rpc, runtime: Runtime, admin: Actor) -> int:
    """javavm must be installed before jedit; jedit-plugins runs after jedit; firefox is
    independent with a higher priority; a product without procedures cannot be required."""
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok(
        "product_createObjects",
        [product("jedit"), product("javavm"), product("jedit-plugins"), product("firefox", priority=10)],
    )
    rule(rpc, "jedit", "javavm", requiredInstallationStatus="installed", requirementType="before")
    rule(rpc, "jedit", "jedit-plugins", requiredAction="setup", requirementType="after")
    return cid


def order(rows: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(r["productId"], r["actionRequest"], r["actionSequence"]) for r in rows]


def test_add_dependencies_orders_and_adds(rpc: Rpc, chain: int) -> None:
    rows = rpc.ok("productOnClient_addDependencies", [request("jedit")])
    assert order(rows) == [("javavm", "setup", 0), ("jedit", "setup", 1), ("jedit-plugins", "setup", 2)]
    assert all(r["clientId"] == CLIENT and r["type"] == "ProductOnClient" for r in rows)
    assert rows[1]["ident"] == f"jedit;LocalbootProduct;{CLIENT}"


def test_generate_sequence_keeps_only_the_given_objects(rpc: Rpc, chain: int) -> None:
    rows = rpc.ok("productOnClient_generateSequence", [request("jedit"), request("firefox")])
    # firefox (priority 10) first; javavm takes sequence 1 although it is not returned
    assert order(rows) == [("firefox", "setup", 0), ("jedit", "setup", 2)]


def test_fulfilled_requirements_add_nothing(rpc: Rpc, runtime: Runtime, admin: Actor, chain: int) -> None:
    javavm = next(p for p in runtime.services.packages.find(admin, _all()).items if p.family_key == "javavm")
    runtime.services.packages.assign_installation(admin, chain, javavm.id)
    rows = rpc.ok("productOnClient_addDependencies", [request("jedit")])
    # javavm is installed: fulfilled; jedit-plugins is a required *action*: always added
    assert order(rows) == [("jedit", "setup", 0), ("jedit-plugins", "setup", 1)]


def test_update_with_dependencies_creates_the_jobs_in_order(
    rpc: Rpc, runtime: Runtime, admin: Actor, chain: int
) -> None:
    rpc.ok("productOnClient_updateObjectsWithDependencies", [request("jedit")])
    jobs = sorted(runtime.services.deployments.computer_jobs(admin, [chain]), key=lambda j: j.sequence)
    assert len({j.container_id for j in jobs}) == 1
    assert [j.family_name for j in jobs] == ["javavm", "jedit", "jedit-plugins"]
    states = {
        r["productId"]: r["actionRequest"]
        for r in rpc.ok("productOnClient_getObjects", [], {"clientId": CLIENT})
    }
    assert states == {"javavm": "setup", "jedit": "setup", "jedit-plugins": "setup"}
    seq = rpc.ok("productOnClient_getObjectsWithSequence", [], {"clientId": CLIENT})
    assert order(seq) == [("javavm", "setup", 0), ("jedit", "setup", 1), ("jedit-plugins", "setup", 2)]
    (group,) = rpc.ok("productOnClient_getActionGroups", CLIENT)
    assert [p["productId"] for p in group["product_on_clients"]] == ["javavm", "jedit", "jedit-plugins"]
    deps = group["dependencies"]["jedit"]
    assert {d["requiredProductId"] for d in deps} == {"javavm", "jedit-plugins"}
    # asking again adds no second job
    rpc.ok("setProductActionRequestWithDependencies", "jedit", CLIENT, "setup")
    assert len(runtime.services.deployments.computer_jobs(admin, [chain])) == 3


def test_uninstall_rules_add_uninstalls(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok(
        "product_createObjects", [product("app", uninstall="rm app"), product("addon", uninstall="rm addon")]
    )
    rule(
        rpc,
        "app",
        "addon",
        action="uninstall",
        requiredInstallationStatus="not_installed",
        requirementType="before",
    )
    pkgs = {p.family_key: p.id for p in runtime.services.packages.find(admin, _all()).items}
    for key in ("app", "addon"):
        runtime.services.packages.assign_installation(admin, cid, pkgs[key])
    rows = rpc.ok("productOnClient_addDependencies", [request("app", "uninstall")])
    assert order(rows) == [("addon", "uninstall", 0), ("app", "uninstall", 1)]
    rpc.ok("productOnClient_updateObjectsWithDependencies", [request("app", "uninstall")])
    jobs = sorted(runtime.services.deployments.computer_jobs(admin, [cid]), key=lambda j: j.container_id)
    assert [(j.family_name, j.is_uninstall) for j in jobs] == [("addon", True), ("app", True)]


def test_a_cycle_is_cut_as_opsi_does(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    """opsi 4.3 answers a circular dependency with both actions, not an OpsiProductOrderingError
    (see core/packages/ordering.py); the stored sequence and the ordering answer as well."""
    enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [product("a"), product("b")])
    rule(rpc, "a", "b", requiredAction="setup", requirementType="before")
    rule(rpc, "b", "a", requiredAction="setup", requirementType="before")
    rows = rpc.ok("productOnClient_addDependencies", [request("a")])
    assert sorted(r["productId"] for r in rows) == ["a", "b"]
    assert [r["actionSequence"] for r in rows] == [0, 1]
    rpc.ok("productOnClient_updateObjectsWithDependencies", [request("a")])
    seq = rpc.ok("productOnClient_getObjectsWithSequence", [], {"clientId": CLIENT})
    # both stored requests now follow their rule, so the bounded sort decides (as in opsi)
    assert sorted(r["productId"] for r in seq) == ["a", "b"]
    assert sorted(r["actionSequence"] for r in seq) == [0, 1]
    (depot,) = rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})
    assert sorted(rpc.ok("getProductOrdering", depot)["sorted"]) == ["a", "b"]


def test_required_versions_are_compared_as_opsi_does(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    """A rule pinning a version the depot does not offer is left out; a pinned version the
    computer does not have installed is not fulfilled; an unpinned rule ignores versions."""
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [product("app"), {**product("lib"), "productVersion": "1.7"}])
    old_lib = next(p for p in runtime.services.packages.find(admin, _all()).items if p.family_key == "lib")
    runtime.services.packages.assign_installation(admin, cid, old_lib.id)
    rpc.ok("product_createObjects", [{**product("lib"), "productVersion": "1.8"}])  # the depot's now

    def needs(**pin: Any) -> list[str]:
        rule(rpc, "app", "lib", requiredInstallationStatus="installed", requirementType="before", **pin)
        (dep,) = rpc.ok("productDependency_getObjects", [], {"productId": "app"})
        assert (dep["requiredProductVersion"], dep["requiredPackageVersion"]) == (
            pin.get("requiredProductVersion"),
            pin.get("requiredPackageVersion"),
        )
        rows = rpc.ok("productOnClient_addDependencies", [request("app")])
        rpc.ok("productDependency_delete", "app", "1.0", "1", "setup", "lib")
        return [r["productId"] for r in rows]

    assert needs() == ["app"]  # lib 1.7 is installed: fulfilled, whatever its version
    assert needs(requiredProductVersion="1.8") == ["lib", "app"]  # 1.7 installed, 1.8 required
    assert needs(requiredProductVersion="1.8", requiredPackageVersion="1") == ["lib", "app"]
    assert needs(requiredProductVersion="1.7") == ["app"]  # the depot offers only 1.8 now: left out
    assert needs(requiredPackageVersion="2") == ["app"]
    bad = {**_dep("app", "lib"), "requiredProductVersion": "not a version!"}
    assert rpc.error("productDependency_createObjects", [bad])["class"] == "ValueError"


def _dep(pid: str, required: str) -> dict[str, Any]:
    return {
        "productId": pid,
        "productVersion": "1.0",
        "packageVersion": "1",
        "productAction": "setup",
        "requiredProductId": required,
        "requiredInstallationStatus": "installed",
    }


def test_product_ordering(rpc: Rpc, chain: int) -> None:
    (depot,) = rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})
    ordering = rpc.ok("getProductOrdering", depot)
    assert ordering["not_sorted"] == ["firefox", "javavm", "jedit", "jedit-plugins"]
    assert ordering["sorted"] == ["firefox", "javavm", "jedit", "jedit-plugins"]
    assert rpc.ok("getProductOrdering", "other-depot.example.org") == {"not_sorted": [], "sorted": []}
    assert rpc.error("getProductOrdering", depot, "algorithm2")["class"] == "ValueError"


def test_bad_input(rpc: Rpc, chain: int) -> None:
    assert rpc.error("productOnClient_addDependencies", [request("jedit", "dance")])["class"] == "ValueError"
    assert rpc.error("productOnClient_generateSequence", ["not an object"])["class"] == "ValueError"
    bad_client = {**request("jedit"), "clientId": "not a host"}
    assert rpc.error("productOnClient_updateObjectsWithDependencies", [bad_client])["class"] == "ValueError"
    assert rpc.error("productOnClient_getActionGroups", "no such host")["class"] == "ValueError"
    # products the depot does not offer are left out, as opsi does
    assert rpc.ok("productOnClient_addDependencies", [request("nope")]) == []


def _all() -> Query:
    return Query(limit=None)


def test_rules_and_priority_are_the_same_objects_in_v1(rpc: Rpc, chain: int) -> None:
    pkgs = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    by_key = {p["family_key"]: p for p in pkgs}
    assert by_key["firefox"]["priority"] == 10
    rules = {
        (r["requires_id"], r["required_action"], r["required_status"], r["requirement_type"])
        for r in by_key["jedit"]["dependency_rules"]
    }
    assert rules == {
        (by_key["javavm"]["id"], None, "installed", "before"),
        (by_key["jedit-plugins"]["id"], "setup", None, "after"),
    }
    r = rpc.client.patch(
        f"/api/v1/packages/{by_key['firefox']['id']}",
        json={"priority": -5},
        headers={"Authorization": rpc.auth},
    )
    assert r.status_code == 200, r.text
    (firefox,) = rpc.ok("product_getObjects", [], {"id": "firefox"})
    assert firefox["priority"] == -5
    assert (
        rpc.ok("getProductOrdering", rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})[0])[
            "sorted"
        ][-1]
        == "firefox"
    )
