"""What an opsi client logged in with its host key may read, as opsiconfd's default
``acl.conf`` allows it (opsiconfd_data/etc/backendManager/acl.conf): every host through
``host_get*``, others without their secrets and private attributes (``opsi_client(attributes(
!opsiHostKey,!oneTimePassword,!description,!lastSeen,!notes,!hardwareAddress,!inventoryNumber))``);
and only its own rows of productOnClient, productPropertyState, configState,
auditHardwareOnHost, auditSoftwareOnClient and licenseOnClient (``self``), whichever method
reads them (getObjects, getHashes, getIdents and the legacy helpers). Asking for another
client's rows gives nothing, as opsiconfd's SQL filter does, not an error."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import Rpc

ME = "ws-41.example.org"
OTHER = "ws-42.example.org"
PRODUCT = {"type": "LocalbootProduct", "id": "firefox", "productVersion": "1.0", "packageVersion": "1"}
PROPERTY = {
    "type": "UnicodeProductProperty",
    "productId": "firefox",
    "productVersion": "1.0",
    "packageVersion": "1",
    "propertyId": "lang",
    "possibleValues": ["de", "en"],
    "defaultValues": ["en"],
    "editable": False,
    "multiValue": False,
}
CONFIG = {"type": "UnicodeConfig", "id": "test.scope", "defaultValues": ["a"], "possibleValues": ["a", "b"]}


def key_of(rpc: Rpc, host_id: str) -> str:
    (row,) = rpc.ok("host_getObjects", ["opsiHostKey"], {"id": host_id})
    return str(row["opsiHostKey"])


@pytest.fixture
def me(rpc: Rpc, client: TestClient) -> Rpc:
    """Two clients with state of every host-scoped kind; ME logged in as itself."""
    for host in (ME, OTHER):
        rpc.ok(
            "host_createOpsiClient", host, None, "desk", "notes", "aa:bb:cc:dd:ee:0" + host[4], None, "inv"
        )
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("productProperty_createObjects", [PROPERTY])
    rpc.ok("config_createObjects", [CONFIG])
    for host in (ME, OTHER):
        rpc.ok("setProductActionRequest", "firefox", host, "setup")
        rpc.ok("productPropertyState_create", "firefox", "lang", host, ["de"])
        rpc.ok("configState_create", "test.scope", host, ["b"])
        rpc.ok("auditSoftwareOnClient_create", "7-Zip", "23.01", "", "", "x64", host)
        rpc.ok(
            "auditHardwareOnHost_create",
            named={"hostId": host, "hardwareClass": "COMPUTER_SYSTEM", "name": host},
        )
    client.cookies.clear()
    return Rpc(client, ME, key_of(rpc, ME))


def hosts_in(rows: list[Any], *keys: str) -> set[str]:
    found: set[str] = set()
    for row in rows:
        if isinstance(row, dict):
            found |= {str(row[k]) for k in keys if row.get(k)}
        elif isinstance(row, str):
            found |= {h for h in (ME, OTHER) if h in row}
    return found


def test_host_get_objects_shows_every_host_others_without_private_attributes(me: Rpc) -> None:
    hosts = {h["id"]: h for h in me.ok("host_getObjects")}
    assert {ME, OTHER} <= set(hosts)
    assert any(h["type"] == "OpsiConfigserver" for h in hosts.values())
    assert hosts[ME]["opsiHostKey"] and hosts[ME]["hardwareAddress"] and hosts[ME]["notes"] == "notes"
    for attr in (
        "opsiHostKey",
        "oneTimePassword",
        "description",
        "lastSeen",
        "notes",
        "hardwareAddress",
        "inventoryNumber",
    ):
        assert hosts[OTHER][attr] is None, attr
    server = next(h for h in hosts.values() if h["type"] == "OpsiConfigserver")
    assert server["opsiHostKey"] is None
    for method in ("host_getHashes",):
        rows = {h["id"]: h for h in me.ok(method)}
        assert rows[OTHER]["opsiHostKey"] is None and rows[OTHER]["notes"] is None


SCOPED = [
    ("productOnClient", "clientId"),
    ("productPropertyState", "objectId"),
    ("configState", "objectId"),
    ("auditSoftwareOnClient", "clientId"),
    ("auditHardwareOnHost", "hostId"),
    ("licenseOnClient", "clientId"),
]


@pytest.mark.parametrize(("kind", "key"), SCOPED)
def test_a_client_reads_only_its_own_rows(me: Rpc, kind: str, key: str) -> None:
    for method in ("getObjects", "getHashes"):
        rows = me.ok(f"{kind}_{method}")
        assert OTHER not in hosts_in(rows, key), (method, rows)
        assert me.ok(f"{kind}_{method}", [], {key: OTHER}) == []
        assert me.ok(f"{kind}_{method}", [], {key: [ME, OTHER]}) == [
            r for r in me.ok(f"{kind}_{method}", [], {key: ME})
        ]
    idents = me.ok(f"{kind}_getIdents", "str")
    assert not any(OTHER in i for i in idents), idents
    if kind != "licenseOnClient":
        assert any(ME in i for i in idents), idents


def test_legacy_helpers_answer_only_for_itself(me: Rpc) -> None:
    # opsiconfd answers a client for itself, whichever hosts it names (obj_config_state.py)
    for named in ([OTHER], [ME], [], None):
        assert me.ok("configState_getValues", ["test.scope"], named) == {ME: {"test.scope": ["b"]}}
    assert me.ok("productPropertyState_getValues", ["firefox"], ["lang"], [ME]) == {
        ME: {"firefox": {"lang": ["de"]}}
    }
    others = me.ok("productPropertyState_getValues", ["firefox"], ["lang"], [OTHER])
    assert OTHER not in others, others
    # legacy names without "_get" fall under acl.conf's last rule (admins and depots only)
    for method in (
        "getInstalledProductIds_list",
        "getInstalledLocalBootProductIds_list",
        "getProductIds_list",
        "getLocalBootProductIds_list",
        "getClientIds_list",
    ):
        assert me.error(method)["class"] == "BackendPermissionDeniedError", method
    assert me.ok("productOnClient_getActionGroups", OTHER) == []
    assert me.error("log_read", "instlog", OTHER)["class"] == "BackendPermissionDeniedError"
