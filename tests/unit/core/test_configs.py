"""Configuration entries and per-computer values (opsi's Config and ConfigState) in core."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.settings.configs import Config, ConfigService, ConfigValue

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)


@pytest.fixture
def configs(runtime: Runtime) -> ConfigService:
    return runtime.services.configs


@pytest.fixture
def pcs(runtime: Runtime, admin: Actor) -> list[int]:
    return [runtime.services.computers.create(admin, f"pc{i}").id for i in range(2)]


def audit(runtime: Runtime, admin: Actor, action: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, action),)))
    return [(e.result, e.object_type, e.object_id, e.detail) for e in reversed(page.items)]


def test_entries_are_created_replaced_and_listed_by_key(
    configs: ConfigService, admin: Actor, runtime: Runtime
) -> None:
    flag = Config("z.flag", "bool", "a switch", [False, True], [True], editable=False, multi_value=False)
    assert configs.put(admin, flag) == flag
    names = Config("a.names", "str", "", ["x", "y"], ["x"], editable=True, multi_value=True)
    configs.put(admin, names)
    assert configs.entries(VIEWER) == [names, flag]
    replaced = Config("z.flag", "str", "now text", ["on"], ["on"], editable=True, multi_value=True)
    assert configs.put(admin, replaced) == replaced
    assert configs.entries(VIEWER) == [names, replaced]
    assert audit(runtime, admin, "config.put")[0] == (
        "ok",
        "config",
        "z.flag",
        {"kind": "bool", "default_values": [True]},
    )
    assert configs.put(admin, Config("x.defaults")) == Config("x.defaults", "str", "", [], [], True, False)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (Config(""), "key"),
        (Config("has space"), "key"),
        (Config("k" * 256), "key"),
        (Config("k", kind="int"), "kind"),
        (Config("k", possible_values="abc"), "possible_values"),  # type: ignore[arg-type]
        (Config("k", default_values=("a",)), "default_values"),  # type: ignore[arg-type]
        (Config("k", possible_values=[0] * 10_001), "possible_values"),
        (Config("k", default_values=[0] * 10_001), "default_values"),
        (Config("k", "bool", possible_values=[True, "no"]), "possible_values"),
        (Config("k", "bool", default_values=[1]), "default_values"),
    ],
)
def test_bad_entries_are_refused(configs: ConfigService, admin: Actor, config: Config, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        configs.put(admin, config)
    assert err.value.field == field
    assert configs.entries(admin) == []


def test_entry_limits_that_still_pass(configs: ConfigService, admin: Actor) -> None:
    configs.put(admin, Config("k" * 255, possible_values=[0] * 10_000, default_values=["a"]))
    configs.put(admin, Config("b", "bool", possible_values=[True, False], default_values=[]))
    assert [c.key for c in configs.entries(admin)] == ["b", "k" * 255]
    with pytest.raises(ValidationFailed) as err:
        configs.put(admin, Config("k", kind="int"))
    assert "str, bool" in err.value.message


def test_only_settings_managers_change_entries(configs: ConfigService, admin: Actor) -> None:
    for actor in (VIEWER, OPERATOR):
        with pytest.raises(PermissionDenied):
            configs.put(actor, Config("k"))
    configs.put(admin, Config("k"))
    with pytest.raises(PermissionDenied):
        configs.delete(OPERATOR, ["k"])
    assert [c.key for c in configs.entries(VIEWER)] == ["k"]


def test_delete_counts_and_takes_the_values_along(
    configs: ConfigService, admin: Actor, pcs: list[int], runtime: Runtime
) -> None:
    for key in ("a", "b", "c"):
        configs.put(admin, Config(key))
    configs.set_value(admin, "b", pcs[0], ["v"])
    assert configs.delete(admin, ["c", "b", "b", "missing"]) == 2
    assert [c.key for c in configs.entries(admin)] == ["a"]
    assert configs.values(admin) == []
    assert audit(runtime, admin, "config.delete")[0] == (
        "ok",
        "config",
        "b,c,missing",
        {"keys": ["b", "c", "missing"], "deleted": 2},
    )
    assert configs.delete(admin, ["nothing"]) == 0


def test_values_per_computer(configs: ConfigService, admin: Actor, pcs: list[int], runtime: Runtime) -> None:
    configs.put(admin, Config("b.flag", "bool"))
    configs.put(admin, Config("a.names"))
    configs.set_value(admin, "b.flag", pcs[0], [True])
    configs.set_value(admin, "a.names", pcs[1], ["x", "y"])
    configs.set_value(admin, "a.names", pcs[0], [])  # "none selected" is a value too
    got = configs.values(VIEWER)
    assert sorted(got, key=lambda v: (v.key, v.computer_id)) == [
        ConfigValue("a.names", pcs[0], []),
        ConfigValue("a.names", pcs[1], ["x", "y"]),
        ConfigValue("b.flag", pcs[0], [True]),
    ]
    assert [v.key for v in got] == ["a.names", "a.names", "b.flag"]
    assert configs.values(admin, [pcs[1]]) == [ConfigValue("a.names", pcs[1], ["x", "y"])]
    assert configs.values(admin, []) == []
    configs.set_value(admin, "b.flag", pcs[0], [False])  # replaces
    assert configs.values(admin, [pcs[0]])[1] == ConfigValue("b.flag", pcs[0], [False])
    assert len(configs.values(admin)) == 3
    assert audit(runtime, admin, "config.set_value")[0] == (
        "ok",
        "computer",
        str(pcs[0]),
        {"key": "b.flag", "values": [True]},
    )

    assert configs.clear_value(admin, "a.names", pcs[1]) is True
    assert configs.clear_value(admin, "a.names", pcs[1]) is False
    assert configs.clear_value(admin, "missing", pcs[1]) is False
    assert audit(runtime, admin, "config.clear_value")[0][3] == {"key": "a.names"}
    assert [(v.key, v.computer_id) for v in configs.values(admin)] == [
        ("a.names", pcs[0]),
        ("b.flag", pcs[0]),
    ]


def test_bad_values_and_unknown_entries(configs: ConfigService, admin: Actor, pcs: list[int]) -> None:
    configs.put(admin, Config("flag", "bool"))
    configs.put(admin, Config("text"))
    with pytest.raises(ValidationFailed) as err:
        configs.set_value(admin, "flag", pcs[0], ["yes"])
    assert err.value.field == "values" and "flag" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        configs.set_value(admin, "text", pcs[0], "a")  # type: ignore[arg-type]
    assert err.value.field == "values"
    with pytest.raises(NotFound) as missing:
        configs.set_value(admin, "nope", pcs[0], ["a"])
    assert (missing.value.object_type, missing.value.object_id) == ("config", "nope")
    configs.set_value(admin, "text", pcs[0], [1, "mixed", True])  # str configs take any JSON value
    assert configs.values(admin)[0].values == [1, "mixed", True]


def test_a_computer_sets_only_its_own_values(configs: ConfigService, admin: Actor, pcs: list[int]) -> None:
    configs.put(admin, Config("k"))
    itself = Actor(user_id=None, username="pc0", role=Role.VIEWER, computer_id=pcs[0])
    configs.set_value(itself, "k", pcs[0], ["mine"])
    with pytest.raises(PermissionDenied):
        configs.set_value(itself, "k", pcs[1], ["theirs"])
    with pytest.raises(PermissionDenied):
        configs.set_value(VIEWER, "k", pcs[1], ["theirs"])
    with pytest.raises(PermissionDenied):
        configs.set_value(OPERATOR, "k", pcs[1], ["theirs"])
    with pytest.raises(PermissionDenied):
        configs.clear_value(itself, "k", pcs[0])  # clearing is for managers only
    assert configs.values(admin) == [ConfigValue("k", pcs[0], ["mine"])]


def test_clearing_one_value_keeps_the_computer_s_others(
    configs: ConfigService, admin: Actor, pcs: list[int], runtime: Runtime
) -> None:
    configs.put(admin, Config("a"))
    configs.put(admin, Config("b"))
    configs.set_value(admin, "a", pcs[0], ["1"])
    configs.set_value(admin, "b", pcs[0], ["2"])
    assert configs.clear_value(admin, "a", pcs[0]) is True
    assert configs.values(admin) == [ConfigValue("b", pcs[0], ["2"])]
    (entry,) = runtime.services.audit.find(
        admin, Query(where=(Cond("action", Op.EQ, "config.clear_value"),))
    ).items
    assert (entry.object_type, entry.object_id, entry.detail) == ("computer", str(pcs[0]), {"key": "a"})
    with pytest.raises(ValidationFailed) as err:
        configs.set_value(admin, "a", pcs[0], "x")  # type: ignore[arg-type]
    assert err.value.message == "values must be a list"
