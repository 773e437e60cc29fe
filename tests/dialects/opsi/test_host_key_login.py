"""Issue #13: an opsi client without a fleetdeck agent logs in with the opsiHostKey recorded
when it was created through opsi (``host_createOpsiClient``): it acts as itself and nothing
more, a wrong key is refused (throttled and audited like any login, the key never in the audit
log), and changing its key through ``host_updateObject`` ends the sessions of the old key.
Everything through ``/rpc``."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import AuditEntry
from fleetdeck.storage.uow import UnitOfWork

from .conftest import Rpc, enroll

ME = "ws-31.example.org"
OTHER = "ws-32.example.org"
PRODUCT = {"type": "LocalbootProduct", "id": "firefox", "productVersion": "1.0", "packageVersion": "1"}


def key_of(rpc: Rpc, host_id: str) -> str:
    (row,) = rpc.ok("host_getObjects", ["opsiHostKey"], {"id": host_id})
    return str(row["opsiHostKey"])


def only_cookie(client: TestClient, rpc: Rpc, session: str, method: str, *params: Any) -> httpx.Response:
    """A request that carries the session cookie and no Authorization header."""
    client.cookies.clear()
    client.cookies.set("opsiconfd-session", session)
    return client.post("/rpc", json=rpc.request(method, *params))


def test_a_client_created_through_opsi_logs_in_with_its_key_and_acts_as_itself(
    rpc: Rpc, client: TestClient
) -> None:
    rpc.ok("host_createOpsiClient", ME)
    rpc.ok("host_createOpsiClient", OTHER)
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("setProductActionRequest", "firefox", ME, "setup")
    rpc.ok("setProductActionRequest", "firefox", OTHER, "setup")
    me = Rpc(client, ME, key_of(rpc, ME))
    assert me.ok("accessControl_userIsAdmin") is False
    client.cookies.clear()
    r = me.post(me.request("getDomain"))
    assert r.status_code == 200 and r.headers["x-opsi-user-id"] == f"client:{ME}"
    # its own state, hardware and software
    me.ok("setProductActionProgress", "firefox", ME, {"progress": "50%"})
    me.ok(
        "auditHardwareOnHost_create",
        named={"hostId": ME, "hardwareClass": "COMPUTER_SYSTEM", "name": "ws-31"},
    )
    me.ok("auditSoftwareOnClient_create", "7-Zip", "23.01", "", "", "x64", ME, named=None)
    (state,) = rpc.ok("productOnClient_getObjects", [], {"clientId": ME, "productId": "firefox"})
    assert state["actionProgress"] == "{'progress': '50%'}"
    assert [s["name"] for s in rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": ME})] == ["7-Zip"]
    assert [h["name"] for h in rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": ME})] == ["ws-31"]
    # it reads its own key, never another client's
    keys = {h["id"]: h["opsiHostKey"] for h in me.ok("host_getObjects", [], {"type": "OpsiClient"})}
    assert keys[ME] == key_of(rpc, ME)
    assert keys.get(OTHER) is None
    assert [s["clientId"] for s in me.ok("productOnClient_getObjects")] == [ME]
    # nothing for another client, nothing an admin may
    for method, params in (
        ("setProductActionProgress", ("firefox", OTHER, {"progress": "1%"})),
        ("auditSoftwareOnClient_create", ("7-Zip", "23.01", "", "", "x64", OTHER)),
        ("host_createOpsiClient", ("ws-33.example.org",)),
        ("setProductActionRequest", ("firefox", ME, "uninstall")),
    ):
        assert me.error(method, *params)["class"] == "BackendPermissionDeniedError", method
    hardware = {"hostId": OTHER, "hardwareClass": "COMPUTER_SYSTEM", "name": "x"}
    assert me.error("auditHardwareOnHost_create", named=hardware)["class"] == "BackendPermissionDeniedError"
    (other,) = rpc.ok("productOnClient_getObjects", [], {"clientId": OTHER, "productId": "firefox"})
    assert other["actionProgress"] in ("", None)
    assert rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": OTHER}) == []
    assert rpc.ok("auditHardwareOnHost_getObjects", [], {"hostId": OTHER}) == []
    assert [h["id"] for h in rpc.ok("host_getObjects", [], {"type": "OpsiClient"})] == [ME, OTHER]


def test_a_wrong_or_anothers_key_is_refused_and_audited_without_the_key(
    rpc: Rpc, client: TestClient, runtime: Runtime
) -> None:
    rpc.ok("host_createOpsiClient", ME)
    rpc.ok("host_createOpsiClient", OTHER)
    mine, others = key_of(rpc, ME), key_of(rpc, OTHER)
    for user, key in ((ME, "0" * 32), (ME, others), (OTHER, mine), ("ws-99.example.org", mine)):
        client.cookies.clear()
        r = Rpc(client, user, key).post({"id": 1, "method": "getDomain", "params": []})
        assert r.status_code == 401, (user, r.text)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        failed = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "auth.login", AuditEntry.result == "failed")
        ).all()
    assert sorted(e.object_id for e in failed) == sorted([ME, ME, OTHER, "ws-99.example.org"])
    assert all(e.object_type == "computer" for e in failed)
    assert not any(mine in repr(e.detail) or others in repr(e.detail) for e in failed)


def test_repeated_wrong_keys_lock_the_name_out_from_that_address(
    rpc: Rpc, client: TestClient, runtime: Runtime, settings: Settings
) -> None:
    rpc.ok("host_createOpsiClient", ME)
    key = key_of(rpc, ME)
    for _ in range(settings.login_max_failures):
        client.cookies.clear()
        assert Rpc(client, ME, "f" * 32).post({"id": 1, "method": "getDomain"}).status_code == 401
    client.cookies.clear()
    locked = Rpc(client, ME, key).post({"id": 1, "method": "getDomain"})
    assert locked.status_code == 401 and int(locked.headers["Retry-After"]) >= 1  # even the right key
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "auth.login", AuditEntry.result == "throttled")
        )
    # another client from that address is not locked out by this name
    rpc.ok("host_createOpsiClient", OTHER)
    client.cookies.clear()
    assert Rpc(client, OTHER, key_of(rpc, OTHER)).post({"id": 1, "method": "getDomain"}).status_code == 200


def test_changing_the_key_ends_the_old_keys_session(rpc: Rpc, client: TestClient) -> None:
    rpc.ok("host_createOpsiClient", ME)
    old = key_of(rpc, ME)
    me = Rpc(client, ME, old)
    client.cookies.clear()
    first = me.post(me.request("getDomain"))
    session = first.cookies["opsiconfd-session"]
    assert only_cookie(client, me, session, "getDomain").status_code == 200  # the session works
    client.cookies.clear()
    new = "fedcba9876543210fedcba9876543210"
    rpc.ok("host_updateObject", {"type": "OpsiClient", "id": ME, "opsiHostKey": new})
    assert only_cookie(client, me, session, "getDomain").status_code == 401
    client.cookies.clear()
    assert me.post(me.request("getDomain")).status_code == 401  # nor the old key anew
    client.cookies.clear()
    again = Rpc(client, ME, new)
    assert again.ok("accessControl_userIsAdmin") is False


def test_an_enrolled_agents_key_replaces_the_recorded_one(
    rpc: Rpc, client: TestClient, runtime: Runtime, admin: Actor
) -> None:
    """Enrolling a fleetdeck agent on the computer makes its key the host key (as
    host_getObjects shows it); the key recorded before no longer logs in."""
    rpc.ok("host_createOpsiClient", "pc-40.fleetdeck.local")
    recorded = key_of(rpc, "pc-40.fleetdeck.local")
    _, agent_key = enroll(runtime, admin, "pc-40")
    assert key_of(rpc, "pc-40.fleetdeck.local") == agent_key
    client.cookies.clear()
    assert (
        Rpc(client, "pc-40.fleetdeck.local", recorded).post({"id": 1, "method": "getDomain"}).status_code
        == 401
    )
    client.cookies.clear()
    assert (
        Rpc(client, "pc-40.fleetdeck.local", agent_key).post({"id": 1, "method": "getDomain"}).status_code
        == 200
    )


def software(client_id: str, name: str, version: str) -> dict[str, Any]:
    """An AuditSoftwareOnClient as opsi's swaudit sends it."""
    return {
        "type": "AuditSoftwareOnClient",
        "name": name,
        "version": version,
        "subVersion": "",
        "language": "",
        "architecture": "x64",
        "clientId": client_id,
        "uninstallString": f"C:\\{name}\\uninstall.exe",
        "binaryName": "",
        "firstseen": None,
        "lastseen": None,
        "state": None,
        "usageFrequency": -1,
        "lastUsed": None,
        "licenseKey": "",
    }


