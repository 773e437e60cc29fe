"""The library of saved scripts and commands in core (``core/jobs/library.py``), asserting
effects: permissions per kind (to read as well as to change), every validation with its field,
names unique per kind, whole replacement on update, who and when, and the audit rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.library import COMMAND, SCRIPT, LibraryInput
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0


def naive(t: object) -> object:
    return t.replace(tzinfo=None) if t is not None else None  # type: ignore[attr-defined]


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    """Core's services with the cheapest argon2 cost (hashes made here are quick)."""
    cheap = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)
    return build_services(runtime.db, SECRET, CoreConfig(argon2=cheap), clock=clock)


@pytest.fixture
def op(svc: Services) -> Actor:
    return factories.user(svc, Role.OPERATOR, "lib-op")


def test_save_keeps_every_field_and_audits_it(svc: Services, op: Actor) -> None:
    mark = factories.audit_mark(svc)
    data = LibraryInput("backup", "tar czf /b.tgz /etc", "/bin/sh", "/tmp", True, 60, ["a", "b"])
    made = svc.library.save(op, SCRIPT, data)
    assert len(made.id) == 36 and made.kind == SCRIPT
    assert (
        made.name,
        made.content,
        made.interpreter,
        made.cwd,
        made.is_sudo,
        made.timeout_sec,
        made.tags,
    ) == (
        "backup",
        "tar czf /b.tgz /etc",
        "/bin/sh",
        "/tmp",
        True,
        60,
        ["a", "b"],
    )
    assert (made.created_by, made.updated_by, made.updated_at) == ("lib-op", "", None)
    assert naive(made.created_at) == naive(T0)
    assert svc.library.get(op, SCRIPT, made.id) == made
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in rows] == [
        ("library.script.create", "library_script", made.id, "ok", {"name": "backup"})
    ]


def test_an_update_replaces_every_field(svc: Services, op: Actor, clock: ManualClock) -> None:
    made = svc.library.save(op, COMMAND, LibraryInput("ls", "ls -l", "bash", "/", True, 5, ["x"]))
    other = factories.user(svc, Role.ADMIN, "lib-admin")
    clock.now = T0 + timedelta(hours=1)
    mark = factories.audit_mark(svc)
    new = svc.library.save(other, COMMAND, LibraryInput("ls2", "ls -la"), made.id)
    assert new.id == made.id
    got = svc.library.get(op, COMMAND, made.id)
    assert (got.name, got.content, got.interpreter, got.cwd, got.is_sudo, got.timeout_sec, got.tags) == (
        "ls2",
        "ls -la",
        "",
        "",
        False,
        0,
        [],
    )
    assert (got.created_by, got.updated_by) == ("lib-op", "lib-admin")
    assert (naive(got.created_at), naive(got.updated_at)) == (naive(T0), naive(T0 + timedelta(hours=1)))
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in rows] == [
        ("library.command.update", "library_command", made.id, "ok", {"name": "ls2"})
    ]
    # the same name again is no clash with itself
    assert svc.library.save(op, COMMAND, LibraryInput("ls2", "ls"), made.id).content == "ls"


def test_names_are_unique_per_kind(svc: Services, op: Actor) -> None:
    one = svc.library.save(op, SCRIPT, LibraryInput("same", "echo 1"))
    svc.library.save(op, COMMAND, LibraryInput("same", "echo 1"))  # another kind: no clash
    two = svc.library.save(op, SCRIPT, LibraryInput("other", "echo 2"))
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict, match="another script with the same name 'same' exists") as err:
        svc.library.save(op, SCRIPT, LibraryInput("same", "echo 3"))
    assert err.value.detail == {"name": "same"}
    with pytest.raises(Conflict, match="same name 'same'"):
        svc.library.save(op, SCRIPT, LibraryInput("same", "echo 3"), two.id)
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("library.script.create", "conflict"),
        ("library.script.update", "conflict"),
    ]
    assert svc.library.get(op, SCRIPT, two.id).name == "other"
    assert svc.library.get(op, SCRIPT, one.id).content == "echo 1"
    assert svc.library.find(op, SCRIPT, Query()).total == 2


