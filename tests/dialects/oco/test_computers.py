"""oco.computer.* and oco.info against core computers and groups."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Cond, Op, Query
from tests import factories
from tests.dialects.oco.conftest import Oco
from tests.dialects.oco.world import World, build_computers


def world(runtime: Runtime, admin: Actor, system: Actor) -> World:
    w = World()
    build_computers(runtime, admin, system, w)
    return w


def test_info(oco: Oco, runtime: Runtime) -> None:
    info = oco.ok("oco.info")
    assert set(info) == {
        "version",
        "wol_satellites",
        "extensions",
        "license_computers",
        "license_company",
        "license_expiration",
        "webserver",
        "database",
        "php",
    }
    assert info["database"] == runtime.db.dialect


def test_list_root_and_group(oco: Oco, runtime: Runtime, admin: Actor, system: Actor) -> None:
    w = world(runtime, admin, system)
    root = oco.ok("oco.computer.list", {"computer_group_id": None})
    assert sorted(c["hostname"] for c in root["computers"]) == ["PC02", "VM002"]
    assert [g["name"] for g in root["groups"]] == ["Linux Clients", "Windows Clients"]  # root level only
    assert all(g["parent_computer_group_id"] is None for g in root["groups"])
    vm = next(c for c in root["computers"] if c["hostname"] == "VM002")
    assert vm["id"] == str(w.ids["computer"])
    assert vm["ram"] == "4294500352"
    assert vm["cpu"].startswith("AMD64 Family")
    assert vm["created_by_system_user_id"] == str(admin.user_id)  # a numeric string like every id
    assert len(vm["last_ping"]) == 19
    assert vm["agent_key"] == vm["server_key"] == ""  # never disclosed

    group = oco.ok("oco.computer.list", {"computer_group_id": w.ids["computer_group"]})
    assert group["name"] == "Windows Clients"
    assert [c["hostname"] for c in group["computers"]] == ["VM002"]
    assert [(g["name"], g["parent_computer_group_id"]) for g in group["groups"]] == [
        ("Desks", str(w.ids["computer_group"]))
    ]
    assert oco.ok("oco.computer.list", {"computer_group_id": str(w.ids["linux_group"])})["computers"] == []
    assert oco.error("oco.computer.list", {"computer_group_id": 999999})["code"] == -32003


def test_package_groups_are_not_computer_groups(oco: Oco, runtime: Runtime, admin: Actor) -> None:
    pg = runtime.services.groups.create(admin, "Office apps", kind="package")
    assert oco.error("oco.computer.list", {"computer_group_id": pg.id})["code"] == -32003
    assert oco.ok("oco.computer.list")["groups"] == []


def test_get_sections(oco: Oco, runtime: Runtime, admin: Actor, system: Actor) -> None:
    w = world(runtime, admin, system)
    data = oco.ok("oco.computer.get", {"id": w.ids["computer"]})
    assert data["general"]["hostname"] == "VM002"
    assert data["general"]["domain"] == "vm2-PC"
    assert data["general"]["software_version"] is None  # one key set for list and get (issue #14)
    assert data["groups"] == [
        {"id": str(w.ids["computer_group"]), "parent_computer_group_id": None, "name": "Windows Clients"}
    ]
    assert data["networks"] == [
        {
            "id": None,
            "nic_number": "0",
            "address": "10.0.2.15",
            "netmask": "255.255.255.0",
            "broadcast": "10.0.2.255",
            "mac": "08:00:27:31:5b:c4",
            "interface": "Ethernet0",
        }
    ]
    fs = data["filesystems"][0]
    assert (fs["mountpoint"], fs["filesystem"], fs["size"], fs["free"]) == (
        "C:",
        "NTFS",
        "34252779520",
        "600092672",
    )
    assert fs["computer_id"] == str(w.ids["computer"])
    assert data["recognised_software"][0]["software_name"] == "VLC media player"
    assert data["logins"] == [
        {
            "id": None,
            "domain_user_id": None,
            "console": "rdp",
            "timestamp": data["logins"][0]["timestamp"],
            "logon_amount": "2",
            "computer_hostname": None,
            "domain_user_username": "hulk",
        }
    ]
    assert data["screens"] == []
    assert data["printers"] == []
    assert isinstance(data["installed_packages"], list)
    assert isinstance(data["pending_jobs"], list)


def test_group_membership(oco: Oco, runtime: Runtime, admin: Actor, system: Actor) -> None:
    w = world(runtime, admin, system)
    args = {"computer_id": w.ids["spare_computer"], "computer_group_id": w.ids["linux_group"]}
    assert oco.ok("oco.computer.add_to_group", args) == []
    assert oco.ok("oco.computer.add_to_group", args) == []  # no-op when a member already
    assert runtime.services.groups.members(admin, w.ids["linux_group"]) == [w.ids["spare_computer"]]
    assert oco.ok("oco.computer.remove_from_group", args) == []
    assert runtime.services.groups.members(admin, w.ids["linux_group"]) == []
    for bad in (
        {**args, "computer_id": 999999},
        {**args, "computer_group_id": 999999},
        {"computer_id": w.ids["spare_computer"]},
    ):
        assert oco.error("oco.computer.add_to_group", bad)["code"] == -32003
        assert oco.error("oco.computer.remove_from_group", bad)["code"] == -32003


def test_create_with_notes_and_remove(oco: Oco, runtime: Runtime, admin: Actor) -> None:
    created = oco.ok("oco.computer.create", {"hostname": "  NEW01 ", "notes": "My new computer."})
    assert isinstance(created["id"], str)
    cid = int(created["id"])
    general = oco.ok("oco.computer.get", {"id": cid})["general"]
    assert general["hostname"] == "NEW01"
    assert general["notes"] == "My new computer."
    assert general["last_ping"] is None  # pre-registered, never seen
    assert oco.ok("oco.computer.remove", {"id": cid}) == []  # force defaults to true
    assert oco.error("oco.computer.get", {"id": cid})["code"] == -32003
    assert oco.error("oco.computer.remove", {"id": cid})["code"] == -32003


def test_remove_without_force_refuses_while_a_job_is_pending(
    oco: Oco, runtime: Runtime, admin: Actor
) -> None:
    """Core checks for pending jobs in the deleting transaction (docs/architecture.md, "One
    core call per request element"); OCO's answer is unchanged."""
    svc = runtime.services
    cid = factories.computer(svc, admin, "busy")
    factories.deployment(svc, admin, [cid], [factories.package(svc, admin, "tool").id])
    error = oco.error("oco.computer.remove", {"id": cid, "force": False})
    assert error["code"] == -32001 and svc.computers.exists([cid]) == {cid}
    assert oco.ok("oco.computer.remove", {"id": cid, "force": True}) == []
    assert svc.computers.exists([cid]) == set()


def test_viewer_cannot_change_memberships(
    viewer_oco: Oco, runtime: Runtime, admin: Actor, system: Actor
) -> None:
    w = world(runtime, admin, system)
    args = {"computer_id": w.ids["spare_computer"], "computer_group_id": w.ids["linux_group"]}
    assert viewer_oco.error("oco.computer.add_to_group", args)["code"] == -32002
    assert viewer_oco.error("oco.computer.remove", {"id": w.ids["spare_computer"]})["code"] == -32002
    assert len(viewer_oco.ok("oco.computer.list")["computers"]) == 2


def test_changes_are_audited_as_oco(oco: Oco, runtime: Runtime, admin: Actor) -> None:
    oco.ok("oco.computer.create", {"hostname": "AUDITED"})
    page = runtime.services.audit.find(admin, Query(where=(Cond("via", Op.EQ, "oco"),)))
    assert any(r.action == "computer.create" and r.username == "admin" for r in page.items)
