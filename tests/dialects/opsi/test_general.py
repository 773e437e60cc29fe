"""opsi's remaining host, service and ExtLegacy methods over fleetdeck's objects."""

from __future__ import annotations

from typing import Any

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query

from .conftest import Rpc, basic, enroll

PRODUCT = {
    "type": "LocalbootProduct",
    "id": "jedit",
    "productVersion": "4.5",
    "packageVersion": "3",
    "setupScript": "sh setup.sh",
    "priority": 5,
}


def server(rpc: Rpc) -> str:
    return str(rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})[0])


def test_rename_client_keeps_the_computer(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, key = enroll(runtime, admin, "pc-1")
    rpc.ok("host_renameOpsiClient", "pc-1.fleetdeck.local", "kiosk-7.example.org")
    assert rpc.ok("host_getIdents", "str", {"type": "OpsiClient"}) == ["kiosk-7.example.org"]
    assert runtime.services.computers.get(admin, cid).summary.fqdn == "kiosk-7.example.org"
    # the host key still works under the new id
    r = rpc.client.post(
        "/rpc",
        json={"id": 1, "method": "backend_info"},
        headers={"Authorization": basic("kiosk-7.example.org", key)},
    )
    assert r.status_code == 200
    rpc.client.cookies.clear()
    enroll(runtime, admin, "pc-2")
    assert rpc.error("host_renameOpsiClient", "pc-2.fleetdeck.local", "kiosk-7.example.org")["class"] == (
        "BackendBadValueError"
    )
    assert rpc.error("host_renameOpsiClient", "nope.example.org", "x.example.org")["class"] == (
        "BackendMissingDataError"
    )
    assert (
        rpc.error("host_renameOpsiClient", "pc-2.fleetdeck.local", "not-a-host-id")["class"] == "ValueError"
    )
    assert rpc.error("host_renameOpsiClient", "pc-2.fleetdeck.local", server(rpc))["class"] == (
        "BackendBadValueError"
    )


def test_connected_ids_and_the_one_depot(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    online, _ = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    runtime.services.computers.set_online(online, node_id="n", remote_address="127.0.0.1", agent_version="1")
    assert rpc.ok("host_getMessagebusConnectedIds") == ["pc-1.fleetdeck.local"]
    assert rpc.ok("host_getMessagebusConnectedIds", ["pc-2.fleetdeck.local"]) == []
    err = rpc.error("host_createOpsiDepotserver", "depot2.example.org")
    assert err["class"] == "BackendPermissionDeniedError" and "exactly one" in err["message"]
    assert rpc.error("host_createOpsiConfigserver", server(rpc))["class"] == "BackendPermissionDeniedError"
    assert "one depot" in rpc.error("host_renameOpsiDepotserver", server(rpc), "x.example.org")["message"]
    assert rpc.ok("getDepotId", "pc-2.fleetdeck.local") == server(rpc)
    assert rpc.error("getDepotId", "nope.example.org")["class"] == "BackendMissingDataError"


def test_health_check_sleep_and_base(rpc: Rpc, viewer_rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-1")
    checks = {c["check_id"]: c for c in rpc.ok("service_healthCheck")}
    assert checks["database"]["check_status"] == "ok"
    assert checks["agents"]["check_status"] == "warning"
    assert checks["agents"]["details"] == {"connected": 0, "clients": 1}
    assert viewer_rpc.error("service_healthCheck")["class"] == "BackendPermissionDeniedError"
    assert rpc.ok("sleep", 0.01) is None
    assert rpc.error("sleep", 3600)["class"] == "ValueError"
    assert rpc.error("sleep", "long")["class"] == "ValueError"
    assert rpc.ok("backend_createBase") is None
    assert rpc.error("backend_deleteBase")["class"] == "BackendPermissionDeniedError"


def test_message_of_the_day(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    online, _ = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    runtime.services.computers.set_online(online, node_id="n", remote_address="127.0.0.1", agent_version="1")
    answer = rpc.ok("config_updateMessageOfTheDay", "Device", 1900000000, "Back at 18:00", None)
    assert answer == {"pc-1.fleetdeck.local": {"result": None, "error": None}}
    configs = {
        c["id"]: c["defaultValues"] for c in rpc.ok("config_getObjects", [], {"id": "message_of_the_day.*"})
    }
    assert configs == {
        "message_of_the_day.device.message": ["Device"],
        "message_of_the_day.device.message_valid_until": ["1900000000"],
        "message_of_the_day.user.message": ["Back at 18:00"],
    }
    (job,) = runtime.services.jobs.find(admin, Query(limit=None)).items
    assert (job.computer_id, job.kind, job.spec) == (
        online,
        "action",
        {"action": "message", "message": "Back at 18:00"},
    )
    assert rpc.error("config_updateMessageOfTheDay", None, "soon")["class"] == "ValueError"


def test_product_legacy_methods_and_property_values(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok(
        "productProperty_createUnicode", "jedit", "4.5", "3", "lang", "", ["de", "en"], ["en"], False, False
    )
    rpc.ok("productProperty_createBool", "jedit", "4.5", "3", "start_server", "", [False])
    rpc.ok("setProductProperty", "jedit", "lang", "de", "pc-1.fleetdeck.local")
    rpc.ok("setProductProperties", "jedit", {"start_server": True})  # no objectId: the depot default
    values = rpc.ok(
        "productPropertyState_getValues", ["jedit"], [], ["pc-1.fleetdeck.local", "pc-2.fleetdeck.local"]
    )
    assert values == {
        "pc-1.fleetdeck.local": {"jedit": {"lang": ["de"], "start_server": [True]}},
        "pc-2.fleetdeck.local": {"jedit": {"lang": ["en"], "start_server": [True]}},
    }
    only_set = rpc.ok("productPropertyState_getValues", None, None, ["pc-1.fleetdeck.local"], False)
    assert only_set == {"pc-1.fleetdeck.local": {"jedit": {"lang": ["de"]}}}
    product: dict[str, Any] = rpc.ok("getProduct_hash", "jedit")
    assert (product["productVersion"], product["priority"], product["setupScript"]) == (
        "4.5",
        5,
        "sh setup.sh",
    )
    assert rpc.error("getProduct_hash", "nope")["class"] == "BackendMissingDataError"
    rpc.ok("setProductInstallationStatus", "jedit", "pc-1.fleetdeck.local", "installed")
    assert [i.computer_id for i in runtime.services.packages.list_installations(admin)] == [cid]
    (state,) = rpc.ok("productOnClient_getObjects", [], {"clientId": "pc-1.fleetdeck.local"})
    assert state["installationStatus"] == "installed"
    rpc.ok("setProductInstallationStatus", "jedit", "pc-1.fleetdeck.local", "not_installed")
    assert runtime.services.packages.list_installations(admin) == []
    assert rpc.error("setProductInstallationStatus", "jedit", "pc-1.fleetdeck.local", "broken")["class"] == (
        "ValueError"
    )
    assert (
        "valid dictionary"
        in rpc.error("setProductActionProgress", "jedit", "pc-1.fleetdeck.local", "50%")["message"]
    )


def test_rename_through_v1_is_the_same_rename(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    auth = {"Authorization": rpc.auth}
    r = rpc.client.patch(f"/api/v1/computers/{cid}", json={"fqdn": "Lab-3.Example.org"}, headers=auth)
    assert r.status_code == 200, r.text
    assert rpc.ok("host_getIdents", "str", {"type": "OpsiClient"}) == ["lab-3.example.org"]
    bad = rpc.client.patch(f"/api/v1/computers/{cid}", json={"fqdn": "lab-3"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["detail"]["field"] == "fqdn"
