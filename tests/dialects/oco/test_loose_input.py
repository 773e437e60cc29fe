"""Loose input that OCO (PHP) accepts and scripts rely on, and what OCO refuses, with OCO's
codes (issue #14): numbers where text belongs, numeric strings as ids, PHP's truthiness for
flags; an id that names no row is -32003 "Not found", never -32000 or a type error. Every case
goes through ``/api-client.php`` and reads back what was written."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.oco.conftest import Oco
from tests.dialects.oco.world import World, build_all

NOT_FOUND = {"code": -32003, "message": "Not found", "data": None}


@pytest.fixture
def world(runtime: Runtime, admin: Actor, system: Actor) -> World:
    w = World()
    build_all(runtime, admin, system, w)
    return w


# --- numbers where text belongs -------------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [(123, "123"), (1.5, "1.5"), (42.0, "42")])
def test_a_number_as_host_name_is_its_decimal_text(oco: Oco, given: float, stored: str) -> None:
    created = oco.ok("oco.computer.create", {"hostname": given, "notes": 7})
    general = oco.ok("oco.computer.get", {"id": created["id"]})["general"]
    assert (general["hostname"], general["notes"]) == (stored, "7")
    assert oco.error("oco.computer.create", {"hostname": stored})["message"] == "This hostname already exists"


def test_numbers_as_package_texts(oco: Oco) -> None:
    created = oco.ok(
        "oco.package.create",
        {
            "package_family_name": 2024,
            "version": 2,
            "install_procedure": "setup.exe",
            "install_procedure_success_return_codes": 0,
            "description": 1.25,
        },
    )
    general = oco.ok("oco.package.get", {"id": created["id"]})["general"]
    assert general["package_family_name"] == "2024"
    assert general["version"] == "2"
    assert general["install_procedure_success_return_codes"] == "0"
    assert general["notes"] == "1.25"


def test_a_number_as_deployment_name(oco: Oco, world: World) -> None:
    created = oco.ok(
        "oco.job_container.deploy",
        {
            "name": 17,
            "description": 3,
            "computer_ids": [world.ids["spare_computer"]],
            "package_ids": [world.ids["package_spare"]],
        },
    )
    container = next(c for c in oco.ok("oco.job_container.list") if c["id"] == created["id"])
    assert (container["name"], container["notes"]) == ("17", "3")


def test_a_list_where_text_belongs_is_invalid_input(oco: Oco) -> None:
    error = oco.error("oco.computer.create", {"hostname": ["PC01"]})
    assert error["code"] == -32001 and error["message"].startswith("Invalid Value.")
    assert oco.ok("oco.computer.list")["computers"] == []


# --- numeric strings as ids ------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [str, lambda i: f" {i} ", lambda i: f"+{i}", float])
def test_numeric_strings_and_whole_floats_are_ids(oco: Oco, world: World, spelling: Any) -> None:
    cid, pid = world.ids["computer"], world.ids["package"]
    assert oco.ok("oco.computer.get", {"id": spelling(cid)})["general"]["hostname"] == "VM002"
    assert oco.ok("oco.package.get", {"id": spelling(pid)})["general"]["version"] == "4.5.8.7128"
    group = oco.ok("oco.computer.list", {"computer_group_id": spelling(world.ids["computer_group"])})
    assert group["name"] == "Windows Clients"
    family = oco.ok("oco.package.list", {"package_family_id": spelling(world.ids["family"])})
    assert family["name"] == "CDBurnerXP"


def test_numeric_strings_in_id_lists(oco: Oco, world: World) -> None:
    spare, package = world.ids["spare_computer"], world.ids["package_spare"]
    created = oco.ok(
        "oco.job_container.deploy",
        {"name": "strings", "computer_ids": [str(spare)], "package_ids": [f"{package}"]},
    )
    jobs = oco.ok("oco.job_container.job.list", {"id": created["id"]})
    assert [(j["computer_id"], j["package_id"]) for j in jobs] == [(str(spare), str(package))]


def test_numeric_strings_as_ids_of_changes(oco: Oco, world: World) -> None:
    spare, group = world.ids["spare_computer"], world.ids["computer_group"]
    oco.ok("oco.computer.add_to_group", {"computer_id": str(spare), "computer_group_id": str(group)})
    members = oco.ok("oco.computer.list", {"computer_group_id": group})["computers"]
    assert str(spare) in {c["id"] for c in members}
    oco.ok("oco.computer.remove", {"id": f" {spare} "})
    assert oco.error("oco.computer.get", {"id": spare}) == NOT_FOUND


# --- ids that name no row: -32003 ------------------------------------------------------------

NO_ROW = ["abc", "12abc", "", " ", 1.5, True, {"id": 1}, [1], 2**63, "99999999999999999999", -7, 0]


@pytest.mark.parametrize(
    "method",
    [
        "oco.computer.get",
        "oco.computer.wol",
        "oco.computer.remove",
        "oco.package.get",
        "oco.package.remove",
        "oco.job_container.job.list",
        "oco.job_container.remove",
        "oco.job_container.job.remove",
        "oco.remove_installation_assignment",
        "oco.deployment_rule.job.list",
        "oco.report.execute",
    ],
)
def test_an_id_that_names_no_row_is_not_found(oco: Oco, method: str) -> None:
    # every spelling in one test (one app and login for the twelve): the answers that differ
    # are listed together
    wrong = {repr(bad): answer for bad in NO_ROW if (answer := oco.error(method, {"id": bad})) != NOT_FOUND}
    assert wrong == {}


@pytest.mark.parametrize("bad", ["abc", "1x", 1.5, -3, True, 2**64], ids=repr)
def test_group_and_family_ids_that_name_no_row_are_not_found(oco: Oco, world: World, bad: Any) -> None:
    """Given but unknown is "Not found"; only a missing or empty one means "all" (computer and
    report lists) or "required" (package list)."""
    ids = world.ids
    assert oco.error("oco.computer.list", {"computer_group_id": bad}) == NOT_FOUND
    assert oco.error("oco.report.list", {"report_group_id": bad}) == NOT_FOUND
    assert oco.error("oco.package.list", {"package_family_id": bad}) == NOT_FOUND
    assert oco.error("oco.package.list", {"package_group_id": bad}) == NOT_FOUND
    pair = {"computer_id": ids["spare_computer"], "computer_group_id": bad}
    assert oco.error("oco.computer.add_to_group", pair) == NOT_FOUND
    assert oco.error("oco.computer.remove_from_group", pair) == NOT_FOUND
    pair = {"computer_id": bad, "computer_group_id": ids["computer_group"]}
    assert oco.error("oco.computer.add_to_group", pair) == NOT_FOUND
    pair = {"package_id": ids["package_spare"], "package_group_id": bad}
    assert oco.error("oco.package.add_to_group", pair) == NOT_FOUND
    assert oco.error("oco.package.remove_from_group", pair) == NOT_FOUND
    pair = {"package_id": bad, "package_group_id": ids["package_group"]}
    assert oco.error("oco.package.add_to_group", pair) == NOT_FOUND
    # nothing changed
    members = oco.ok("oco.computer.list", {"computer_group_id": ids["computer_group"]})["computers"]
    assert [c["hostname"] for c in members] == ["VM002"]


def test_ids_in_lists_that_name_no_row_are_skipped(oco: Oco, world: World) -> None:
    """OCO skips unknown ids of a deployment's targets; with none left it creates no jobs."""
    spare, package = world.ids["spare_computer"], world.ids["package_spare"]
    created = oco.ok(
        "oco.job_container.deploy",
        {"name": "skip", "computer_ids": ["abc", spare, 1.5, None], "package_ids": [package, {"x": 1}]},
    )
    jobs = oco.ok("oco.job_container.job.list", {"id": created["id"]})
    assert [j["computer_id"] for j in jobs] == [str(spare)]
    error = oco.error(
        "oco.job_container.deploy", {"name": "none", "computer_ids": ["abc"], "package_ids": [package]}
    )
    assert error["code"] == -32001 and error["message"].startswith("Your request did not produced any jobs.")
    # a scalar where the list belongs: PHP's foreach runs zero times
    error = oco.error(
        "oco.job_container.deploy", {"name": "scalar", "computer_ids": spare, "package_ids": [package]}
    )
    assert error["code"] == -32001 and error["message"].startswith("Your request did not produced any jobs.")