def test_unknown_entries_and_kinds(svc: Services, op: Actor) -> None:
    made = svc.library.save(op, SCRIPT, LibraryInput("s", "echo"))
    mark = factories.audit_mark(svc)
    for act, text in (
        (lambda: svc.library.get(op, COMMAND, made.id), f"command {made.id} not found"),  # no command
        (lambda: svc.library.get(op, SCRIPT, "nope"), "script nope not found"),
        (lambda: svc.library.save(op, SCRIPT, LibraryInput("s", "echo"), "nope"), "script nope not found"),
        (lambda: svc.library.save(op, COMMAND, LibraryInput("s", "echo"), made.id), f"command {made.id} not"),
        (lambda: svc.library.delete(op, COMMAND, made.id), f"command {made.id} not found"),
        (lambda: svc.library.delete(op, SCRIPT, "nope"), "script nope not found"),
    ):
        with pytest.raises(NotFound) as err:
            act()
        assert err.value.message.startswith(text)
    done = [(r.action, r.object_id, r.result) for r in factories.audit_since(svc, mark)]
    assert done == [
        ("library.script.update", "nope", "not_found"),
        ("library.command.update", made.id, "not_found"),
        ("library.command.delete", made.id, "not_found"),
        ("library.script.delete", "nope", "not_found"),
    ]
    for act in (
        lambda: svc.library.find(op, "macro", Query()),
        lambda: svc.library.get(op, "macro", made.id),
        lambda: svc.library.save(op, "macro", LibraryInput("m", "x")),
    ):
        with pytest.raises(ValidationFailed, match="unknown library kind 'macro'") as err:
            act()
        assert err.value.detail["field"] == "kind"


def test_delete_removes_only_that_entry(svc: Services, op: Actor) -> None:
    gone = svc.library.save(op, SCRIPT, LibraryInput("gone", "echo"))
    kept = svc.library.save(op, SCRIPT, LibraryInput("kept", "echo"))
    mark = factories.audit_mark(svc)
    svc.library.delete(op, SCRIPT, gone.id)
    with pytest.raises(NotFound):
        svc.library.get(op, SCRIPT, gone.id)
    assert [i.id for i in svc.library.find(op, SCRIPT, Query()).items] == [kept.id]
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in rows] == [
        ("library.script.delete", "library_script", gone.id, "ok", {"name": "gone"})
    ]


def test_permissions_per_kind_to_read_and_to_change(svc: Services, op: Actor) -> None:
    script = svc.library.save(op, SCRIPT, LibraryInput("s", "echo"))
    command = svc.library.save(op, COMMAND, LibraryInput("c", "echo"))
    viewer = factories.user(svc, Role.VIEWER)
    # an operator whose user groups grant commands but not scripts
    cmd_only = Actor(
        user_id=op.user_id, username="cmd-only", role=Role.OPERATOR, withheld=frozenset({Perm.RUN_SCRIPTS})
    )
    for who, kind, uid in (
        (viewer, SCRIPT, script.id),
        (viewer, COMMAND, command.id),
        (cmd_only, SCRIPT, script.id),
    ):
        for act in (
            lambda w=who, k=kind, u=uid: svc.library.find(w, k, Query()),
            lambda w=who, k=kind, u=uid: svc.library.get(w, k, u),
            lambda w=who, k=kind, u=uid: svc.library.save(w, k, LibraryInput("n", "x")),
            lambda w=who, k=kind, u=uid: svc.library.save(w, k, LibraryInput("n", "x"), u),
            lambda w=who, k=kind, u=uid: svc.library.delete(w, k, u),
        ):
            with pytest.raises(PermissionDenied):
                act()
    assert svc.library.get(cmd_only, COMMAND, command.id).name == "c"
    assert svc.library.find(op, SCRIPT, Query()).total == 1
    assert svc.library.get(op, SCRIPT, script.id).content == "echo"


