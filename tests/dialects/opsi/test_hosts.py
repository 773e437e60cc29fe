"""opsi hosts are fleetdeck computers: CRUD, opsi's filter rules, and the same objects seen
through ``/api/v1`` and the OCO dialect."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, basic, enroll

CLIENT = {
    "type": "OpsiClient",
    "id": "ws-01.example.org",
    "notes": "desk 4",
    "hardwareAddress": "AA-BB-CC-DD-EE-01",
}


def clients(rpc: Rpc, *params: Any) -> list[dict[str, Any]]:
    return [h for h in rpc.ok("host_getObjects", *params) if h["type"] == "OpsiClient"]


def test_enrolled_computer_is_an_opsi_client_with_its_agent_key(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    _, key = enroll(runtime, admin, "pc-1")
    hosts = rpc.ok("host_getObjects")
    server = [h for h in hosts if h["type"] == "OpsiConfigserver"]
    assert len(server) == 1 and server[0]["isMasterDepot"] is True
    (client,) = [h for h in hosts if h["type"] == "OpsiClient"]
    assert client["id"] == "pc-1.fleetdeck.local" and client["ident"] == client["id"]
    assert client["opsiHostKey"] == key
    assert client["created"] and len(client["created"]) == 19
    assert set(client) >= {
        "description",
        "notes",
        "hardwareAddress",
        "ipAddress",
        "lastSeen",
        "oneTimePassword",
    }


def test_viewers_do_not_see_host_keys(viewer_rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-2")
    (client,) = clients(viewer_rpc)
    assert client["opsiHostKey"] is None


def test_default_domain_setting_names_the_clients(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-3")
    runtime.services.settings.set(admin, "opsi.default_domain", "corp.example")
    assert [c["id"] for c in clients(rpc)] == ["pc-3.corp.example"]
    assert rpc.ok("getDomain") == "corp.example"


def test_create_through_opsi_shows_up_everywhere(rpc: Rpc) -> None:
    assert rpc.ok("host_createObjects", [CLIENT]) is None
    (made,) = clients(rpc, [], {"id": "ws-01.example.org"})
    assert made["notes"] == "desk 4"
    listed = rpc.client.get("/api/v1/computers", headers={"Authorization": rpc.auth}).json()["data"]
    assert [(c["hostname"], c["fqdn"]) for c in listed] == [("ws-01", "ws-01.example.org")]


def test_created_in_v1_is_visible_in_opsi(rpc: Rpc) -> None:
    r = rpc.client.post("/api/v1/computers", json={"hostname": "kiosk"}, headers={"Authorization": rpc.auth})
    assert r.status_code == 201, r.text
    assert [c["id"] for c in clients(rpc)] == ["kiosk.fleetdeck.local"]


def test_host_create_opsi_client_and_delete(rpc: Rpc) -> None:
    rpc.ok("host_createOpsiClient", "lab-7.example.org", None, "", "lab machine")
    assert clients(rpc)[0]["notes"] == "lab machine"
    rpc.ok("host_delete", "lab-*.example.org")
    assert clients(rpc) == []


def test_update_object_never_creates_update_objects_does(rpc: Rpc) -> None:
    rpc.ok("host_updateObject", CLIENT)
    assert clients(rpc) == []
    rpc.ok("host_updateObjects", [CLIENT])
    assert len(clients(rpc)) == 1
    rpc.ok("host_updateObject", {"type": "OpsiClient", "id": CLIENT["id"], "notes": "moved"})
    rpc.ok("host_updateObject", {"type": "OpsiClient", "id": CLIENT["id"], "notes": None})  # null: unchanged
    assert clients(rpc)[0]["notes"] == "moved"


def test_delete_objects_and_nothing_to_delete(rpc: Rpc) -> None:
    rpc.ok("host_createObjects", [CLIENT])
    rpc.ok("host_deleteObjects", [{"id": CLIENT["id"], "type": "OpsiClient"}])
    assert clients(rpc) == []
    err = rpc.error("host_deleteObjects", [{"id": CLIENT["id"]}])
    assert err == {"class": "BackendPermissionDeniedError", "message": "No objects to delete"}
    assert rpc.ok("host_deleteObjects", []) is None
    assert rpc.error("host_deleteObjects", [{"type": "OpsiClient"}])["class"] == "ValueError"


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "OpsiClient", "id": "no-domain"},
        {"type": "OpsiClient", "id": "bad_host.example.org"},
        {"type": "OpsiClient", "id": "ok.example.org", "hardwareAddress": "zz:zz"},
        {"type": "Bogus", "id": "ok.example.org"},
        "not an object",
    ],
)
def test_invalid_objects_are_value_errors(rpc: Rpc, obj: Any) -> None:
    assert rpc.error("host_insertObject", obj)["class"] == "ValueError"
    assert clients(rpc) == []


def test_servers_cannot_be_created(rpc: Rpc) -> None:
    err = rpc.error("host_insertObject", {"type": "OpsiDepotserver", "id": "depot2.example.org"})
    assert err["class"] == "BackendPermissionDeniedError"


def test_filter_rules(rpc: Rpc) -> None:
    for i, mac in enumerate(["aa:00:00:00:00:01", "aa:00:00:00:00:02", "bb:00:00:00:00:03"]):
        rpc.ok("host_createObjects", {"type": "OpsiClient", "id": f"ws-{i}.example.org", "notes": f"n{i}"})
        del mac
    ids = lambda *p: sorted(h["id"] for h in rpc.ok("host_getObjects", *p))  # noqa: E731
    everything = ids()
    assert len(everything) == 4  # three clients + the config server
    assert ids([], {"id": []}) == everything  # empty list: no restriction
    assert ids([], {"id": None}) == everything
    assert ids([], {"id": "WS-1.EXAMPLE.ORG"}) == ["ws-1.example.org"]  # case-insensitive
    assert ids([], {"id": "ws-*"}) == ["ws-0.example.org", "ws-1.example.org", "ws-2.example.org"]
    assert ids([], {"id": ["ws-0.example.org", "ws-2*"]}) == ["ws-0.example.org", "ws-2.example.org"]
    assert ids([], {"notes": ">n0", "type": "OpsiClient"}) == ["ws-1.example.org", "ws-2.example.org"]
    assert ids([], {"type": "OpsiDepotserver"}) == [h for h in everything if not h.startswith("ws-")]
    assert ids([], {"type": "Host"}) == everything
    assert ids([], {"type": "OpsiClient", "notes": "n1"}) == ["ws-1.example.org"]
    assert rpc.error("host_getObjects", [], {"colour": "red"})["class"] == "ValueError"
    # a lone dict in a positional list is `attributes`, not a filter (opsi's rule)
    assert len(rpc.ok("host_getObjects", {"id": "ws-0.example.org"})) == 4


def test_attributes_idents_and_hashes(rpc: Rpc) -> None:
    rpc.ok("host_createObjects", CLIENT)
    (only,) = rpc.ok("host_getObjects", ["notes"], {"type": "OpsiClient"})
    assert only["notes"] == "desk 4" and only["id"] == CLIENT["id"] and only["type"] == "OpsiClient"
    assert only["lastSeen"] is None and only["ident"] == CLIENT["id"]
    assert rpc.ok("host_getIdents", "str", {"type": "OpsiClient"}) == [CLIENT["id"]]
    assert rpc.ok("host_getIdents", "dict", {"type": "OpsiClient"}) == [{"id": CLIENT["id"]}]
    assert rpc.ok("host_getIdents", "list", {"type": "OpsiClient"}) == [[CLIENT["id"]]]
    assert rpc.ok("host_getIdents", named={"returnType": "tuple", "type": "OpsiClient"}) == [[CLIENT["id"]]]
    assert rpc.error("host_getIdents", "xml")["class"] == "ValueError"
    (h,) = rpc.ok("host_getHashes", [], {"type": "OpsiClient"})
    assert "ident" not in h and h["id"] == CLIENT["id"]


def test_a_client_sees_its_own_key_but_not_others(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-a")
    enroll(runtime, admin, "pc-b")
    rpc.client.cookies.clear()
    r = rpc.client.post(
        "/rpc",
        json={"id": 1, "method": "host_getObjects", "params": [[], {"type": "OpsiClient"}]},
        headers={"Authorization": basic("pc-a.fleetdeck.local", key)},
    )
    hosts = {h["id"]: h for h in r.json()["result"]}
    assert hosts["pc-a.fleetdeck.local"]["opsiHostKey"] == key
    assert hosts["pc-b.fleetdeck.local"]["opsiHostKey"] is None
    rpc.client.cookies.clear()
    denied = rpc.client.post(
        "/rpc",
        json={"id": 2, "method": "host_deleteObjects", "params": [[{"id": "pc-b.fleetdeck.local"}]]},
        headers={"Authorization": basic("pc-a.fleetdeck.local", key)},
    )
    assert denied.json()["error"]["class"] == "BackendPermissionDeniedError"
