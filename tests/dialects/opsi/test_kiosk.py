"""opsi's getKioskProductInfosForClient: the products of the client's kiosk groups, with their
state on the client, in opsiconfd 4.3's record shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query

from .conftest import Rpc, enroll

CLIENT = "pc-1.fleetdeck.local"
OTHER = "pc-2.fleetdeck.local"
GROUPS = "software-on-demand.product-group-ids"

RECORD_KEYS = {
    "productId",
    "productVersion",
    "packageVersion",
    "versionStr",
    "installedVerStr",
    "installedProdVer",
    "installedPackVer",
    "updatePossible",
    "possibleAction",
    "installationStatus",
    "actionRequest",
    "actionResult",
    "requirements",
    "hasSetup",
    "hasUninstall",
    "productName",
    "description",
    "advice",
    "priority",
    "productType",
}


def product(pid: str, version: str = "1.0", uninstall: str = "") -> dict[str, Any]:
    return {
        "type": "LocalbootProduct",
        "id": pid,
        "name": pid,
        "productVersion": version,
        "packageVersion": "1",
        "setupScript": f"install {pid}",
        "uninstallScript": uninstall,
        "description": f"about {pid}",
        "priority": 5,
    }


@pytest.fixture
def kiosk(rpc: Rpc, runtime: Runtime, admin: Actor) -> str:
    """pc-1's kiosk shows the groups "office" and "tools" (one value, comma-separated);
    "secret" is a product group the kiosk does not name. firefox 1.0 is installed, 2.0 offered."""
    cid, key = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    rpc.ok(
        "product_createObjects",
        [product("firefox", "1.0", uninstall="rm"), product("gimp"), product("libs"), product("hidden")],
    )
    old = next(
        p for p in runtime.services.packages.find(admin, Query(limit=None)).items if p.family_key == "firefox"
    )
    runtime.services.packages.assign_installation(admin, cid, old.id)
    rpc.ok("product_createObjects", [product("firefox", "2.0", uninstall="rm")])
    rpc.ok(
        "productDependency_createObjects",
        [
            {
                "productId": "gimp",
                "productVersion": "1.0",
                "packageVersion": "1",
                "productAction": "setup",
                "requiredProductId": "libs",
                "requiredInstallationStatus": "installed",
                "requirementType": "before",
            }
        ],
    )
    for gid in ("office", "tools", "secret"):
        rpc.ok("group_insertObject", {"type": "ProductGroup", "id": gid})
    for gid, pid in (("office", "firefox"), ("tools", "gimp"), ("office", "gimp"), ("secret", "hidden")):
        rpc.ok("objectToGroup_create", "ProductGroup", gid, pid)
    rpc.ok(
        "config_createObjects",
        [
            {
                "type": "UnicodeConfig",
                "id": GROUPS,
                "defaultValues": [],
                "multiValue": True,
                "editable": True,
            },
            {"type": "BoolConfig", "id": "software-on-demand.active", "defaultValues": [False]},
        ],
    )
    rpc.ok("configState_create", GROUPS, CLIENT, ["office, tools"])
    rpc.ok("configState_create", "software-on-demand.active", CLIENT, [True])
    return key


def test_products_of_the_kiosk_groups_with_their_state(rpc: Rpc, kiosk: str) -> None:
    infos = rpc.ok("getKioskProductInfosForClient", CLIENT)
    assert [i["productId"] for i in infos] == ["firefox", "gimp"]
    firefox, gimp = infos
    assert set(firefox) == RECORD_KEYS
    assert firefox["productVersion"] == "2.0" and firefox["versionStr"] == "2.0-1"
    assert (firefox["installationStatus"], firefox["installedVerStr"], firefox["updatePossible"]) == (
        "installed",
        "1.0-1",
        True,
    )
    assert (firefox["installedProdVer"], firefox["installedPackVer"]) == ("1.0", "1")
    assert (firefox["possibleAction"], firefox["hasSetup"], firefox["hasUninstall"]) == (
        "uninstall",
        True,
        True,
    )
    assert (firefox["productName"], firefox["advice"], firefox["priority"]) == (
        "firefox",
        "",
        5,
    )  # no advice kept
    assert firefox["description"] == "about firefox"
    assert firefox["productType"] == "LocalbootProduct" and firefox["requirements"] == []
    # no productOnClient yet: opsi leaves the state empty and offers no action
    assert (gimp["installationStatus"], gimp["possibleAction"], gimp["installedVerStr"]) == ("", "", "")
    assert gimp["requirements"] == [
        {"requiredProductId": "libs", "required": "", "preRequired": "installed", "postRequired": ""}
    ]


def test_a_requested_product_offers_setup(rpc: Rpc, kiosk: str) -> None:
    rpc.ok("setProductActionRequest", "gimp", CLIENT, "setup")
    gimp = next(i for i in rpc.ok("getKioskProductInfosForClient", CLIENT) if i["productId"] == "gimp")
    assert (gimp["installationStatus"], gimp["actionRequest"], gimp["possibleAction"]) == (
        "not_installed",
        "setup",
        "setup",
    )


def test_add_configs_wraps_the_list(rpc: Rpc, kiosk: str) -> None:
    out = rpc.ok("getKioskProductInfosForClient", CLIENT, True)
    assert set(out) == {"configStates", "products"}
    assert out["configStates"] == {GROUPS: ["office, tools"], "software-on-demand.active": [True]}
    assert [p["productId"] for p in out["products"]] == ["firefox", "gimp"]
    assert rpc.ok("getKioskProductInfosForClient", named={"clientId": CLIENT, "addConfigs": False}) == (
        rpc.ok("getKioskProductInfosForClient", CLIENT)
    )


def test_a_client_without_kiosk_groups_gets_nothing(rpc: Rpc, kiosk: str) -> None:
    assert rpc.ok("getKioskProductInfosForClient", OTHER) == []
    assert rpc.ok("getKioskProductInfosForClient", OTHER, True)["products"] == []


def test_the_client_itself_may_ask_but_not_for_others(client: TestClient, kiosk: str) -> None:
    me = Rpc(client, CLIENT, kiosk)
    assert [i["productId"] for i in me.ok("getKioskProductInfosForClient", CLIENT)] == ["firefox", "gimp"]
    assert me.error("getKioskProductInfosForClient", OTHER)["class"] == "BackendPermissionDeniedError"


def test_bad_input(rpc: Rpc, kiosk: str) -> None:
    err = rpc.error("getKioskProductInfosForClient", "gone.fleetdeck.local")
    assert err == {
        "class": "BackendMissingDataError",
        "message": "Client 'gone.fleetdeck.local' does not exist",
    }
    assert rpc.error("getKioskProductInfosForClient", "not a host")["class"] == "ValueError"
    assert rpc.error("getKioskProductInfosForClient")["class"] == "TypeError"
