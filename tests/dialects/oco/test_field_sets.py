"""The field sets of OCO's objects (issue #14): the union of the seed document's fields and those
current OCO sends (it serialises whole model objects), named as OCO names them, one key set per
object kind whichever method shows it. Facts fleetdeck has no source for are ``null``
(docs/dialects/oco.md lists them); the ones it has are checked by value."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.api.dialects.oco.settings import NATIVE, VALUE_TYPES_KEY
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.oco.conftest import Oco, OcoSwitch
from tests.dialects.oco.world import World, build_all

COMPUTER = [
    "id",
    "uid",
    "hostname",
    "os",
    "os_version",
    "os_license",
    "os_locale",
    "kernel_version",
    "architecture",
    "cpu",
    "gpu",
    "ram",
    "agent_version",
    "remote_address",
    "serial",
    "manufacturer",
    "model",
    "bios_version",
    "battery_level",
    "battery_status",
    "uptime",
    "boot_type",
    "domain",
    "secure_boot",
    "last_ping",
    "last_update",
    "force_update",
    "notes",
    "agent_key",
    "server_key",
    "agent_timestamp",
    "created",
    "created_by_system_user_id",
    "software_id",
    "software_name",
    "software_version",
    "computer_network_mac",
    "created_by_system_user_username",
]
PACKAGE_FAMILY = [
    "id",
    "name",
    "notes",
    "license_count",
    "icon",
    "package_count",
    "install_count",
    "newest_package_created",
    "oldest_package_created",
]
PACKAGE = [
    "id",
    "package_family_id",
    "package_family_name",
    "version",
    "notes",
    "author",
    "install_procedure",
    "install_procedure_success_return_codes",
    "install_procedure_post_action",
    "upgrade_behavior",
    "uninstall_procedure",
    "uninstall_procedure_success_return_codes",
    "download_for_uninstall",
    "uninstall_procedure_post_action",
    "compatible_os",
    "compatible_os_version",
    "compatible_architecture",
    "license_count",
    "line_endings",
    "install_count",
    "created",
    "created_by_system_user_id",
    "created_by_system_user_username",
    "last_update",
    "last_update_by_system_user_id",
    "updated",
    "package_group_member_sequence",
    "package_family_icon",
    "self_service_enabled",
]
JOB_CONTAINER = [
    "id",
    "name",
    "enabled",
    "start_time",
    "end_time",
    "notes",
    "wol_sent",
    "shutdown_waked_after_completion",
    "sequence_mode",
    "priority",
    "agent_ip_ranges",
    "time_frames",
    "self_service",
    "created",
    "created_by_system_user_id",
    "created_by_domain_user_id",
    "created_by_system_user_username",
    "created_by_domain_user_username",
    "execution_finished",
    "last_update",
]
JOB = [
    "id",
    "job_container_id",
    "computer_id",
    "package_id",
    "procedure",
    "success_return_codes",
    "upgrade_behavior",
    "is_uninstall",
    "download",
    "restart",
    "shutdown",
    "post_action",
    "post_action_timeout",
    "sequence",
    "state",
    "download_progress",
    "return_code",
    "message",
    "wol_shutdown_set",
    "download_started",
    "execution_started",
    "execution_finished",
    "last_update",
    "computer_hostname",
    "package_family_name",
    "package_version",
    "job_container_name",
    "job_container_start_time",
    "job_container_created_by_system_user_id",
    "job_container_created_by_domain_user_id",
    "job_container_enabled",
    "job_container_sequence_mode",
    "job_container_priority",
    "job_container_agent_ip_ranges",
    "job_container_time_frames",
    "job_container_self_service",
]


@pytest.fixture
def world(runtime: Runtime, admin: Actor, system: Actor) -> World:
    w = World()
    build_all(runtime, admin, system, w)
    return w


def keys(rows: list[dict[str, Any]]) -> list[list[str]]:
    assert rows, "expected rows"
    return [list(r) for r in rows]


def test_computers(oco: Oco, world: World) -> None:
    listed = oco.ok("oco.computer.list")["computers"]
    in_group = oco.ok("oco.computer.list", {"computer_group_id": world.ids["computer_group"]})["computers"]
    general = oco.ok("oco.computer.get", {"id": world.ids["computer"]})["general"]
    assert keys(listed) == [COMPUTER] * 2
    assert keys(in_group) == [COMPUTER]
    assert list(general) == COMPUTER
    # the facts fleetdeck has
    assert general["uid"] and general["uid"] == next(c for c in listed if c["hostname"] == "VM002")["uid"]
    assert general["remote_address"] == "10.0.2.15"
    assert general["domain"] == "vm2-PC"
    assert 0 <= int(general["uptime"]) < 86_400  # world.py booted it an hour before its inventory
    assert general["force_update"] == "0"
    assert general["created_by_system_user_username"] == "admin"
    for unknown in ("battery_level", "battery_status", "agent_timestamp", "software_id", "software_name"):
        assert general[unknown] is None, unknown


def test_package_families(oco: Oco, world: World) -> None:
    families = oco.ok("oco.package_family.list")
    assert keys(families) == [PACKAGE_FAMILY] * len(families)
    cdburner = next(f for f in families if f["name"] == "CDBurnerXP")
    assert (cdburner["package_count"], cdburner["install_count"]) == ("2", "2")
    assert cdburner["icon"] is None
    assert cdburner["newest_package_created"] >= cdburner["oldest_package_created"]


def test_packages(oco: Oco, world: World) -> None:
    by_family = oco.ok("oco.package.list", {"package_family_id": world.ids["family"]})["packages"]
    by_group = oco.ok("oco.package.list", {"package_group_id": world.ids["package_group_windows"]})[
        "packages"
    ]
    general = oco.ok("oco.package.get", {"id": world.ids["package"]})["general"]
    assert keys(by_family) == [PACKAGE] * 2
    assert keys(by_group) == [PACKAGE] * 2
    assert list(general) == PACKAGE
    assert [p["package_group_member_sequence"] for p in by_group] == ["1", "2"]
    assert general["package_group_member_sequence"] is None
    assert general["install_count"] == "1"  # installed on the spare computer (world.py)
    assert general["upgrade_behavior"] == "0"
    assert general["created_by_system_user_username"] == "admin"


def test_package_create_fields_read_back(oco: Oco) -> None:
    created = oco.ok(
        "oco.package.create",
        {
            "package_family_name": "Fields",
            "version": "1",
            "install_procedure": "setup.exe",
            "upgrade_behavior": 2,
            "compatible_os": "Windows 10",
            "compatible_architecture": "AMD64",
            "license_count": 32,
            "line_endings": "\n",
        },
    )
    general = oco.ok("oco.package.get", {"id": created["id"]})["general"]
    assert general["upgrade_behavior"] == "2"
    assert (general["compatible_os"], general["compatible_architecture"]) == ("Windows 10", "AMD64")
    assert (general["license_count"], general["line_endings"]) == ("32", "\n")
    family = next(f for f in oco.ok("oco.package_family.list") if f["name"] == "Fields")
    assert family["package_count"] == "1"


def test_job_containers(oco: Oco, world: World, switch: OcoSwitch) -> None:
    created = oco.ok(
        "oco.job_container.deploy",
        {
            "name": "Conditions",
            "computer_ids": [world.ids["spare_computer"]],
            "package_ids": [world.ids["package_spare"]],
            "agent_ip_ranges": ["10.0.0.0/8", "!10.9.0.0/16"],
            "time_frames": ["MON 08:00-12:00"],
            "priority": 7,
            "sequence_mode": 1,
            "use_wol": 0,
        },
    )
    containers = oco.ok("oco.job_container.list")
    assert keys(containers) == [JOB_CONTAINER] * 2
    row = next(c for c in containers if c["id"] == created["id"])
    assert row["agent_ip_ranges"] == "10.0.0.0/8, !10.9.0.0/16"
    assert row["time_frames"] == "MON 08:00-12:00"
    assert (row["priority"], row["sequence_mode"], row["enabled"], row["self_service"]) == (
        "7",
        "1",
        "1",
        "0",
    )
    assert row["created_by_system_user_username"] == "admin"
    assert row["created_by_domain_user_username"] is None
    jobs = oco.ok("oco.job_container.job.list", {"id": created["id"]})
    assert keys(jobs) == [JOB]
    assert jobs[0]["job_container_name"] == "Conditions"
    assert jobs[0]["job_container_agent_ip_ranges"] == row["agent_ip_ranges"]
    assert (jobs[0]["job_container_priority"], jobs[0]["job_container_sequence_mode"]) == ("7", "1")
    switch.store.set(switch.admin, VALUE_TYPES_KEY, NATIVE)
    native = oco.ok("oco.job_container.job.list", {"id": created["id"]})[0]
    assert (native["job_container_priority"], native["post_action"], native["state"]) == (7, 0, 0)


def test_inventory_rows_and_installations(oco: Oco, world: World, switch: OcoSwitch) -> None:
    data = oco.ok("oco.computer.get", {"id": world.ids["computer"]})
    [fs] = data["filesystems"]
    assert list(fs) == [
        "id",
        "computer_id",
        "device",
        "mountpoint",
        "filesystem",
        "size",
        "free",
        "name",
        "uuid",
        "encrypted",
    ]
    [sw] = data["recognised_software"]
    assert (sw["version"], sw["software_version"]) == ("2.2.1", "2.2.1")
    [installed] = data["installed_packages"]
    by = [
        "installed_by_system_user_id",
        "installed_by_domain_user_id",
        "installed_by_system_user_username",
        "installed_by_domain_user_username",
    ]
    assert [installed[k] for k in by] == [None] * 4
    [installation] = oco.ok("oco.package.get", {"id": world.ids["package"]})["installations"]
    assert set(by) <= set(installation)
    assert data["general"]["ram"] == "4294500352"
    switch.store.set(switch.admin, VALUE_TYPES_KEY, NATIVE)
    native = oco.ok("oco.computer.get", {"id": world.ids["computer"]})
    assert native["general"]["ram"] == "4294500352"  # TEXT in OCO's schema: a string on every PHP
    assert native["filesystems"][0]["size"] == 34252779520  # BIGINT


def test_job_rows_have_one_key_set_wherever_they_are_shown(oco: Oco, world: World) -> None:
    in_container = oco.ok("oco.job_container.job.list", {"id": world.ids["container"]})
    of_computer = oco.ok("oco.computer.get", {"id": world.ids["computer"]})["pending_jobs"]
    of_package = oco.ok("oco.package.get", {"id": world.ids["package"]})["pending_jobs"]
    assert keys(in_container) == keys(of_computer) == keys(of_package) == [JOB]
    assert in_container == of_computer == of_package  # the same job, the same row
    job = in_container[0]
    assert job["job_container_name"] == "Install VM002"
    assert job["computer_hostname"] == "VM002"
    assert (job["download"], job["download_started"]) == ("1", None)  # not started yet
