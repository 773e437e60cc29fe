"""What a real opsi client reports about itself from its own host login (opsiclientd's
hwaudit/swaudit): ``*_setObsolete`` then ``auditHardwareOnHost_create``,
``auditSoftware_create``, ``auditSoftwareOnClient_create``, ``auditHardware_create`` are
stored (audited) and read back through ``*_getObjects``; a computer whose fleetdeck agent
reported an inventory keeps showing that inventory (the reports are stored beside it)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.protocol import messages as m
from tests.factories import audit_mark, audit_since

from .conftest import Rpc, enroll

ME = "pc-1.fleetdeck.local"
SYSTEM = {"name": "pc-1", "vendor": "ACME", "model": "Box 9", "serialNumber": "SN-9"}
SOFTWARE = {"name": "7-Zip", "version": "23.01", "subVersion": "", "language": "", "architecture": "x64"}


def report(me: Rpc) -> None:
    me.ok("auditHardwareOnHost_setObsolete", ME)
    me.ok("auditSoftwareOnClient_setObsolete", [ME])
    me.ok("auditHardwareOnHost_create", named={"hostId": ME, "hardwareClass": "COMPUTER_SYSTEM", **SYSTEM})
    me.ok(
        "auditHardware_create", named={"hardwareClass": "COMPUTER_SYSTEM", "vendor": "ACME", "model": "Box 9"}
    )
    me.ok("auditSoftware_create", *SOFTWARE.values(), "7-zip-id", "7-Zip 23.01", "23.01", 5000)
    me.ok("auditSoftwareOnClient_create", *SOFTWARE.values(), ME, named=None)


def test_a_client_reports_its_audit_data_and_reads_it_back(
    rpc: Rpc, client: TestClient, runtime: Runtime, admin: Actor
) -> None:
    cid, key = enroll(runtime, admin, "pc-1")
    me = Rpc(client, ME, key)
    mark = audit_mark(runtime.services)
    report(me)
    (hw,) = rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": ME})
    assert {k: hw[k] for k in ("hostId", "hardwareClass", "state", *SYSTEM)} == {
        "hostId": ME,
        "hardwareClass": "COMPUTER_SYSTEM",
        "state": 1,
        **SYSTEM,
    }
    (sw,) = rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": ME})
    assert {k: sw[k] for k in (*SOFTWARE, "clientId", "state")} == {**SOFTWARE, "clientId": ME, "state": 1}
    titles = rpc.ok("auditSoftware_getObjects", [], {"name": "7-Zip"})
    assert [(t["name"], t["windowsSoftwareId"], t["installSize"]) for t in titles] == [
        ("7-Zip", "7-zip-id", 5000)
    ]
    devices = rpc.ok("auditHardware_getObjects", [], {"hardwareClass": "COMPUTER_SYSTEM"})
    assert {(d["vendor"], d["model"]) for d in devices} == {("ACME", "Box 9")}
    # The next audit run marks the old rows obsolete first; a row reported again is current.
    me.ok("auditHardwareOnHost_setObsolete", ME)
    assert [h["state"] for h in rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": ME})] == [0]
    me.ok("auditHardwareOnHost_create", named={"hostId": ME, "hardwareClass": "COMPUTER_SYSTEM", **SYSTEM})
    assert [h["state"] for h in me.ok("auditHardwareOnHost_getObjects", [], {"hostId": ME})] == [1]
    actions = [(r.action, r.object_id, r.result) for r in audit_since(runtime.services, mark)]
    assert ("audit_data.set_obsolete", str(cid), "ok") in actions
    assert ("audit_data.report", str(cid), "ok") in actions
    assert sum(a == "audit_data.report" for a, _, _ in actions) == 5


def test_a_client_reports_only_for_itself(
    rpc: Rpc, client: TestClient, runtime: Runtime, admin: Actor
) -> None:
    _, key = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    me = Rpc(client, ME, key)
    for method, args in (
        ("auditHardwareOnHost_setObsolete", ["pc-2.fleetdeck.local"]),
        ("auditSoftwareOnClient_setObsolete", [["pc-2.fleetdeck.local"]]),
    ):
        assert me.error(method, *args)["class"] == "BackendPermissionDeniedError"
    err = me.error(
        "auditHardwareOnHost_create", named={"hostId": "pc-2.fleetdeck.local", "hardwareClass": "BIOS"}
    )
    assert err["class"] == "BackendPermissionDeniedError"
    assert rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": "pc-2.fleetdeck.local"}) == []
    # bad input: opsi's own error, nothing stored
    assert (
        me.error("auditHardwareOnHost_create", named={"hostId": ME, "hardwareClass": ""})["class"]
        == "ValueError"
    )
    assert me.error("auditSoftware_create", "", "1", "", "", "x64")["class"] == "ValueError"
    assert rpc.ok("auditSoftware_getObjects") == []


def test_the_agents_inventory_stays_the_source(
    rpc: Rpc, client: TestClient, runtime: Runtime, admin: Actor
) -> None:
    cid, key = enroll(runtime, admin, "pc-1")
    inv = m.Inventory(
        hostname="pc-1", manufacturer="Agent Inc", model="Real 1", software=[m.Software("curl", "8.0", "")]
    )
    runtime.services.computers.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))
    report(Rpc(client, ME, key))
    system = [
        h
        for h in rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": ME})
        if h["hardwareClass"] == "COMPUTER_SYSTEM"
    ]
    assert [(h["vendor"], h["model"]) for h in system] == [("Agent Inc", "Real 1")]
    assert [s["name"] for s in rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": ME})] == ["curl"]
    # ... and what the client reported is stored beside it.
    stored = runtime.services.reported_audit.find(admin, "hardware", [cid])
    assert [(r.data["model"], r.state) for r in stored] == [("Box 9", 1)]
    assert runtime.services.reported_audit.find(admin, "hardware", [cid], shown=True) == []
