"""``host_updateObject(s)`` and ``user_updateObject(s)`` naming an attribute fleetdeck cannot
change, or the caller may not, answer an opsi error naming it and change nothing, instead of
success for a value that was dropped. Sending back what was read stays fine."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.storage.tables import ComputerInterface
from fleetdeck.storage.uow import UnitOfWork

from .conftest import Rpc, enroll

HOST = "ws-01.example.org"
CLIENT = {"type": "OpsiClient", "id": HOST, "notes": "desk 4"}


def host(rpc: Rpc, host_id: str = HOST) -> dict[str, Any] | None:
    found = rpc.ok("host_getObjects", [], {"id": host_id})
    return found[0] if found else None


def test_sending_back_what_was_read_changes_only_notes(rpc: Rpc) -> None:
    rpc.ok("host_createObjects", [CLIENT])
    row = host(rpc)
    assert row is not None
    rpc.ok("host_updateObject", {**row, "notes": "desk 5"})
    rpc.ok("host_updateObjects", [{**row, "notes": "desk 6"}])
    after = host(rpc)
    assert after == {**row, "notes": "desk 6"}


@pytest.mark.parametrize(
    ("attribute", "value", "why"),
    [
        ("systemUUID", "4c4c4544-0042-3510-8051-b4c04f4d3132", "does not store it"),
        ("created", "2001-01-01 00:00:00", "fleetdeck sets it"),
    ],
)
@pytest.mark.parametrize("method", ["host_updateObject", "host_updateObjects"])
def test_host_attributes_fleetdeck_cannot_change(
    rpc: Rpc, method: str, attribute: str, value: str, why: str
) -> None:
    rpc.ok("host_createObjects", [CLIENT])
    before = host(rpc)
    err = rpc.error(method, {"type": "OpsiClient", "id": HOST, "notes": "moved", attribute: value})
    assert err["class"] == "BackendBadValueError"
    assert f"Attribute '{attribute}' of host '{HOST}' cannot be changed" in err["message"]
    assert why in err["message"]
    assert host(rpc) == before  # notes too: nothing changed


@pytest.mark.parametrize(
    ("attribute", "value", "why"),
    [
        ("lastSeen", "2001-01-01 00:00:00", "when the agent connects"),
        ("opsiHostKey", "0123456789abcdef0123456789abcdef", "the agent key"),
        ("hardwareAddress", "aa:bb:cc:dd:ee:ff", "inventory"),
        ("ipAddress", "10.1.2.3", "inventory"),
    ],
)
def test_the_agents_facts_win_for_an_enrolled_computer(
    rpc: Rpc, runtime: Runtime, admin: Actor, attribute: str, value: str, why: str
) -> None:
    cid, _ = enroll(runtime, admin, "agent-pc")
    with UnitOfWork(runtime.db) as uow:
        uow.session.add(
            ComputerInterface(
                computer_id=cid,
                name="eth0",
                mac="aa:bb:cc:00:00:01",
                addresses=[{"family": "ipv4", "address": "10.9.9.9"}],
            )
        )
    hid = "agent-pc.fleetdeck.local"
    before = host(rpc, hid)
    assert before is not None and before["hardwareAddress"] == "aa:bb:cc:00:00:01"
    err = rpc.error("host_updateObject", {"type": "OpsiClient", "id": hid, "notes": "x", attribute: value})
    assert err["class"] == "BackendBadValueError"
    assert f"Attribute '{attribute}' of host '{hid}' cannot be changed" in err["message"]
    assert why in err["message"]
    assert host(rpc, hid) == before
    # what an admin records (description, ...) is still theirs to change
    rpc.ok(
        "host_updateObject", {"type": "OpsiClient", "id": hid, "description": "lab", "inventoryNumber": "7"}
    )
    after = host(rpc, hid)
    assert after == {**before, "description": "lab", "inventoryNumber": "7"}


def test_host_update_objects_is_checked_whole(rpc: Rpc) -> None:
    """The first object alone would be fine (a new host); the second is refused, so the
    first is not created either."""
    rpc.ok("host_createObjects", [CLIENT])
    before = host(rpc)
    new = {"type": "OpsiClient", "id": "ws-02.example.org", "notes": "new"}
    err = rpc.error("host_updateObjects", [new, {**CLIENT, "created": "2001-01-01 00:00:00"}])
    assert err["class"] == "BackendBadValueError" and "'created'" in err["message"]
    assert host(rpc, "ws-02.example.org") is None
    assert host(rpc) == before


def test_host_type_and_id_cannot_change(rpc: Rpc) -> None:
    rpc.ok("host_createObjects", [CLIENT])
    before = host(rpc)
    err = rpc.error("host_updateObject", {**CLIENT, "type": "OpsiDepotserver", "notes": "x"})
    assert err["class"] == "BackendBadValueError"
    assert f"Attribute 'type' of host '{HOST}'" in err["message"]
    renamed = {**CLIENT, "id": "ws-99.example.org", "ident": HOST, "notes": "x"}
    for method in ("host_updateObject", "host_updateObjects"):
        err = rpc.error(method, renamed)
        assert err["class"] == "BackendBadValueError"
        assert f"Attribute 'id' of host '{HOST}' cannot be changed to 'ws-99.example.org'" in err["message"]
    assert host(rpc) == before
    assert host(rpc, "ws-99.example.org") is None


def test_viewer_may_not_change_notes(rpc: Rpc, viewer_rpc: Rpc) -> None:
    rpc.ok("host_createObjects", [CLIENT])
    err = viewer_rpc.error("host_updateObject", {**CLIENT, "notes": "viewer was here"})
    assert err["class"] == "BackendPermissionDeniedError"
    row = host(rpc)
    assert row is not None and row["notes"] == "desk 4"


# ------------------------------------------------------------------ users


def user(rpc: Rpc, name: str) -> dict[str, Any] | None:
    found = rpc.ok("user_getObjects", [], {"id": name})
    return found[0] if found else None


def test_user_round_trip_is_fine(rpc: Rpc) -> None:
    rpc.ok("user_createObjects", [{"id": "helpdesk", "type": "User"}])
    row = user(rpc, "helpdesk")
    assert row is not None
    rpc.ok("user_updateObject", row)
    rpc.ok("user_updateObjects", [row])
    assert user(rpc, "helpdesk") == row


@pytest.mark.parametrize("attribute", ["created", "lastLogin"])
@pytest.mark.parametrize("method", ["user_updateObject", "user_updateObjects"])
def test_user_attributes_fleetdeck_cannot_change(
    rpc: Rpc, runtime: Runtime, method: str, attribute: str
) -> None:
    rpc.ok("user_createObjects", [{"id": "helpdesk", "type": "User"}])
    before = user(rpc, "helpdesk")
    objs = [{"id": "newbie"}, {"id": "helpdesk", attribute: "2001-01-01 00:00:00"}]
    err = rpc.error(method, objs if method.endswith("s") else objs[1])
    assert err["class"] == "BackendBadValueError"
    assert f"Attribute '{attribute}' of user 'helpdesk' cannot be changed" in err["message"]
    assert user(rpc, "helpdesk") == before
    assert runtime.services.users.get_by_name("newbie") is None


def test_user_id_cannot_change(rpc: Rpc, runtime: Runtime) -> None:
    rpc.ok("user_createObjects", [{"id": "helpdesk", "type": "User"}])
    for method in ("user_updateObject", "user_updateObjects"):
        err = rpc.error(method, {"id": "servicedesk", "ident": "helpdesk", "type": "User"})
        assert err["class"] == "BackendBadValueError"
        assert "Attribute 'id' of user 'helpdesk' cannot be changed to 'servicedesk'" in err["message"]
    assert runtime.services.users.get_by_name("servicedesk") is None
    assert runtime.services.users.get_by_name("helpdesk") is not None


def test_viewer_may_not_update_users(rpc: Rpc, viewer_rpc: Rpc, runtime: Runtime) -> None:
    rpc.ok("user_createObjects", [{"id": "helpdesk", "type": "User"}])
    for method in ("user_updateObject", "user_updateObjects"):
        err = viewer_rpc.error(method, {"id": "helpdesk2", "type": "User"})
        assert err["class"] == "BackendPermissionDeniedError"
    assert runtime.services.users.get_by_name("helpdesk2") is None
