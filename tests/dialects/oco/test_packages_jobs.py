"""Packages, deployments, rules, reports and WOL: OCO's validation texts and codes, and the
behaviour the replay does not show (group order, force, the uninstall quirk)."""

from __future__ import annotations

import base64
import socket

import pytest

from fleetdeck.api.dialects.oco.errors import error_object
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import ValidationFailed
from tests.dialects.oco.conftest import Oco
from tests.dialects.oco.world import World, build_all


@pytest.fixture
def world(runtime: Runtime, admin: Actor, system: Actor) -> World:
    w = World()
    build_all(runtime, admin, system, w)
    return w


def package_args(**extra: object) -> dict[str, object]:
    return {"package_family_name": "App", "version": "1.0", "install_procedure": "sh setup.sh", **extra}


def test_package_create_validation(oco: Oco) -> None:
    assert oco.error("oco.package.create", {"package_family_name": "App"}) == {
        "code": -32001,
        "message": "Please fill the required fields",
        "data": None,
    }
    assert oco.ok("oco.package.create", package_args())["id"].isdigit()
    duplicate = oco.error("oco.package.create", package_args(), lang="de")
    assert duplicate == {
        "code": -32001,
        "message": "Es existiert bereits ein Paket mit diesem Namen und dieser Version.",
        "data": None,
    }
    corrupt = oco.error(
        "oco.package.create", package_args(version="2", files=[{"name": "a", "content": "%%%"}])
    )
    assert corrupt == {"code": -32001, "message": "Payload corrupt", "data": None}
    content = base64.b64encode(b"echo hi").decode()
    created = oco.ok(
        "oco.package.create", package_args(version="3", files=[{"name": "setup.sh", "content": content}])
    )
    general = oco.ok("oco.package.get", {"id": created["id"]})["general"]
    assert general["version"] == "3"
    assert general["install_procedure_success_return_codes"] == "0"


def test_package_list_by_group_keeps_group_order(oco: Oco, world: World) -> None:
    listing = oco.ok("oco.package.list", {"package_group_id": world.ids["package_group_windows"]})
    assert listing["name"] == "Windows"
    assert [(p["id"], p["package_group_member_sequence"]) for p in listing["packages"]] == [
        (str(world.ids["package_old"]), "1"),
        (str(world.ids["package"]), "2"),
    ]
    both = oco.ok(
        "oco.package.list",
        {"package_family_id": world.ids["family"], "package_group_id": world.ids["package_group_windows"]},
    )
    assert both["name"] == "Windows"  # the group wins
    assert oco.error("oco.package.list", {"package_group_id": world.ids["computer_group"]})["code"] == -32003
    by_family = oco.ok("oco.package.list", {"package_family_id": world.ids["family"]})
    assert {g["name"] for g in by_family["groups"]} == {"Test Group 1", "Windows"}
    assert all(p["package_group_member_sequence"] is None for p in by_family["packages"])


def test_package_remove_force(oco: Oco, world: World) -> None:
    pending = {"id": world.ids["package"], "force": False}
    assert oco.error("oco.package.remove", pending)["message"].startswith("The object could not be deleted")
    assert oco.ok("oco.package.remove", {"id": world.ids["package"]}) == []  # force defaults to true
    assert oco.error("oco.package.get", {"id": world.ids["package"]})["code"] == -32003


def test_computer_remove_without_force_refuses_pending_jobs(oco: Oco, world: World) -> None:
    error = oco.error("oco.computer.remove", {"id": world.ids["computer"], "force": 0}, lang="de")
    assert error["code"] == -32001
    assert error["message"].startswith("Das Objekt konnte nicht gelöscht werden")
    assert oco.ok("oco.computer.remove", {"id": world.ids["computer"]}) == []


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        ({"name": " "}, -32001, "The name cannot be empty"),
        ({"restart_timeout": 0}, -32001, "Please fill the required fields"),
        ({"date_start": "tomorrow"}, -32001, "Please fill the required fields"),
        ({"date_end": "2000-01-01 00:00:00"}, -32001, "The end time cannot be before the start time."),
        ({"sequence_mode": 2}, -32001, "Invalid Value. Please check your input."),
        ({"priority": 101}, -32001, "Invalid Value. Please check your input."),
        ({"agent_ip_ranges": ["300.1.1.1/8"]}, -32000, "Invalid IP address"),
        ({"time_frames": ["8-12"]}, -32000, "Invalid time input"),
        ({"computer_ids": [999999]}, -32001, "Your request did not produced any jobs."),
    ],
)
def test_deploy_validation(oco: Oco, world: World, data: dict[str, object], code: int, message: str) -> None:
    base = {
        "name": "X",
        "computer_ids": [world.ids["spare_computer"]],
        "package_ids": [world.ids["package_old"]],
    }
    error = oco.error("oco.job_container.deploy", {**base, **data})
    assert error["code"] == code
    assert error["message"].startswith(message)


def test_deploy_to_report_targets(oco: Oco, world: World) -> None:
    created = oco.ok(
        "oco.job_container.deploy",
        {
            "name": "By report",
            "computer_report_ids": [world.ids["report"]],
            "package_ids": [world.ids["package_spare"]],
        },
    )
    jobs = oco.ok("oco.job_container.job.list", {"id": created["id"]})
    assert sorted(j["computer_id"] for j in jobs) == sorted(
        [str(world.ids["computer"]), str(world.ids["spare_computer"])]
    )
    assert {j["state"] for j in jobs} == {"0"}