def test_find_pages_filters_and_sorts_one_kind(svc: Services, op: Actor, clock: ManualClock) -> None:
    for n, name in enumerate(("b", "a", "c")):
        clock.now = T0 + timedelta(minutes=n)
        svc.library.save(op, SCRIPT, LibraryInput(name, f"echo {name}", timeout_sec=n))
    svc.library.save(op, COMMAND, LibraryInput("a-command", "echo"))
    page = svc.library.find(op, SCRIPT, Query(sort=(SortKey.parse("name"),), limit=2))
    assert ([i.name for i in page.items], page.total) == (["a", "b"], 3)
    page = svc.library.find(op, SCRIPT, Query(sort=(SortKey.parse("-created_at"),), limit=2, offset=1))
    assert ([i.name for i in page.items], page.total) == (["a", "b"], 3)
    filtered = svc.library.find(op, SCRIPT, Query(where=(Cond("timeout_sec", Op.GE, 1),)))
    assert ({i.name for i in filtered.items}, filtered.total) == ({"a", "c"}, 2)
    commands = svc.library.find(op, COMMAND, Query())
    assert ([i.name for i in commands.items], commands.total) == (["a-command"], 1)


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        (LibraryInput(" ", "x"), "name", "name is required"),
        (LibraryInput("n" * 256, "x"), "name", "name is longer than 255 characters"),
        (LibraryInput("n", " \n"), "script", "script is required"),
        (LibraryInput("n", "x" * (1024 * 1024 + 1)), "script", "script is longer than 1048576 characters"),
        (LibraryInput("n", "x", "i" * 256), "interpreter", "interpreter is longer than 255 characters"),
        (LibraryInput("n", "x", timeout_sec=-1), "timeout_sec", "timeout_sec must be 0 to 604800"),
        (LibraryInput("n", "x", timeout_sec=7 * 24 * 3600 + 1), "timeout_sec", "timeout_sec must be 0"),
        (LibraryInput("n", "x", tags=["t"] * 101), "tags", "at most 100 tags of 255 characters"),
        (LibraryInput("n", "x", tags=["t" * 256]), "tags", "at most 100 tags"),
        (LibraryInput("n\x00", "x"), None, "text must not contain NUL characters"),
        (LibraryInput("n", "x\x00"), None, "text must not contain NUL"),
        (LibraryInput("n", "x", "\x00"), None, "text must not contain NUL"),
        (LibraryInput("n", "x", cwd="/\x00"), None, "text must not contain NUL"),
        (LibraryInput("n", "x", tags=["\x00"]), None, "text must not contain NUL"),
    ],
)
def test_entries_are_checked(
    svc: Services, op: Actor, data: LibraryInput, field: str | None, text: str
) -> None:
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as err:
        svc.library.save(op, SCRIPT, data)
    assert err.value.message.startswith(text)
    assert err.value.detail.get("field") == field
    assert [(r.action, r.object_id, r.result) for r in factories.audit_since(svc, mark)] == [
        ("library.script.create", "", "invalid")
    ]
    assert svc.library.find(op, SCRIPT, Query()).total == 0


def test_a_command_names_its_own_kind_in_errors(svc: Services, op: Actor) -> None:
    with pytest.raises(ValidationFailed, match=r"^command is required") as err:
        svc.library.save(op, COMMAND, LibraryInput("n", ""))
    assert err.value.detail["field"] == "command"


def test_limits_that_are_taken(svc: Services, op: Actor) -> None:
    data = LibraryInput(
        "n" * 255, "x" * (1024 * 1024), "i" * 255, "", False, 7 * 24 * 3600, ["t" * 255] * 100
    )
    made = svc.library.save(op, SCRIPT, data)
    assert (len(made.name), len(made.content), made.timeout_sec, len(made.tags)) == (
        255,
        1024**2,
        604800,
        100,
    )
