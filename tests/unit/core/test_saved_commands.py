"""Saved commands (``SavedCommandService``, opsi configed's SSH command menu), called directly:
created, changed field by field, left out when they do not exist, deleted, audited, and who may
change them. The opsi dialect tests do the same through HTTP; these are the ones the mutation
subset runs (docs/testing.md, "Mutation testing": this service had no test there)."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.saved import (
    MAX_LINE,
    MAX_LINES,
    MAX_NAME,
    SavedCommandChange,
    SavedCommandInfo,
)
from fleetdeck.core.services import Services
from tests import factories


def test_commands_are_created_changed_field_by_field_and_audited(svc: Services, admin: Actor) -> None:
    saved = svc.saved_commands
    mark = factories.audit_mark(svc)
    made = saved.put(
        admin,
        [
            SavedCommandChange("update", ["apt update", "apt upgrade -y"], position=2, need_sudo=True),
            SavedCommandChange("df", ["df -h"], tooltip="disk", parent_menu="Info"),
        ],
        create=True,
    )
    assert made == 2
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "saved_command.put"]
    assert (row.object_type, row.object_id, row.detail) == (
        "saved_command",
        "update,df",
        {"names": ["update", "df"], "create": True},
    )
    assert saved.list(admin) == [
        SavedCommandInfo("update", ["apt update", "apt upgrade -y"], 2, True, None, None),
        SavedCommandInfo("df", ["df -h"], None, False, "disk", "Info"),
    ]

    assert (
        saved.put(admin, [SavedCommandChange("df", position=5), SavedCommandChange("absent")], create=False)
        == 1
    )
    assert (
        saved.put(
            admin,
            [SavedCommandChange("update", need_sudo=False, commands=["apt full-upgrade"])],
            create=False,
        )
        == 1
    )
    assert saved.list(admin) == [
        SavedCommandInfo("update", ["apt full-upgrade"], 2, False, None, None),
        SavedCommandInfo("df", ["df -h"], 5, False, "disk", "Info"),
    ]
    assert saved.put(admin, [SavedCommandChange("df", tooltip="free space")], create=True) == 1
    assert saved.list(admin)[1].tooltip == "free space" and saved.list(admin)[1].commands == ["df -h"]
    viewer = factories.user(svc, Role.VIEWER)
    assert [c.name for c in saved.list(viewer)] == ["update", "df"]


def test_a_name_given_twice_in_one_put_is_created_once_and_then_changed(svc: Services, admin: Actor) -> None:
    """Changes apply in order: a later change of a name the same call creates changes that new
    command (it need not repeat the command lines), so one command results."""
    changes = [
        SavedCommandChange("uptime", commands=["uptime"]),
        SavedCommandChange("uptime", tooltip="how long it runs", position=3),
    ]
    assert svc.saved_commands.put(admin, changes, create=True) == 2
    assert svc.saved_commands.list(admin) == [
        SavedCommandInfo("uptime", ["uptime"], position=3, need_sudo=False, tooltip="how long it runs")
    ]


def test_commands_are_deleted_and_a_missing_one_may_be_an_error(svc: Services, admin: Actor) -> None:
    saved = svc.saved_commands
    saved.put(admin, [SavedCommandChange(n, ["true"]) for n in ("a", "b", "c")], create=True)
    with pytest.raises(NotFound):
        saved.delete(admin, ["a", "zzz"], must_exist=True)
    assert [c.name for c in saved.list(admin)] == ["a", "b", "c"]  # nothing deleted
    mark = factories.audit_mark(svc)
    assert saved.delete(admin, ["c", "a", "zzz"]) == 2
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "saved_command.delete"]
    assert (row.object_type, row.object_id, row.detail) == ("saved_command", "a,c", {"names": ["a", "c"]})
    assert [c.name for c in saved.list(admin)] == ["b"]
    assert saved.delete(admin, ["b"], must_exist=True) == 1


def test_only_those_who_run_commands_change_them(svc: Services, admin: Actor) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.saved_commands.put(viewer, [SavedCommandChange("x", ["true"])], create=True)
    svc.saved_commands.put(admin, [SavedCommandChange("x", ["true"])], create=True)
    with pytest.raises(PermissionDenied):
        svc.saved_commands.delete(viewer, ["x"])
    assert [c.name for c in svc.saved_commands.list(admin)] == ["x"]


def test_bad_commands_are_refused_in_words(svc: Services, admin: Actor) -> None:
    name_msg = f"a saved command's name must be 1 to {MAX_NAME} characters"
    lines_msg = f"commands must be a list of 1 to {MAX_LINES} lines"
    line_msg = f"each command is text of at most {MAX_LINE} characters"
    cases: list[tuple[SavedCommandChange, str, str]] = [
        (SavedCommandChange("", ["x"]), "name", name_msg),
        (SavedCommandChange("n" * (MAX_NAME + 1), ["x"]), "name", name_msg),
        (SavedCommandChange("new"), "commands", lines_msg),
        (SavedCommandChange("new", []), "commands", lines_msg),
        (SavedCommandChange("new", ["x"] * (MAX_LINES + 1)), "commands", lines_msg),
        (SavedCommandChange("new", ["x" * (MAX_LINE + 1)]), "commands", line_msg),
        (SavedCommandChange("new", [3]), "commands", line_msg),  # type: ignore[list-item]
        (
            SavedCommandChange("new", ["x"], parent_menu="m" * (MAX_NAME + 1)),
            "parent_menu",
            f"parent menu is longer than {MAX_NAME} characters",
        ),
    ]
    for change, field, message in cases:
        with pytest.raises(ValidationFailed) as err:
            svc.saved_commands.put(admin, [change], create=True)
        assert (err.value.field, err.value.message) == (field, message)
    longest = SavedCommandChange("n" * MAX_NAME, ["x" * MAX_LINE] * MAX_LINES, parent_menu="m" * MAX_NAME)
    assert svc.saved_commands.put(admin, [longest], create=True) == 1
    svc.saved_commands.put(admin, [SavedCommandChange("kept", ["x"])], create=True)
    with pytest.raises(ValidationFailed):  # an existing command's lines may not be emptied either
        svc.saved_commands.put(admin, [SavedCommandChange("kept", [])], create=False)
    assert svc.saved_commands.list(admin)[1].commands == ["x"]
