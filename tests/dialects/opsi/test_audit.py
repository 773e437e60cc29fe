"""opsi's audit objects are the agent's inventory, read-only."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.protocol import messages as m

from .conftest import Rpc

INVENTORY = m.Inventory(
    hostname="pc-1",
    os="Debian GNU/Linux",
    architecture="x86_64",
    cpu_model="Example CPU",
    cpu_cores=4,
    ram_bytes=8 * 1024**3,
    manufacturer="ACME",
    model="Box 1",
    serial="SN1",
    bios_version="1.2",
    network_interfaces=[m.NetworkInterface("eth0", "02:00:00:00:00:01", [m.Address("10.0.0.5", "ipv4")])],
    software=[m.Software("curl", "7.88.1", "transfer tool"), m.Software("zsh", "5.9", "")],
)


def enroll_with_inventory(runtime: Runtime, admin: Actor, hostname: str) -> None:
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname=hostname, machine_id="m", agent_version="1", source="127.0.0.1"
    )
    inv = m.Inventory(
        **{**{f: getattr(INVENTORY, f) for f in INVENTORY.__struct_fields__}, "hostname": hostname}
    )
    runtime.services.computers.record_inventory(
        system_actor("agent"), creds.computer_id, inv, m.inventory_digest(inv)
    )


def test_software_on_client_is_the_inventory(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll_with_inventory(runtime, admin, "pc-1")
    enroll_with_inventory(runtime, admin, "pc-2")
    rows = rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": "pc-1.fleetdeck.local"})
    assert [(r["name"], r["version"], r["architecture"]) for r in rows] == [
        ("curl", "7.88.1", "x64"),
        ("zsh", "5.9", "x64"),
    ]
    assert rows[0]["ident"] == "curl;7.88.1;;;x64;pc-1.fleetdeck.local"
    assert len(rpc.ok("auditSoftwareOnClient_getObjects", [], {"name": "curl"})) == 2
    titles = rpc.ok("auditSoftware_getObjects")
    assert sorted(t["ident"] for t in titles) == ["curl;7.88.1;;;x64", "zsh;5.9;;;x64"]
    # the host's addresses come from the same inventory
    host = rpc.ok("host_getObjects", [], {"id": "pc-1.fleetdeck.local"})[0]
    assert (host["hardwareAddress"], host["ipAddress"]) == ("02:00:00:00:00:01", "10.0.0.5")


def test_hardware_on_host(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll_with_inventory(runtime, admin, "pc-3")
    rows = rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": "pc-3.fleetdeck.local"})
    by_class = {r["hardwareClass"]: r for r in rows}
    assert (
        by_class["COMPUTER_SYSTEM"]["vendor"] == "ACME"
        and by_class["COMPUTER_SYSTEM"]["serialNumber"] == "SN1"
    )
    assert by_class["PROCESSOR"]["numberOfCores"] == 4
    assert by_class["NETWORK_CONTROLLER"]["macAddress"] == "02:00:00:00:00:01"


def test_audit_is_read_only(rpc: Rpc) -> None:
    obj = {
        "type": "AuditSoftwareOnClient",
        "name": "x",
        "version": "1",
        "subVersion": "",
        "language": "",
        "architecture": "x64",
        "clientId": "pc-1.fleetdeck.local",
    }
    software = {k: obj[k] for k in ("name", "version", "subVersion", "language", "architecture")}
    err = rpc.error("auditSoftware_updateObjects", [{"type": "AuditSoftware", **software}])
    assert err["class"] == "BackendPermissionDeniedError" and "read-only" in err["message"]
    # what opsi's swaudit writes is a report (tests/dialects/opsi/test_host_key_login.py);
    # for a client that does not exist it is opsi's missing-data error
    missing = rpc.error("auditSoftwareOnClient_updateObjects", [obj])
    assert missing["class"] == "BackendMissingDataError"


def test_audit_hardware_and_its_config(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll_with_inventory(runtime, admin, "pc-1")
    enroll_with_inventory(runtime, admin, "pc-2")  # the same processor: one device
    hardware = rpc.ok("auditHardware_getObjects", [], {"hardwareClass": "PROCESSOR"})
    assert [(h["type"], h["name"]) for h in hardware] == [("AuditHardware", "Example CPU")]
    assert "hostId" not in hardware[0] and "serialNumber" not in hardware[0]
    assert rpc.ok("auditHardware_getIdents", "dict", {"hardwareClass": "BIOS"})[0]["hardwareClass"] == "BIOS"
    config = rpc.ok("auditHardware_getConfig", "de_DE")
    classes = {c["Class"]["Opsi"]: c for c in config}
    assert set(classes) == {"COMPUTER_SYSTEM", "BIOS", "PROCESSOR", "NETWORK_CONTROLLER"}
    assert {"Opsi": "numberOfCores", "Type": "int", "Scope": "i", "UI": "Number of cores"} in classes[
        "PROCESSOR"
    ]["Values"]
    err = rpc.error("auditHardware_createObjects", [{"hardwareClass": "BIOS", "vendor": "x"}])
    assert err["class"] == "BackendPermissionDeniedError"
    # What a client reports is stored apart (test_audit_reports.py): marking it obsolete leaves
    # the agent's inventory, the source for this computer, as it is.
    before = rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": "pc-1.fleetdeck.local"})
    for method in ("auditHardwareOnHost_setObsolete", "auditSoftwareOnClient_setObsolete"):
        assert rpc.ok(method, "pc-1.fleetdeck.local") is None
    assert rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": "pc-1.fleetdeck.local"}) == before