# --- flags with PHP's truthiness -------------------------------------------------------------


@pytest.mark.parametrize("off", [0, "0", "", False, None, 0.0])
def test_false_flags_keep_a_computer_with_pending_jobs(oco: Oco, world: World, off: Any) -> None:
    cid = world.ids["computer"]  # has a pending job (world.py)
    error = oco.error("oco.computer.remove", {"id": cid, "force": off})
    assert error["code"] == -32001 and error["message"].startswith("The object could not be deleted")
    assert oco.ok("oco.computer.get", {"id": cid})["general"]["hostname"] == "VM002"


@pytest.mark.parametrize("on", [1, "1", 2, "yes", "false", True])
def test_true_flags_remove_it(oco: Oco, world: World, on: Any) -> None:
    cid = world.ids["computer"]
    oco.ok("oco.computer.remove", {"id": cid, "force": on})
    assert oco.error("oco.computer.get", {"id": cid}) == NOT_FOUND


def test_flags_and_numbers_of_a_deployment(oco: Oco, world: World, runtime: Runtime, admin: Actor) -> None:
    spare, package = world.ids["spare_computer"], world.ids["package_spare"]
    created = oco.ok(
        "oco.job_container.deploy",
        {
            "name": "loose",
            "computer_ids": [spare],
            "package_ids": [package],
            "use_wol": "0",
            "force_install_same_version": "1",
            "restart_timeout": "10",
            "priority": "5",
            "sequence_mode": "1",
            "agent_ip_ranges": None,
        },
    )
    container = runtime.services.deployments.get_container(admin, int(created["id"]))
    assert (container.use_wol, container.force_same_version) == (False, True)
    assert (container.restart_timeout_min, container.priority, container.sequence_mode) == (10, 5, 1)