def test_uninstall_returns_null_id_and_creates_jobs(oco: Oco, world: World) -> None:
    before = {c["id"] for c in oco.ok("oco.job_container.list")}
    result = oco.ok(
        "oco.job_container.uninstall", {"name": "Remove", "installation_ids": [world.ids["installation"]]}
    )
    assert result == {"id": None}
    new = [c for c in oco.ok("oco.job_container.list") if c["id"] not in before]
    assert [c["name"] for c in new] == ["Remove"]
    jobs = oco.ok("oco.job_container.job.list", {"id": new[0]["id"]})
    assert [(j["is_uninstall"], j["sequence"]) for j in jobs] == [("1", "0")]


def test_already_installed_job_state_and_rule_jobs(oco: Oco, world: World) -> None:
    rule_jobs = oco.ok("oco.deployment_rule.job.list", {"id": world.ids["rule"]})
    assert [(j["computer_id"], j["package_id"], j["state"]) for j in rule_jobs] == [
        (str(world.ids["computer"]), str(world.ids["package_old"]), "-5")
    ]
    rules = oco.ok("oco.deployment_rule.list")
    assert rules[0]["computer_group_id"] == str(world.ids["computer_group"])


def test_job_and_container_removal(oco: Oco, world: World) -> None:
    assert oco.ok("oco.job_container.job.remove", {"id": world.ids["job"]}) == []
    assert oco.ok("oco.job_container.job.list", {"id": world.ids["container"]}) == []
    assert oco.ok("oco.job_container.remove", {"id": world.ids["container"]}) == []
    assert oco.error("oco.job_container.job.list", {"id": world.ids["container"]})["code"] == -32003


def test_reports(oco: Oco, world: World) -> None:
    root = oco.ok("oco.report.list")
    assert root["reports"][0]["name"] == "Computers"
    assert [g["name"] for g in root["groups"]] == ["Reports"]
    rows = oco.ok("oco.report.execute", {"id": world.ids["report"]})
    assert rows[0] == {
        "computer_id": str(world.ids["computer"]),
        "hostname": "VM002",
        "os": "Windows 7 Home Premium",
        "os_version": "6.1.7601",
        "agent_version": "0.8.0",
    }
    # Core refuses non-SELECT reports when they are saved; the text OCO shows for them:
    only_select = ValidationFailed("no", reason="only_select_queries")
    for lang in ("en", "de"):  # not localized in OCO
        assert error_object(only_select, lang) == {
            "code": -32001,
            "message": "Only SELECT queries are allowed in reports",
            "data": None,
        }
    assert oco.error("oco.report.execute", {"id": 999999})["code"] == -32003
    assert oco.error("oco.report.list", {"report_group_id": 999999})["code"] == -32003


def test_wol(oco: Oco, world: World) -> None:
    assert oco.ok("oco.computer.wol", {"id": world.ids["computer"]}) == []
    bare = oco.ok("oco.computer.create", {"hostname": "NOMAC"})["id"]
    assert oco.error("oco.computer.wol", {"id": bare}, lang="de") == {
        "code": -32000,
        "message": "Es konnte kein WOL-Paket gesendet werden, da keine MAC-Adresse dieses Rechners"
        " bekannt ist.",
        "data": None,
    }


def test_installation_assignment_removal(oco: Oco, world: World) -> None:
    assert oco.ok("oco.remove_installation_assignment", {"id": world.ids["installation"]}) == []
    assert oco.ok("oco.computer.get", {"id": world.ids["computer"]})["installed_packages"] == []
    assert (
        oco.error("oco.remove_installation_assignment", {"id": world.ids["installation"]})["code"] == -32003
    )


def test_viewer_is_denied_changes_but_reads(viewer_oco: Oco, world: World) -> None:
    assert viewer_oco.error("oco.package.create", package_args())["code"] == -32002
    assert viewer_oco.error("oco.job_container.remove", {"id": world.ids["container"]})["code"] == -32002
    assert len(viewer_oco.ok("oco.job_container.list")) == 1


def test_deploy_with_wol_shuts_down_only_the_computers_it_woke(
    oco: Oco, world: World, runtime: Runtime, admin: Actor, listener: socket.socket
) -> None:
    """``shutdown_waked_after_completion``: the offline computer's last job gets post action
    shutdown (OCO's ``shutdown`` column = the restart timeout); the online one keeps none."""
    asleep = int(oco.ok("oco.computer.create", {"hostname": "ASLEEP"})["id"])
    awake = world.ids["computer"]
    created = oco.ok(
        "oco.job_container.deploy",
        {
            "name": "Overnight",
            "computer_ids": [asleep, awake],
            "package_ids": [world.ids["package_spare"]],
            "use_wol": 1,
            "shutdown_waked_after_completion": 1,
            "restart_timeout": 7,
        },
    )
    assert bytes.fromhex("080027315bc4") * 16 in listener.recv(200)  # the online one is woken too
    rows = oco.ok("oco.job_container.job.list", {"id": created["id"]})
    assert {r["computer_id"]: (r["restart"], r["shutdown"]) for r in rows} == {
        str(asleep): ("-1", "7"),
        str(awake): ("-1", "-1"),
    }
    stored = {
        j.computer_id: j for j in runtime.services.deployments.container_jobs(admin, int(created["id"]))
    }
    assert stored[asleep].post_action == 2 and stored[asleep].wol_shutdown_set is not None
    assert stored[awake].post_action == 0 and stored[awake].wol_shutdown_set is None
    pending = oco.ok("oco.package.get", {"id": world.ids["package_spare"]})["pending_jobs"]
    marked = {
        p["computer_id"]: p["wol_shutdown_set"] for p in pending if p["job_container_id"] == created["id"]
    }
    assert marked[str(asleep)] is not None and marked[str(awake)] is None
