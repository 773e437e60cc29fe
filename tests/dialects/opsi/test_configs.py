"""opsi Config/ConfigState over core config entries and per-computer values."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, basic, enroll


def test_configs_and_states(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-1")
    rpc.ok("config_createBool", "opsiclientd.event_gui_startup.active", "GUI startup", [True])
    rpc.ok("config_createUnicode", "clientconfig.dhcpd.filename", "", ["a", "b"], ["a"], True, False)
    configs = {c["id"]: c for c in rpc.ok("config_getObjects")}
    assert configs["opsiclientd.event_gui_startup.active"] == {
        "id": "opsiclientd.event_gui_startup.active",
        "description": "GUI startup",
        "possibleValues": [False, True],
        "defaultValues": [True],
        "editable": False,
        "multiValue": False,
        "type": "BoolConfig",
        "ident": "opsiclientd.event_gui_startup.active",
    }
    assert configs["clientconfig.dhcpd.filename"]["possibleValues"] == ["a", "b"]
    client = "pc-1.fleetdeck.local"
    rpc.ok("configState_create", "opsiclientd.event_gui_startup.active", client, [False])
    (state,) = rpc.ok("configState_getObjects", [], {"objectId": client})
    assert state == {
        "configId": "opsiclientd.event_gui_startup.active",
        "objectId": client,
        "values": [False],
        "type": "ConfigState",
        "ident": f"opsiclientd.event_gui_startup.active;{client}",
    }
    values = rpc.ok("configState_getValues", ["opsiclientd.*", "clientconfig.dhcpd.*"], [client])
    mine = ("opsiclientd.event_gui_startup.active", "clientconfig.dhcpd.filename")
    assert {k: v for k, v in values[client].items() if k in mine} == {
        "opsiclientd.event_gui_startup.active": [False],
        "clientconfig.dhcpd.filename": ["a"],
    }
    rpc.ok("configState_delete", "opsiclientd.event_gui_startup.active", client)
    assert rpc.ok("configState_getObjects") == []
    rpc.ok("config_delete", "clientconfig.dhcpd.*")
    ids = [c["id"] for c in rpc.ok("config_getObjects")]
    assert "clientconfig.dhcpd.filename" not in ids and "opsiclientd.event_gui_startup.active" in ids
    # deleting a stored built-in brings opsi's default back
    rpc.ok("config_delete", "opsiclientd.event_gui_startup.active")
    (builtin,) = rpc.ok("config_getObjects", [], {"id": "opsiclientd.event_gui_startup.active"})
    assert builtin["description"] == "Run gui_startup event at system start"


def test_bad_config_values(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-2")
    rpc.ok("config_createBool", "x.flag")
    assert (
        rpc.error("configState_create", "x.flag", "pc-2.fleetdeck.local", ["maybe"])["class"] == "ValueError"
    )
    assert rpc.error("configState_create", "no.such", "pc-2.fleetdeck.local", [1])["class"] == (
        "BackendMissingDataError"
    )
    assert (
        rpc.error("config_insertObject", {"type": "UnicodeConfig", "id": "has space"})["class"]
        == "ValueError"
    )


def test_client_to_depot(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-3")
    depot = rpc.ok("host_getIdents", "str", {"type": "OpsiConfigserver"})[0]
    assert rpc.ok("configState_getClientToDepotserver", [], "pc-3.fleetdeck.local") == [
        {"depotId": depot, "clientId": "pc-3.fleetdeck.local", "alternativeDepotIds": []}
    ]


def test_a_client_sets_its_own_values_only(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-4")
    enroll(runtime, admin, "pc-5")
    rpc.ok("config_createUnicode", "x.opt")

    def as_client(*params: object) -> dict[str, object]:
        rpc.client.cookies.clear()
        r = rpc.client.post(
            "/rpc",
            json={"jsonrpc": "2.0", "id": 1, "method": "configState_create", "params": list(params)},
            headers={"Authorization": basic("pc-4.fleetdeck.local", key)},
        )
        return dict(r.json())

    assert as_client("x.opt", "pc-4.fleetdeck.local", ["mine"]).get("error") is None
    denied = as_client("x.opt", "pc-5.fleetdeck.local", ["theirs"])
    assert denied["error"]["data"]["class"] == "BackendPermissionDeniedError"  # type: ignore[index]
