"""Hosts keep what opsi keeps (issue #13): the attributes an admin records, a generated host
key, partial updates, the config server's own record and id, opsi's messages, and the session
cookie over plain HTTP. Everything through ``/rpc``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.storage.tables import AuditEntry, Computer
from fleetdeck.storage.uow import UnitOfWork

from .conftest import Rpc, basic, enroll

HOST = "ws-07.example.org"
FULL = {
    "type": "OpsiClient",
    "id": HOST,
    "description": "front office",
    "notes": "desk 7",
    "hardwareAddress": "AA-BB-CC-DD-EE-07",
    "ipAddress": "10.0.0.7",
    "inventoryNumber": "INV-0007",
    "oneTimePassword": "otp-secret-7",
    "created": "2024-05-01 10:00:00",
    "lastSeen": "2024-06-01 11:30:00",
}


def host(rpc: Rpc, host_id: str = HOST) -> dict[str, Any]:
    (found,) = rpc.ok("host_getObjects", [], {"id": host_id})
    return dict(found)


def server(rpc: Rpc) -> dict[str, Any]:
    (found,) = rpc.ok("host_getObjects", [], {"type": "OpsiConfigserver"})
    return dict(found)


@pytest.mark.parametrize("method", ["host_createObjects", "host_insertObject", "host_updateObjects"])
def test_every_attribute_opsi_keeps_is_stored(rpc: Rpc, method: str) -> None:
    rpc.ok(method, [FULL] if method != "host_insertObject" else FULL)
    row = host(rpc)
    for key in ("description", "notes", "ipAddress", "inventoryNumber", "oneTimePassword"):
        assert row[key] == FULL[key], key
    assert row["hardwareAddress"] == "aa:bb:cc:dd:ee:07"
    assert row["created"] == FULL["created"] and row["lastSeen"] == FULL["lastSeen"]
    assert re.fullmatch(r"[0-9a-f]{32}", row["opsiHostKey"])  # opsi's setDefaults
    assert row["systemUUID"] is None


def test_create_opsi_client_stores_its_arguments_and_a_given_key(rpc: Rpc) -> None:
    key = "0123456789abcdef0123456789abcdef"
    rpc.ok(
        "host_createOpsiClient",
        named={
            "id": HOST,
            "opsiHostKey": key,
            "description": "lab",
            "notes": "n",
            "hardwareAddress": "aa:bb:cc:dd:ee:08",
            "ipAddress": "10.0.0.8",
            "inventoryNumber": "8",
        },
    )
    row = host(rpc)
    assert (row["opsiHostKey"], row["description"], row["inventoryNumber"]) == (key, "lab", "8")
    assert (row["hardwareAddress"], row["ipAddress"]) == ("aa:bb:cc:dd:ee:08", "10.0.0.8")
    assert row["oneTimePassword"] is None  # opsi's default: null, not ""


def test_update_object_changes_only_what_it_names(rpc: Rpc) -> None:
    rpc.ok("host_createObjects", [FULL])
    before = host(rpc)
    rpc.ok("host_updateObject", {"type": "OpsiClient", "id": HOST, "inventoryNumber": "INV-9"})
    assert host(rpc) == {**before, "inventoryNumber": "INV-9"}
    rpc.ok("host_updateObjects", [{"type": "OpsiClient", "id": HOST, "description": "back office"}])
    assert host(rpc) == {**before, "inventoryNumber": "INV-9", "description": "back office"}


def test_secrets_are_encrypted_and_hidden_from_viewers_and_the_audit(
    rpc: Rpc, viewer_rpc: Rpc, runtime: Runtime
) -> None:
    rpc.ok("host_createObjects", [FULL])
    key = host(rpc)["opsiHostKey"]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        c = uow.session.scalars(select(Computer).where(Computer.fqdn == HOST)).one()
        assert c.one_time_password_enc and "otp-secret-7" not in c.one_time_password_enc
        assert c.host_key_enc and key not in c.host_key_enc
        details = " ".join(str(a.detail) for a in uow.session.scalars(select(AuditEntry)))
    assert "otp-secret-7" not in details and key not in details
    seen = host(viewer_rpc)
    assert seen["oneTimePassword"] is None and seen["opsiHostKey"] is None
    assert seen["inventoryNumber"] == "INV-0007"


def test_bad_attribute_values_are_opsis_errors(rpc: Rpc) -> None:
    err = rpc.error("host_createObjects", [{**FULL, "opsiHostKey": "not-a-key"}])
    assert err["class"] == "ValueError" and "Bad opsi host key" in err["message"]
    err = rpc.error("host_createObjects", [{**FULL, "created": "yesterday"}])
    assert err["class"] == "ValueError" and "Bad timestamp" in err["message"]
    assert rpc.ok("host_getObjects", [], {"id": HOST}) == []


def test_bad_fqdn_is_worded_as_opsi_words_it(rpc: Rpc) -> None:
    err = rpc.error("host_createOpsiClient", "Not_A_Host")
    assert err == {"class": "ValueError", "message": "Bad fqdn: 'not_a_host'"}


def test_a_client_is_told_no_permission_for_method(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-31")
    r = rpc.client.post(
        "/rpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "host_delete", "params": ["x.y.z"]},
        headers={"Authorization": basic("pc-31.fleetdeck.local", key)},
    )
    err = r.json()["error"]
    assert err["data"]["class"] == "BackendPermissionDeniedError"
    assert err["message"] == "No permission for method 'host_delete'"


def test_the_config_server_record_has_its_urls_address_and_key(rpc: Rpc, viewer_rpc: Rpc) -> None:
    row = server(rpc)
    assert row["depotRemoteUrl"] == "http://testserver/depot"
    assert row["repositoryRemoteUrl"] == "http://testserver/repository"
    assert row["depotLocalUrl"].startswith("file:///") and row["repositoryLocalUrl"].startswith("file:///")
    assert row["ipAddress"] and row["networkAddress"] and "/" in row["networkAddress"]
    assert re.fullmatch(r"[0-9a-f]{32}", row["opsiHostKey"])
    assert server(rpc)["opsiHostKey"] == row["opsiHostKey"]  # made once, then kept
    assert server(viewer_rpc)["opsiHostKey"] is None


def test_the_config_server_and_a_client_on_its_machine_have_two_ids(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    server_id = server(rpc)["id"]
    first, _, rest = server_id.partition(".")
    c = runtime.services.computers.create(admin, first, fqdn=server_id)  # an agent on the server
    hosts = rpc.ok("host_getObjects", [], {"id": server_id})
    assert [h["type"] for h in hosts] == ["OpsiConfigserver"]
    alias = f"{first}-{c.id}.{rest}"
    assert [h["type"] for h in rpc.ok("host_getObjects", [], {"id": alias})] == ["OpsiClient"]
    err = rpc.error("host_delete", server_id)
    assert err["class"] == "BackendPermissionDeniedError" and "config server" in err["message"]
    assert runtime.services.computers.exists([c.id]) == {c.id}  # nothing deleted
    rpc.ok("host_delete", alias)
    assert runtime.services.computers.exists([c.id]) == set()


def test_session_cookie_is_secure_only_on_https(rpc: Rpc) -> None:
    plain = rpc.post(rpc.request("getDomain"))
    assert "opsiconfd-session" in plain.headers["set-cookie"]
    assert "secure" not in plain.headers["set-cookie"].lower()
    # plain http keeps the session: the next call needs no credentials
    cookie = plain.cookies["opsiconfd-session"]
    rpc.client.cookies.clear()
    rpc.client.cookies.set("opsiconfd-session", cookie)
    again = rpc.client.post("/rpc", json=rpc.request("getDomain"))
    assert again.status_code == 200 and "set-cookie" not in again.headers
    rpc.client.cookies.clear()
    tls = rpc.client.post(
        "https://testserver/rpc",
        json={"id": 1, "method": "getDomain", "params": []},
        headers={"Authorization": rpc.auth},
    )
    assert tls.status_code == 200 and "secure" in tls.headers["set-cookie"].lower()


def test_another_logins_basic_header_is_not_served_from_a_shared_cookie(rpc: Rpc, viewer_rpc: Rpc) -> None:
    assert rpc.ok("accessControl_userIsAdmin") is True  # sets the admin's cookie in the jar
    assert viewer_rpc.ok("accessControl_userIsAdmin") is False  # same jar, the viewer's header


@pytest.mark.parametrize("attributes", [5, True, 2.5, [{"x": 1}]])
def test_badly_typed_attributes_are_an_error(rpc: Rpc, attributes: Any) -> None:
    err = rpc.error("host_getObjects", named={"attributes": attributes})
    assert err["class"] == "ValueError" and "attributes" in err["message"]
    assert rpc.ok("host_getObjects", named={"attributes": ["id"]})  # a list of names is fine


# ------------------------------------------------------------------ products on the depot

PRODUCT = {
    "type": "LocalbootProduct",
    "id": "firefox",
    "productVersion": "128.0",
    "packageVersion": "1",
    "name": "Firefox",
    "setupScript": "setup.opsiscript",
}


def test_product_defaults_are_opsis(rpc: Rpc) -> None:
    rpc.ok("product_createObjects", [PRODUCT])
    (row,) = rpc.ok("product_getObjects", [], {"id": "firefox"})
    assert row["productClassIds"] is None and row["windowsSoftwareIds"] is None


def test_product_on_depot_writes_for_the_servers_depot(rpc: Rpc, viewer_rpc: Rpc) -> None:
    rpc.ok("product_createObjects", [PRODUCT])
    depot = server(rpc)["id"]
    pod = {
        "type": "ProductOnDepot",
        "productId": "firefox",
        "productType": "LocalbootProduct",
        "productVersion": "128.0",
        "packageVersion": "1",
        "depotId": depot,
        "locked": False,
    }
    for method, arg in (
        ("productOnDepot_createObjects", [pod]),
        ("productOnDepot_insertObject", pod),
        ("productOnDepot_updateObject", pod),
        ("productOnDepot_updateObjects", [pod]),
    ):
        assert rpc.ok(method, arg) is None, method
    rpc.ok("productOnDepot_create", "firefox", "LocalbootProduct", "128.0", "1", depot)
    err = rpc.error("productOnDepot_createObjects", [{**pod, "depotId": "other.example.org"}])
    assert err["class"] == "BackendReferentialIntegrityError"
    err = rpc.error("productOnDepot_createObjects", [{**pod, "productVersion": "9"}])
    assert err["class"] == "BackendReferentialIntegrityError" and "create the product first" in err["message"]
    err = viewer_rpc.error("productOnDepot_createObjects", [pod])
    assert err["class"] == "BackendPermissionDeniedError"
    rpc.ok("productOnDepot_deleteObjects", [pod])
    assert rpc.ok("productOnDepot_getObjects", [], {"productId": "firefox"}) == []
    assert rpc.ok("product_getObjects", [], {"id": "firefox"}) == []


# ------------------------------------------------------------------ opsiconfd's default configs


def test_a_fresh_server_has_opsiconfds_28_default_configs(rpc: Rpc) -> None:
    configs = {c["id"]: c for c in rpc.ok("config_getObjects")}
    assert len(configs) == 28
    assert configs["clientconfig.configserver.url"]["defaultValues"] == ["http://testserver"]
    assert configs["clientconfig.depot.id"]["defaultValues"] == [server(rpc)["id"]]
    assert configs["clientconfig.depot.drive"]["defaultValues"] == ["p:"]
    assert configs["software-on-demand.active"] == {
        "id": "software-on-demand.active",
        "description": "Activate software-on-demand",
        "possibleValues": [False, True],
        "defaultValues": [False],
        "editable": False,
        "multiValue": False,
        "type": "BoolConfig",
        "ident": "software-on-demand.active",
    }
    assert {k for k in configs if k.startswith("licensing.")} == {
        "licensing.disable_warning_for_modules",
        "licensing.client_limit_warning_percent",
        "licensing.client_limit_warning_absolute",
        "licensing.client_limit_warning_days",
    }
    assert rpc.ok("config_getObjects", [], {"type": "BoolConfig", "id": "opsiclientd.global.*"}) == [
        {**rpc.ok("config_getObjects", [], {"id": "opsiclientd.global.install_opsi_ca_into_os_store"})[0]},
        {**rpc.ok("config_getObjects", [], {"id": "opsiclientd.global.verify_server_cert"})[0]},
    ]


def test_config_state_get_values_answers_a_clients_depot(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-41")
    client = "pc-41.fleetdeck.local"
    depot = server(rpc)["id"]
    values = rpc.ok("configState_getValues", ["clientconfig.depot.id"], [client])
    assert values == {client: {"clientconfig.depot.id": [depot]}}
    # a client's own value for a built-in config stores the config as opsi has it
    client_rpc = Rpc(rpc.client, client, key)
    rpc.client.cookies.clear()
    client_rpc.ok("configState_create", "software-on-demand.active", client, [True])
    rpc.client.cookies.clear()
    got = rpc.ok("configState_getValues", ["software-on-demand.active"], [client])
    assert got == {client: {"software-on-demand.active": [True]}}
    (stored,) = rpc.ok("config_getObjects", [], {"id": "software-on-demand.active"})
    assert stored["description"] == "Activate software-on-demand"
    # an admin changes a built-in's defaults: the rest stays opsi's
    rpc.ok(
        "config_updateObject",
        {"type": "UnicodeConfig", "id": "clientconfig.depot.drive", "defaultValues": ["q:"]},
    )
    (drive,) = rpc.ok("config_getObjects", [], {"id": "clientconfig.depot.drive"})
    assert drive["defaultValues"] == ["q:"] and drive["description"] == "Drive letter for depot share"


def test_a_product_name_is_not_unique(rpc: Rpc) -> None:
    """opsi's product key is id + versions: two product ids may share a name."""
    rpc.ok("product_createObjects", [PRODUCT])
    esr = {**PRODUCT, "id": "firefox-esr", "productVersion": "115.0"}
    rpc.ok("product_createObjects", [esr])
    names = {p["id"]: p["name"] for p in rpc.ok("product_getObjects")}
    assert names == {"firefox": "Firefox", "firefox-esr": "Firefox"}
    # a deleted product's name is free for another id
    rpc.ok("product_delete", "firefox")
    rpc.ok("product_delete", "firefox-esr")
    rpc.ok("product_createObjects", [{**PRODUCT, "id": "firefox-nightly"}])
    assert [(p["id"], p["name"]) for p in rpc.ok("product_getObjects")] == [("firefox-nightly", "Firefox")]


@pytest.mark.parametrize("method", ["product_createObjects", "product_updateObjects"])
def test_a_product_without_setup_script_is_allowed(rpc: Rpc, method: str) -> None:
    """opsi's meta and uninstall-only products: no setupScript (absent or empty)."""
    meta = {k: v for k, v in PRODUCT.items() if k != "setupScript"} | {"id": "meta-office"}
    rpc.ok(method, [meta])
    uninstall_only = {**PRODUCT, "id": "remove-toolbar", "setupScript": "", "uninstallScript": "rm.sh"}
    rpc.ok(method, [uninstall_only])
    rows = {p["id"]: p for p in rpc.ok("product_getObjects", [], {"id": ["meta-office", "remove-toolbar"]})}
    assert rows["meta-office"]["setupScript"] == "" and rows["remove-toolbar"]["uninstallScript"] == "rm.sh"
    # and an update may clear it
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("product_updateObject", {**PRODUCT, "setupScript": ""})
    (ff,) = rpc.ok("product_getObjects", [], {"id": "firefox"})
    assert ff["setupScript"] == ""