def test_swaudits_object_writes_from_the_clients_own_login_are_stored(
    rpc: Rpc, client: TestClient, runtime: Runtime
) -> None:
    rpc.ok("host_createOpsiClient", ME)
    rpc.ok("host_createOpsiClient", OTHER)
    me = Rpc(client, ME, key_of(rpc, ME))
    me.ok("auditSoftwareOnClient_setObsolete", [ME])
    me.ok(
        "auditSoftwareOnClient_createObjects", [software(ME, "7-Zip", "23.01"), software(ME, "Git", "2.45")]
    )
    me.ok("auditSoftwareOnClient_updateObjects", [software(ME, "Git", "2.45") | {"licenseKey": "K-1"}])
    rows = {r["name"]: r for r in rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": ME})}
    assert sorted(rows) == ["7-Zip", "Git"]
    assert (
        rows["Git"]["licenseKey"] == "K-1" and rows["7-Zip"]["uninstallString"] == "C:\\7-Zip\\uninstall.exe"
    )
    with UnitOfWork(runtime.db, readonly=True) as uow:
        reports = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit_data.report")
        ).all()
    assert len(reports) == 3 and {(e.username, e.result) for e in reports} == {(ME, "ok")}
    # not for another client, not with an attribute opsi does not have, and never a delete
    denied = me.error("auditSoftwareOnClient_createObjects", [software(OTHER, "Evil", "1")])
    assert denied["class"] == "BackendPermissionDeniedError"
    bad = me.error("auditSoftwareOnClient_createObjects", [software(ME, "X", "1") | {"bogus": 1}])
    assert "bogus" in bad["message"]
    assert rpc.ok("auditSoftwareOnClient_getObjects", [], {"clientId": OTHER}) == []
    gone = me.error("auditSoftwareOnClient_deleteObjects", [software(ME, "Git", "2.45")])
    assert gone["class"] == "BackendPermissionDeniedError"


