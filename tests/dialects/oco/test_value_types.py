"""``oco.value_types``: the two generations of OCO's value types (issue #14).

The seed's OCO (PHP < 8.1) sends every id, flag and number as a numeric string; OCO on
PHP >= 8.1 sends JSON integers. Within one mode every field must be consistent, in every read
method: this walks each read method's whole answer in both modes and checks each scalar's
JSON type by its field name, and checks that the two modes carry the same values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleetdeck.api.dialects.oco.render import typed
from fleetdeck.api.dialects.oco.settings import NATIVE, STRINGS, VALUE_TYPES_KEY
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.oco.conftest import Oco, OcoSwitch
from tests.dialects.oco.world import World, build_all

# Integer (and float) columns in OCO's schema (ids are recognised by name: ``id`` and ``*_id``).
# In the strings mode they are numeric strings, in the native mode JSON numbers; every other field
# is text (or null) in both, also ``ram``, which is a TEXT column in OCO.
NUMERIC = {
    "size",
    "free",
    "state",
    "sequence",
    "download_progress",
    "return_code",
    "restart",
    "shutdown",
    "post_action",
    "post_action_timeout",
    "priority",
    "sequence_mode",
    "wol_sent",
    "enabled",
    "is_uninstall",
    "download",
    "nic_number",
    "logon_amount",
    "install_procedure_post_action",
    "uninstall_procedure_post_action",
    "download_for_uninstall",
    "upgrade_behavior",
    "secure_boot",
    "self_service_enabled",
    "self_service",
    "package_group_member_sequence",
    "license_count",
    "package_count",
    "install_count",
    "uptime",
    "battery_level",
    "battery_status",
    "force_update",
    "encrypted",
    "shutdown_waked_after_completion",
    "deployment_rule_enabled",
    "deployment_rule_sequence_mode",
    "deployment_rule_priority",
    "job_container_enabled",
    "job_container_sequence_mode",
    "job_container_priority",
    "job_container_self_service",
    "license_expiration",
}
NUMERIC_TEXT = re.compile(r"-?\d+(\.\d+)?")

Data = Callable[[World], dict[str, Any] | None]
READS: list[tuple[str, Data]] = [
    ("oco.info", lambda w: None),
    ("oco.computer.list", lambda w: None),
    ("oco.computer.list", lambda w: {"computer_group_id": w.ids["computer_group"]}),
    ("oco.computer.get", lambda w: {"id": w.ids["computer"]}),
    ("oco.package_family.list", lambda w: None),
    ("oco.package.list", lambda w: {"package_family_id": w.ids["family"]}),
    ("oco.package.list", lambda w: {"package_group_id": w.ids["package_group_windows"]}),
    ("oco.package.get", lambda w: {"id": w.ids["package"]}),
    ("oco.job_container.list", lambda w: None),
    ("oco.job_container.job.list", lambda w: {"id": w.ids["container"]}),
    ("oco.deployment_rule.list", lambda w: None),
    ("oco.deployment_rule.job.list", lambda w: {"id": w.ids["rule"]}),
    ("oco.report.list", lambda w: None),
    ("oco.report.list", lambda w: {"report_group_id": w.ids["report_group"]}),
    ("oco.report.execute", lambda w: {"id": w.ids["report"]}),
]


def is_numeric_field(key: str) -> bool:
    return key == "id" or key.endswith("_id") or key in NUMERIC


def fields(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, field name, value) of every scalar held by an object anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                yield from fields(item, f"{path}.{key}")
            else:
                yield f"{path}.{key}", key, item
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                yield from fields(item, f"{path}[]")


def wrong_types(answer: Any, mode: str) -> list[str]:
    problems = []
    for path, key, value in fields(answer):
        if value is None:
            continue
        if isinstance(value, bool):
            problems.append(f"{path}: a JSON boolean ({value!r}); OCO has 0/1")
        elif is_numeric_field(key):
            if mode == NATIVE and type(value) is not int and not isinstance(value, float):
                problems.append(f"{path}: {value!r} is not a JSON number")
            if mode == STRINGS and not (isinstance(value, str) and NUMERIC_TEXT.fullmatch(value)):
                problems.append(f"{path}: {value!r} is not a numeric string")
        elif not isinstance(value, str):
            problems.append(f"{path}: {value!r} is not text")
    return problems


@pytest.fixture
def world(runtime: Runtime, admin: Actor, system: Actor) -> World:
    w = World()
    build_all(runtime, admin, system, w)
    return w


def answers(oco: Oco, world: World) -> list[tuple[str, Any]]:
    return [(method, oco.ok(method, data(world))) for method, data in READS]


def test_the_default_is_the_seeds_strings(oco: Oco, runtime: Runtime) -> None:
    assert runtime.services.settings.value(VALUE_TYPES_KEY) == STRINGS


@pytest.mark.parametrize("mode", [STRINGS, NATIVE])
def test_every_read_method_is_consistent_within_a_mode(
    oco: Oco, switch: OcoSwitch, world: World, mode: str
) -> None:
    switch.store.set(switch.admin, VALUE_TYPES_KEY, mode)
    problems = []
    for method, answer in answers(oco, world):
        problems += [f"{method} {p}" for p in wrong_types(answer, mode)]
    assert not problems, "\n".join(problems)


def test_both_modes_carry_the_same_values(oco: Oco, switch: OcoSwitch, world: World) -> None:
    """The native answer with its numbers written as strings is the strings answer: only the
    types differ, never a value or a key."""
    strings = answers(oco, world)
    switch.store.set(switch.admin, VALUE_TYPES_KEY, NATIVE)
    native = answers(oco, world)
    assert native != strings  # the switch took effect
    assert [(m, typed(a, native=False)) for m, a in native] == strings


@pytest.mark.parametrize("mode", [STRINGS, NATIVE])
def test_created_ids_are_strings_in_both_modes(oco: Oco, switch: OcoSwitch, world: World, mode: str) -> None:
    """OCO takes them from PDO's lastInsertId, a string on every PHP version."""
    switch.store.set(switch.admin, VALUE_TYPES_KEY, mode)
    computer = oco.ok("oco.computer.create", {"hostname": f"NEW-{mode}"})
    package = oco.ok(
        "oco.package.create",
        {"package_family_name": f"F-{mode}", "version": "1", "install_procedure": "x"},
    )
    deployed = oco.ok(
        "oco.job_container.deploy",
        {"name": "d", "computer_ids": [int(computer["id"])], "package_ids": [int(package["id"])]},
    )
    for created in (computer, package, deployed):
        assert isinstance(created["id"], str) and created["id"].isdigit(), created
    listed = oco.ok("oco.computer.get", {"id": computer["id"]})["general"]["id"]
    assert listed == (int(computer["id"]) if mode == NATIVE else computer["id"])


def test_the_setting_through_the_rest_api(oco: Oco, world: World) -> None:
    """Set with ``PUT /api/v1/settings/oco.value_types`` (audited by core); a value that is
    neither mode is refused there, and the OCO answers follow the stored value."""
    headers = {"Authorization": oco.auth}
    r = oco.client.put("/api/v1/settings/oco.value_types", json={"value": "ints"}, headers=headers)
    assert r.status_code == 422, r.text
    assert "strings, native" in r.json()["error"]["message"]
    assert isinstance(oco.ok("oco.computer.list")["computers"][0]["id"], str)
    r = oco.client.put("/api/v1/settings/oco.value_types", json={"value": "native"}, headers=headers)
    assert r.status_code == 200, r.text
    assert (
        oco.client.get("/api/v1/settings/oco.value_types", headers=headers).json()["data"]["value"] == NATIVE
    )
    assert isinstance(oco.ok("oco.computer.list")["computers"][0]["id"], int)
