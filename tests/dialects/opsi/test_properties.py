"""opsi product properties over package properties, and their values per client."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.jobs.delivery import claim
from fleetdeck.core.ports import utcnow
from fleetdeck.storage.uow import UnitOfWork

from .conftest import Rpc, enroll

PRODUCT = {
    "type": "LocalbootProduct",
    "id": "jedit",
    "productVersion": "4.5",
    "packageVersion": "3",
    "setupScript": "sh setup.sh",
}


def test_properties_states_and_the_job(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    client = "pc-1.fleetdeck.local"
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("productProperty_createBool", "jedit", "4.5", "3", "start_server", "start it?", [False])
    rpc.ok(
        "productProperty_createUnicode", "jedit", "4.5", "3", "lang", "", ["de", "en"], ["en"], False, False
    )
    props = {p["propertyId"]: p for p in rpc.ok("productProperty_getObjects", [], {"productId": "jedit"})}
    assert props["start_server"]["type"] == "BoolProductProperty"
    assert props["start_server"]["possibleValues"] == [False, True]
    assert props["start_server"]["ident"] == "jedit;4.5;3;start_server"
    assert props["lang"]["defaultValues"] == ["en"] and props["lang"]["editable"] is False

    depot = rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})[0]
    rpc.ok("productPropertyState_create", "jedit", "start_server", client, [True])
    rpc.ok("productPropertyState_create", "jedit", "lang", depot, ["de"])  # the depot default
    states = {
        (s["propertyId"], s["objectId"]): s["values"] for s in rpc.ok("productPropertyState_getObjects")
    }
    assert states == {
        ("start_server", depot): [False],
        ("lang", depot): ["de"],
        ("start_server", client): [True],
    }

    rpc.ok("setProductActionRequest", "jedit", client, "setup")
    with UnitOfWork(runtime.db) as uow:
        now = utcnow()
        ((_, spec),) = claim(uow.session, [cid], {}, now, now)
    assert spec.params["properties"] == {"start_server": [True], "lang": ["de"]}

    rpc.ok("productPropertyState_delete", "jedit", "start_server", client)
    assert ("start_server", client) not in {
        (s["propertyId"], s["objectId"]) for s in rpc.ok("productPropertyState_getObjects")
    }
    rpc.ok("productProperty_delete", "jedit", "4.5", "3", "lang")
    assert [p["propertyId"] for p in rpc.ok("productProperty_getObjects")] == ["start_server"]


def test_bad_properties(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-2")
    rpc.ok("product_createObjects", [PRODUCT])
    assert (
        rpc.error("productProperty_createUnicode", "jedit", "9.9", "1", "x")["class"]
        == "BackendMissingDataError"
    )
    assert (
        rpc.error("productProperty_createUnicode", "jedit", "4.5", "3", "has space")["class"] == "ValueError"
    )
    assert rpc.error("productPropertyState_create", "nope", "x", "pc-2.fleetdeck.local", [1])["class"] == (
        "BackendMissingDataError"
    )