def test_an_agentless_client_logs_in_with_its_recorded_hardware_address(
    rpc: Rpc, client: TestClient, runtime: Runtime, settings: Settings
) -> None:
    """opsiconfd finds a host by ``hardwareAddress`` when the user name is a MAC (or
    ``{hardware_address}<mac>``) and checks its host key (session.py ``authenticate_host``): a
    client created through opsi, with no agent and so no inventory, logs in by the address
    recorded for it, is told its id, and acts as itself; wrong keys are audited and throttled
    per address like host-id logins."""
    rpc.ok("host_createOpsiClient", ME, None, "", "", "AA-BB-CC-00-11-22")
    rpc.ok("host_createOpsiClient", OTHER, None, "", "", "aa:bb:cc:00:11:33")
    key = key_of(rpc, ME)
    for user in ("aa:bb:cc:00:11:22", "AA:BB:CC:00:11:22", "{hardware_address}aa-bb-cc-00-11-22"):
        client.cookies.clear()
        r = Rpc(client, user, key).post({"id": 1, "method": "getDomain", "params": []})
        assert r.status_code == 200, (user, r.text)
        assert r.headers["x-opsi-new-host-id"] == ME
        assert r.headers["x-opsi-user-id"] == f"client:{ME}"
    client.cookies.clear()
    assert Rpc(client, "aa:bb:cc:00:11:33", key).post({"id": 1, "method": "getDomain"}).status_code == 401
    for _ in range(settings.login_max_failures):
        client.cookies.clear()
        assert (
            Rpc(client, "aa:bb:cc:00:11:22", "f" * 32).post({"id": 1, "method": "getDomain"}).status_code
            == 401
        )
    client.cookies.clear()
    locked = Rpc(client, "aa:bb:cc:00:11:22", key).post({"id": 1, "method": "getDomain"})
    assert locked.status_code == 401 and int(locked.headers["Retry-After"]) >= 1
    with UnitOfWork(runtime.db, readonly=True) as uow:
        rows = uow.session.execute(
            select(AuditEntry.object_id, AuditEntry.result, AuditEntry.detail).where(
                AuditEntry.action == "auth.login", AuditEntry.result.in_(["failed", "throttled"])
            )
        ).all()
    assert {(o, r) for o, r, _ in rows} == {
        ("aa:bb:cc:00:11:33", "failed"),
        ("aa:bb:cc:00:11:22", "failed"),
        ("aa:bb:cc:00:11:22", "throttled"),
    }
    assert not any(key in repr(d) for _, _, d in rows)
