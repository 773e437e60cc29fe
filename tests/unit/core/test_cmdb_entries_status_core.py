"""Core's CMDB category entries, continued (``core.cmdb.service``): the general category, which
is the object itself; the entry status lifecycle (archive, delete, retire, recycle, purge) with
its refusals and audit rows; and the objects whose categories fleetdeck owns (a computer's
inventory, a user's person categories, a computer group's members, a package's versions),
read-only through the CMDB."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.cmdb.statuses import Op, Status
from fleetdeck.core.cmdb.values import DialogRef, Entry, ObjectRef
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.core.query import Cond, Query
from fleetdeck.core.query import Op as Q
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from fleetdeck.storage.tables import CmdbEntry
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.factories import ManualClock, cmdb_entries
from tests.unit.core.conftest import T0

SERVER = 5
GLOBAL, CPU, MODEL, CONTACT = "C__CATG__GLOBAL", "C__CATG__CPU", "C__CATG__MODEL", "C__CATG__CONTACT"


def object_titled(svc: Services, actor: Actor, title: str) -> int:
    (found,) = svc.cmdb.find(actor, Query(where=(Cond("title", Q.EQ, title),)))
    return found.id


def test_the_general_category_is_the_object_itself(svc: Services, admin: Actor, clock: ManualClock) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    operator = factories.user(svc, Role.OPERATOR)
    (general,) = cmdb_entries(svc, admin, oid, GLOBAL)
    assert general == Entry(
        oid,
        oid,
        GLOBAL,
        Status.NORMAL,
        {
            "title": "srv",
            "status": DialogRef(2, "Normal"),
            "created": T0,
            "created_by": admin.username,
            "changed": None,
            "changed_by": admin.username,
            "purpose": None,
            "category": None,
            "sysid": f"SYSID_{oid}",
            "cmdb_status": DialogRef(6, "in operation"),
            "type": DialogRef(SERVER, "Server", "C__OBJTYPE__SERVER"),
            "tag": [],
            "description": None,
        },
    )
    clock.now = T0.replace(hour=10)
    mark = factories.audit_mark(svc)
    saved = svc.cmdb.save(
        operator,
        oid,
        GLOBAL,
        {
            "title": " New name ",
            "cmdb_status": "C__CMDB_STATUS__DEFECT",
            "purpose": "test",
            "category": 1,
            "sysid": 42,
            "description": None,
            "tag": ["red", " Blue "],
        },
    )
    assert saved == oid
    assert factories.audited(svc, mark) == [
        (
            "cmdb_entry.save",
            "cmdb_entry",
            str(oid),
            "ok",
            {
                "object_id": oid,
                "category": GLOBAL,
                "old": {
                    "title": "srv",
                    "cmdb_status": 6,
                    "purpose": None,
                    "category": None,
                    "sysid": "",
                    "description": "",
                    "tag": None,
                },
                "new": {
                    "title": "New name",
                    "cmdb_status": 7,
                    "purpose": 3,
                    "category": 1,
                    "sysid": "42",
                    "description": "",
                    "tag": [1, 2],
                },
            },
        )
    ]
    (general,) = cmdb_entries(svc, admin, oid, GLOBAL)
    assert general.values == {
        "title": "New name",
        "status": DialogRef(2, "Normal"),
        "created": T0,
        "created_by": admin.username,
        "changed": clock.now,
        "changed_by": operator.username,
        "purpose": DialogRef(3, "Test"),
        "category": DialogRef(1, "Other", "C__GLOBAL_CATEGORY__OTHER"),
        "sysid": "42",
        "cmdb_status": DialogRef(7, "defect"),
        "type": DialogRef(SERVER, "Server", "C__OBJTYPE__SERVER"),
        "tag": [DialogRef(1, "red"), DialogRef(2, "Blue")],
        "description": None,
    }
    got = svc.cmdb.get(admin, oid)
    assert got is not None
    assert (got.title, got.sysid, got.cmdb_status, got.description, got.attrs) == (
        "New name",
        "42",
        7,
        "",
        {"purpose": 3, "category": 1, "tag": [1, 2]},
    )
    mark = factories.audit_mark(svc)
    svc.cmdb.save(admin, oid, GLOBAL, {"description": "d", "cmdb_status": "11", "tag": [2, "green"]})
    assert factories.audited(svc, mark)[0][4] == {
        "object_id": oid,
        "category": GLOBAL,
        "old": {"description": "", "cmdb_status": 7, "tag": [1, 2]},
        "new": {"description": "d", "cmdb_status": 11, "tag": [2, 3]},
    }
    (general,) = cmdb_entries(svc, admin, oid, GLOBAL)
    assert (general.values["description"], general.values["cmdb_status"], general.values["tag"]) == (
        "d",
        DialogRef(11, "stored"),
        [DialogRef(2, "Blue"), DialogRef(3, "green")],
    )
    # a tag deleted from its table no longer shows; a purpose deleted shows nothing
    svc.cmdb.dialog_change(admin, GLOBAL, "tag", item_id=3, delete=True)
    svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=3, delete=True)
    (general,) = cmdb_entries(svc, admin, oid, GLOBAL)
    assert (general.values["tag"], general.values["purpose"]) == ([DialogRef(2, "Blue")], None)
    # the general entry is the object's, whatever the status asked for, but only as normal
    assert cmdb_entries(svc, admin, oid, GLOBAL, None) == [general]
    assert cmdb_entries(svc, admin, oid, GLOBAL, Status.ARCHIVED) == []


def test_general_values_are_checked_and_a_refusal_changes_nothing(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv", description="old")
    pc = factories.computer(svc, admin, "pc-1")
    pc_obj = svc.cmdb.object_of_computer(admin, pc)
    assert pc_obj is not None
    before = svc.cmdb.get(admin, oid)
    for data, error, message, field in [
        (
            {"description": "new", "status": 3},
            ValidationFailed,
            "attribute 'status' of General cannot be written",
            "status",
        ),
        (
            {"created_by": "x"},
            ValidationFailed,
            "attribute 'created_by' of General cannot be written",
            "created_by",
        ),
        ({"type": 3}, ValidationFailed, "attribute 'type' of General cannot be written", "type"),
        ({"title": " "}, ValidationFailed, "title must not be empty", "title"),
        ({"title": 5}, ValidationFailed, "title must not be empty", "title"),
        ({"title": None}, ValidationFailed, "title must not be empty", "title"),
        ({"cmdb_status": "C__NOPE"}, ValidationFailed, "unknown CMDB status 'C__NOPE'", "cmdb_status"),
        ({"cmdb_status": 99}, ValidationFailed, "unknown CMDB status 99", "cmdb_status"),
        ({"purpose": 99}, ValidationFailed, "99 is not a valid value of 'purpose' (dialog_plus)", "purpose"),
        ({"tag": [5]}, ValidationFailed, "[5] is not a valid value of 'tag' (multiselect)", "tag"),
    ]:
        mark = factories.audit_mark(svc)
        with pytest.raises(error) as err:
            svc.cmdb.save(admin, oid, GLOBAL, data)
        assert (err.value.message, err.value.field) == (message, field)
        assert factories.audited(svc, mark) == [
            ("cmdb_entry.save", "cmdb_entry", "", "invalid", {"error": message})
        ]
    assert svc.cmdb.get(admin, oid) == before
    # a computer's object keeps its host name as title; the rest of its general category is open
    with pytest.raises(Conflict) as conflict:
        svc.cmdb.save(admin, pc_obj, GLOBAL, {"description": "x", "title": "other"})
    assert (conflict.value.message, conflict.value.detail) == (
        "the title of a computer's object is its host name",
        {"field": "title"},
    )
    svc.cmdb.save(admin, pc_obj, GLOBAL, {"description": "desk", "sysid": None})
    (general,) = cmdb_entries(svc, admin, pc_obj, GLOBAL)
    assert (general.values["title"], general.values["description"], general.values["sysid"]) == (
        "pc-1",
        "desk",
        f"SYSID_{pc_obj}",
    )


def test_entries_move_along_their_lifecycle_with_audit_rows(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    first = svc.cmdb.save(admin, oid, CPU, {"title": "a", "cores": 2})
    second = svc.cmdb.save(admin, oid, CPU, {"title": "b"})
    operator = factories.user(svc, Role.OPERATOR)
    clock.now = T0.replace(hour=12)
    mark = factories.audit_mark(svc)
    assert svc.cmdb.entry_status(operator, oid, CPU, first, Op.ARCHIVE) == (first, 2, 3)
    got = svc.cmdb.get(admin, oid)
    assert got is not None and (got.updated_at, got.updated_by) == (clock.now, operator.username)
    assert [e.id for e in cmdb_entries(svc, admin, oid, CPU)] == [second]
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, oid, CPU, Status.ARCHIVED)] == [(first, 3)]
    assert svc.cmdb.entry_status(admin, oid, CPU, first, Op.RETIRE) == (first, 3, 4)
    with pytest.raises(Conflict) as twice:
        svc.cmdb.entry_status(admin, oid, CPU, first, Op.DELETE)
    assert twice.value.message == f"entry {first} has status deleted; delete does not apply"
    with pytest.raises(Conflict) as retire:
        svc.cmdb.entry_status(admin, oid, CPU, first, Op.RETIRE)
    assert retire.value.message == f"entry {first} has status deleted; retire does not apply"
    assert svc.cmdb.entry_status(admin, oid, CPU, first, Op.RECYCLE) == (first, 4, 2)
    assert svc.cmdb.entry_status(admin, oid, CPU, first, Op.RETIRE) == (first, 2, 3)
    assert svc.cmdb.entry_status(admin, oid, CPU, first, Op.DELETE) == (first, 3, 4)
    assert svc.cmdb.entry_status(admin, oid, CPU, first, Op.ARCHIVE) == (first, 4, 3)
    assert svc.cmdb.entry_status(admin, oid, CPU, first, Op.PURGE) == (first, 3, 5)
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, oid, CPU, None)] == [(second, 2)]
    with pytest.raises(NotFound) as gone:
        svc.cmdb.entry_status(admin, oid, CPU, first, Op.RECYCLE)
    assert gone.value.message == f"entry {first} not found"

    def ok(op: str, old: int, new: int, extra: dict[str, Any] | None = None) -> tuple[Any, ...]:
        detail = {"object_id": oid, "category": CPU, "old": {"status": old}, "new": {"status": new}}
        return (f"cmdb_entry.{op}", "cmdb_entry", str(first), "ok", {**detail, **(extra or {})})

    assert factories.audited(svc, mark) == [
        ok("archive", 2, 3),
        ok("retire", 3, 4),
        (
            "cmdb_entry.delete",
            "cmdb_entry",
            str(first),
            "conflict",
            {"error": f"entry {first} has status deleted; delete does not apply"},
        ),
        (
            "cmdb_entry.retire",
            "cmdb_entry",
            str(first),
            "conflict",
            {"error": f"entry {first} has status deleted; retire does not apply"},
        ),
        ok("recycle", 4, 2),
        ok("retire", 2, 3),
        ok("delete", 3, 4),
        ok("archive", 4, 3),
        ok("purge", 3, 5, {"data": {"title": "a", "cores": 2}}),
        ("cmdb_entry.recycle", "cmdb_entry", str(first), "not_found", {"error": f"entry {first} not found"}),
    ]


def test_entry_status_refusals_say_why_and_change_nothing(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    other, _ = svc.cmdb.create(admin, SERVER, "other")
    cpu = svc.cmdb.save(admin, oid, CPU, {"title": "a"})
    theirs = svc.cmdb.save(admin, other, CPU, {"title": "b"})
    model = svc.cmdb.save(admin, oid, MODEL, {"serial": "S"})
    mark = factories.audit_mark(svc)
    for entry_id, const, op, error, message in [
        (None, CPU, Op.ARCHIVE, ValidationFailed, "the entry to change must be named"),
        (None, CPU, Op.PURGE, ValidationFailed, "the entry to change must be named"),
        (theirs, CPU, Op.ARCHIVE, NotFound, f"entry {theirs} not found"),
        (cpu, "C__CATG__MEMORY", Op.ARCHIVE, NotFound, f"entry {cpu} not found"),
        (
            model,
            MODEL,
            Op.ARCHIVE,
            Conflict,
            "Model is a single-value category: its entry can only be purged",
        ),
        (None, MODEL, Op.DELETE, Conflict, "Model is a single-value category: its entry can only be purged"),
        (None, MODEL, Op.RECYCLE, Conflict, "Model is a single-value category: its entry can only be purged"),
        (None, GLOBAL, Op.PURGE, Conflict, f"the entries of General of object {oid} cannot be purged here"),
        (
            oid,
            GLOBAL,
            Op.ARCHIVE,
            Conflict,
            f"the entries of General of object {oid} cannot be archived here",
        ),
    ]:
        with pytest.raises(error) as err:
            svc.cmdb.entry_status(admin, oid, const, entry_id, op)
        assert err.value.message == message
    assert [r[2:4] for r in factories.audited(svc, mark)] == [
        ("", "invalid"),
        ("", "invalid"),
        (str(theirs), "not_found"),
        (str(cpu), "not_found"),
        (str(model), "conflict"),
        ("", "conflict"),
        ("", "conflict"),
        ("", "conflict"),
        (str(oid), "conflict"),
    ]
    with pytest.raises(ValidationFailed) as named:
        svc.cmdb.entry_status(admin, oid, CPU, None, Op.ARCHIVE)
    assert named.value.field == "entry"
    with pytest.raises(NotFound) as no_object:
        svc.cmdb.entry_status(admin, 999_999, CPU, cpu, Op.ARCHIVE)
    assert no_object.value.message == "object 999999 not found"
    with pytest.raises(NotFound) as no_category:
        svc.cmdb.entry_status(admin, oid, "C__CATG__NOPE", cpu, Op.ARCHIVE)
    assert no_category.value.message == "category C__CATG__NOPE not found"
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.cmdb.entry_status(viewer, oid, CPU, cpu, Op.PURGE)
    assert [(r[0], r[2], r[3]) for r in factories.audited(svc, mark)] == [
        ("cmdb_entry.purge", str(cpu), "denied")
    ]
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, oid, CPU, None)] == [(cpu, 2)]
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, other, CPU, None)] == [(theirs, 2)]
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, oid, MODEL, None)] == [(model, 2)]
    # a single-value category's entry is purged without naming it, once
    mark = factories.audit_mark(svc)
    assert svc.cmdb.entry_status(admin, oid, MODEL, None, Op.PURGE) == (model, 2, 5)
    assert cmdb_entries(svc, admin, oid, MODEL, None) == []
    with pytest.raises(NotFound) as purged:
        svc.cmdb.entry_status(admin, oid, MODEL, None, Op.PURGE)
    assert purged.value.message == f"entry {MODEL} of {oid} not found"
    assert factories.audited(svc, mark) == [
        (
            "cmdb_entry.purge",
            "cmdb_entry",
            str(model),
            "ok",
            {
                "object_id": oid,
                "category": MODEL,
                "old": {"status": 2},
                "new": {"status": 5},
                "data": {"serial": "S"},
            },
        ),
        ("cmdb_entry.purge", "cmdb_entry", "", "not_found", {"error": f"entry {MODEL} of {oid} not found"}),
    ]
    # the single-value entry named by its id works the same
    again = svc.cmdb.save(admin, oid, MODEL, {"serial": "T"})
    assert svc.cmdb.entry_status(admin, oid, MODEL, again, Op.PURGE) == (again, 2, 5)


def test_a_computers_inventory_categories_are_read_only(svc: Services, admin: Actor) -> None:
    pc = factories.computer(svc, admin, "pc-1", os="Linux")
    oid = svc.cmdb.object_of_computer(admin, pc)
    assert oid is not None
    mark = factories.audit_mark(svc)
    for const, title in ((CPU, "CPU"), (MODEL, "Model"), ("C__CATG__APPLICATION", "Software assignment")):
        with pytest.raises(Conflict) as err:
            svc.cmdb.save(admin, oid, const, {"description": "x"})
        assert (err.value.message, err.value.detail) == (
            f"{title} of computer pc-1 is filled from its agent's inventory and is read-only",
            {"category": const, "reason": "inventory"},
        )
        with pytest.raises(Conflict) as status:
            svc.cmdb.entry_status(admin, oid, const, oid, Op.PURGE)
        assert status.value.message == f"the entries of {title} of object {oid} cannot be purged here"
    assert [r[3] for r in factories.audited(svc, mark)] == ["conflict"] * 6
    # its stored categories are the CMDB's own
    eid = svc.cmdb.save(admin, oid, CONTACT, {"contact": 3})
    assert [e.id for e in cmdb_entries(svc, admin, oid, CONTACT)] == [eid]
    (model,) = cmdb_entries(svc, admin, oid, MODEL)
    assert (model.id, model.object_id, model.status, model.inventory) == (oid, oid, 2, True)
    assert cmdb_entries(svc, admin, oid, MODEL, Status.ARCHIVED) == []
    assert cmdb_entries(svc, admin, oid, MODEL, None) == [model]
    # a building may hold a CPU entry: only a computer's is its inventory
    building, _ = svc.cmdb.create(admin, 3, "HQ")
    stored = svc.cmdb.save(admin, building, CPU, {"title": "x"})
    assert [(e.id, e.inventory) for e in cmdb_entries(svc, admin, building, CPU)] == [(stored, False)]


def test_a_persons_categories_are_the_users(svc: Services, admin: Actor) -> None:
    user = factories.user(svc, Role.VIEWER, "jdoe")
    oid = object_titled(svc, admin, "jdoe")
    for const, title in (
        ("C__CATS__PERSON", "Persons"),
        ("C__CATS__PERSON_MASTER", "Master Data"),
        ("C__CATS__PERSON_LOGIN", "Login"),
    ):
        with pytest.raises(Conflict) as err:
            svc.cmdb.save(admin, oid, const, {"title": "x"})
        assert (err.value.message, err.value.detail) == (
            f"{title} of person jdoe is the fleetdeck user's and is read-only here",
            {"category": const, "reason": "user"},
        )
        with pytest.raises(Conflict) as status:
            svc.cmdb.entry_status(admin, oid, const, None, Op.PURGE)
        assert status.value.message == f"the entries of {title} of object {oid} cannot be purged here"
    with pytest.raises(Conflict) as renamed:
        svc.cmdb.save(admin, oid, GLOBAL, {"title": "John"})
    assert renamed.value.message == "General of person jdoe is the fleetdeck user's and is read-only here"
    svc.cmdb.save(admin, oid, GLOBAL, {"description": "on call"})
    contact = svc.cmdb.save(admin, oid, CONTACT, {"contact": 1})
    (general,) = cmdb_entries(svc, admin, oid, GLOBAL)
    assert (general.values["title"], general.values["description"]) == ("jdoe", "on call")
    assert [e.id for e in cmdb_entries(svc, admin, oid, CONTACT)] == [contact]
    assert cmdb_entries(svc, admin, oid, "C__CATS__PERSON_LOGIN") == [
        Entry(
            oid,
            oid,
            "C__CATS__PERSON_LOGIN",
            2,
            {"disabled_login": DialogRef(0, "No"), "title": "jdoe", "user_pass": None, "description": None},
            inventory=True,
        )
    ]
    assert cmdb_entries(svc, admin, oid, "C__CATS__PERSON", Status.ARCHIVED) == []
    assert [e.id for e in cmdb_entries(svc, admin, oid, "C__CATS__PERSON", None)] == [oid]
    assert user.username == "jdoe"
    with pytest.raises(Conflict) as retitled:
        svc.cmdb.update(admin, oid, title="John")
    assert (retitled.value.message, retitled.value.detail) == (
        "the title of a user's person object is the user's name; change the user instead",
        {"field": "title"},
    )
    assert object_titled(svc, admin, "jdoe") == oid  # nothing renamed


def test_an_owned_object_was_created_by_whoever_created_its_owner(svc: Services, admin: Actor) -> None:
    """The object made beside a computer or a package family names who made the computer or
    the family; a user's and a group's object name nobody (their rows keep no creator)."""
    pc = factories.computer(svc, admin, "pc-1")
    factories.package(svc, admin, "zip7")
    factories.user(svc, Role.VIEWER, "jdoe")
    factories.group(svc, admin, "lab")
    objects = {"pc-1": svc.cmdb.object_of_computer(admin, pc)}
    objects |= {title: object_titled(svc, admin, title) for title in ("zip7", "jdoe", "lab")}
    creators: dict[str, str] = {}
    for title, oid in objects.items():
        assert oid is not None
        got = svc.cmdb.get(admin, oid)
        assert got is not None
        creators[title] = got.created_by
    assert creators == {"pc-1": admin.username, "zip7": admin.username, "jdoe": "", "lab": ""}


def test_a_groups_and_a_packages_categories_are_fleetdecks(svc: Services, admin: Actor) -> None:
    pc = factories.computer(svc, admin, "pc-1")
    pc_obj = svc.cmdb.object_of_computer(admin, pc)
    factories.group(svc, admin, "lab", [pc])
    group_obj = object_titled(svc, admin, "lab")
    package = factories.package(svc, admin, "zip7", "1.0")
    family_obj = object_titled(svc, admin, "zip7")
    for oid, const, data, message, reason in [
        (
            group_obj,
            "C__CATS__GROUP",
            {},
            "Object group of computer group lab is fleetdeck's and is read-only here:"
            " change the group instead",
            "group",
        ),
        (
            group_obj,
            GLOBAL,
            {"title": "x"},
            "General of computer group lab is fleetdeck's and is read-only here: change the group instead",
            "group",
        ),
        (
            family_obj,
            "C__CATG__VERSION",
            {"title": "2"},
            "Version of package zip7 is fleetdeck's and is read-only here: change the package instead",
            "package",
        ),
        (
            family_obj,
            "C__CATS__APPLICATION",
            {},
            "Applications of package zip7 is fleetdeck's and is read-only here: change the package instead",
            "package",
        ),
        (
            family_obj,
            GLOBAL,
            {"title": "x"},
            "General of package zip7 is fleetdeck's and is read-only here: change the package instead",
            "package",
        ),
    ]:
        with pytest.raises(Conflict) as err:
            svc.cmdb.save(admin, oid, const, data)
        assert (err.value.message, err.value.detail) == (message, {"category": const, "reason": reason})
    for oid, const, title in (
        (group_obj, "C__CATS__GROUP", "Object group"),
        (family_obj, "C__CATG__VERSION", "Version"),
        (family_obj, "C__CATS__APPLICATION", "Applications"),
    ):
        with pytest.raises(Conflict) as status:
            svc.cmdb.entry_status(admin, oid, const, None, Op.PURGE)
        assert status.value.message == f"the entries of {title} of object {oid} cannot be purged here"
    # their other categories are stored as any object's
    svc.cmdb.save(admin, group_obj, GLOBAL, {"description": "the lab"})
    svc.cmdb.save(admin, family_obj, GLOBAL, {"description": "archiver"})
    assert cmdb_entries(svc, admin, group_obj, GLOBAL)[0].values["description"] == "the lab"
    assert cmdb_entries(svc, admin, family_obj, GLOBAL)[0].values["description"] == "archiver"
    (member,) = cmdb_entries(svc, admin, group_obj, "C__CATS__GROUP")
    assert (member.id, member.object_id, member.inventory) == (pc_obj, group_obj, True)
    assert member.values["object"] == ObjectRef(
        pc_obj, "pc-1", f"SYSID_{pc_obj}", "C__OBJTYPE__CLIENT", "Client"
    )
    (version,) = cmdb_entries(svc, admin, family_obj, "C__CATG__VERSION")
    assert (version.id, version.object_id, version.values["title"]) == (package.id, family_obj, "1.0")
    (application,) = cmdb_entries(svc, admin, family_obj, "C__CATS__APPLICATION")
    assert (application.id, application.object_id, application.inventory) == (family_obj, family_obj, True)
    for oid, const in (
        (group_obj, "C__CATS__GROUP"),
        (family_obj, "C__CATG__VERSION"),
        (family_obj, "C__CATS__APPLICATION"),
    ):
        assert cmdb_entries(svc, admin, oid, const, Status.DELETED) == []
        assert len(cmdb_entries(svc, admin, oid, const, None)) == 1
    # both owners in one read: members and versions each of their own object
    both = svc.cmdb.entries(admin, [group_obj, family_obj], ["C__CATS__GROUP", "C__CATG__VERSION"])
    assert [e.id for e in both[group_obj]["C__CATS__GROUP"]] == [pc_obj]
    assert both[group_obj]["C__CATG__VERSION"] == []
    assert [e.id for e in both[family_obj]["C__CATG__VERSION"]] == [package.id]
    assert both[family_obj]["C__CATS__GROUP"] == []


def _inventory(svc: Services, admin: Actor, hostname: str, n: int) -> int:
    """A computer whose agent reported ``n`` of each: applications, interfaces, file systems."""
    cid = svc.computers.create(admin, hostname).id
    inv = m.Inventory(
        hostname=hostname,
        os="Linux",
        software=[m.Software(f"{hostname}-app{i}", f"{i}.0") for i in range(n)],
        network_interfaces=[
            m.NetworkInterface(f"eth{i}", f"02:00:00:00:0{n}:0{i}", [m.Address(f"10.{n}.0.{i + 1}", "ipv4")])
            for i in range(n)
        ],
        filesystems=[m.Filesystem(f"/{hostname}{i}", "ext4", 2 * 1024**3, 1024**3) for i in range(n)],
    )
    svc.computers.record_inventory(agent_actor(cid, hostname, "127.0.0.1"), cid, inv, m.inventory_digest(inv))
    oid = svc.cmdb.object_of_computer(admin, cid)
    assert oid is not None
    return oid


def test_each_computers_inventory_entries_are_its_own_in_order(svc: Services, admin: Actor) -> None:
    a = _inventory(svc, admin, "pc-a", 2)
    b = _inventory(svc, admin, "pc-b", 3)
    consts = ["C__CATG__APPLICATION", "C__CATG__NETWORK_PORT", "C__CATG__DRIVE", "C__CATG__IP", MODEL]
    out = svc.cmdb.entries(admin, [b, a], consts)
    assert list(out) == [b, a]
    for oid, host, n in ((a, "pc-a", 2), (b, "pc-b", 3)):
        got = out[oid]
        apps = got["C__CATG__APPLICATION"]
        assert [(e.object_id, e.values["application"].title) for e in apps] == [
            (oid, f"{host}-app{i}") for i in range(n)
        ]
        assert [e.values["assigned_version"] for e in apps] == [DialogRef(None, f"{i}.0") for i in range(n)]
        ports = got["C__CATG__NETWORK_PORT"]
        assert [(e.values["title"], e.values["mac"]) for e in ports] == [
            (f"eth{i}", f"02:00:00:00:0{n}:0{i}") for i in range(n)
        ]
        assert [e.values["mount_point"] for e in got["C__CATG__DRIVE"]] == [f"/{host}{i}" for i in range(n)]
        assert [(e.values["hostaddress"], e.values["hostname"]) for e in got["C__CATG__IP"]] == [
            (f"10.{n}.0.{i + 1}", host) for i in range(n)
        ]
        for rows_ in (apps, ports, got["C__CATG__DRIVE"]):
            ids = [e.id for e in rows_]
            assert ids == sorted(ids) and all(e.inventory for e in rows_)
        assert [e.id for e in got[MODEL]] == [oid]
    # only what is asked for is read: applications alone leave the rest out
    only = svc.cmdb.entries(admin, [a], ["C__CATG__APPLICATION"])[a]
    assert list(only) == ["C__CATG__APPLICATION"] and len(only["C__CATG__APPLICATION"]) == 2
    assert svc.cmdb.entries(admin, [a], ["C__CATG__DRIVE"], Status.ARCHIVED)[a] == {"C__CATG__DRIVE": []}


def test_members_and_versions_are_each_owners_own_in_order(svc: Services, admin: Actor) -> None:
    pcs = [factories.computer(svc, admin, f"pc-{i}") for i in range(4)]
    objs = [svc.cmdb.object_of_computer(admin, pc) for pc in pcs]
    factories.group(svc, admin, "odd", [pcs[3], pcs[1]])
    factories.group(svc, admin, "even", [pcs[2], pcs[0]])
    factories.group(svc, admin, "empty")
    odd, even, empty = (object_titled(svc, admin, t) for t in ("odd", "even", "empty"))
    first = [factories.package(svc, admin, "alpha", v).id for v in ("1", "2")]
    second = factories.package(svc, admin, "beta", "9").id
    third = factories.package(svc, admin, "alpha", "3").id
    alpha, beta = object_titled(svc, admin, "alpha"), object_titled(svc, admin, "beta")
    members = "C__CATS__GROUP"
    out = svc.cmdb.entries(admin, [even, odd, empty, alpha, beta], [members, "C__CATG__VERSION"])
    assert [e.id for e in out[odd][members]] == [objs[1], objs[3]]
    assert [e.id for e in out[even][members]] == [objs[0], objs[2]]
    assert [e.values["object"].title for e in out[even][members]] == ["pc-0", "pc-2"]
    assert out[empty][members] == []
    assert [(e.id, e.values["title"]) for e in out[alpha]["C__CATG__VERSION"]] == [
        (first[0], "1"),
        (first[1], "2"),
        (third, "3"),
    ]
    assert [e.id for e in out[beta]["C__CATG__VERSION"]] == [second]
    assert all(out[o]["C__CATG__VERSION"] == [] for o in (even, odd, empty))
    assert all(out[o][members] == [] for o in (alpha, beta))
    # a group's general category alone, and a package's, with their titles
    general = svc.cmdb.entries(admin, [odd, beta], [GLOBAL])
    assert [general[o][GLOBAL][0].values["title"] for o in (odd, beta)] == ["odd", "beta"]
    assert general[odd][GLOBAL][0].values["type"] == DialogRef(36, "Object group", "C__OBJECT_TYPE__GROUP")


def test_every_category_of_an_objects_type_is_read_when_none_are_named(svc: Services, admin: Actor) -> None:
    server = factories.computer(svc, admin, "db-1", os="Windows Server", os_version="2022")
    client = factories.computer(svc, admin, "pc-1", os="Linux")
    srv, pc = svc.cmdb.object_of_computer(admin, server), svc.cmdb.object_of_computer(admin, client)
    assert srv is not None and pc is not None
    factories.user(svc, Role.VIEWER, "jdoe")
    person = object_titled(svc, admin, "jdoe")
    out = svc.cmdb.entries(admin, [srv, pc, person], None)
    assert "C__CATG__FORMFACTOR" in out[srv] and "C__CATS__CLIENT" not in out[srv]
    assert "C__CATS__CLIENT" in out[pc] and "C__CATG__FORMFACTOR" not in out[pc]
    assert list(out[person]) == [
        "C__CATG__GLOBAL",
        "C__CATG__LOGBOOK",
        "C__CATG__IMAGE",
        "C__CATG__IT_SERVICE",
        "C__CATG__RELATION",
        "C__CATG__PERSON_ASSIGNED_WORKSTATION",
        "C__CATG__MAIL_ADDRESSES",
        "C__CATG__ASSIGNED_SUBSCRIPTIONS",
        "C__CATS__PERSON",
    ]
    assert [e.values["title"] for e in out[person]["C__CATS__PERSON"]] == ["jdoe"]
    assert [e.values["title"] for e in out[srv][GLOBAL]] == ["db-1"]
    assert out[srv][GLOBAL][0].values["type"] == DialogRef(SERVER, "Server", "C__OBJTYPE__SERVER")
    assert [e.values["application"].title for e in out[pc]["C__CATG__OPERATING_SYSTEM"]] == ["Linux"]
    # a type set by hand decides, not the machine's facts
    svc.cmdb.update(admin, pc, type_ref="C__OBJTYPE__SERVER")
    assert "C__CATG__FORMFACTOR" in svc.cmdb.entries(admin, [pc], None)[pc]


def test_the_cmdbs_own_entries_of_owned_objects_move_along_their_lifecycle(
    svc: Services, admin: Actor
) -> None:
    pc = factories.computer(svc, admin, "pc-1")
    factories.user(svc, Role.VIEWER, "jdoe")
    factories.group(svc, admin, "lab")
    factories.package(svc, admin, "zip7")
    owners = [svc.cmdb.object_of_computer(admin, pc)] + [
        object_titled(svc, admin, t) for t in ("jdoe", "lab", "zip7")
    ]
    for oid in owners:
        assert oid is not None
        eid = svc.cmdb.save(admin, oid, CONTACT, {"contact": 1})
        assert svc.cmdb.entry_status(admin, oid, CONTACT, eid, Op.ARCHIVE) == (eid, 2, 3)
        assert [(e.id, e.status) for e in cmdb_entries(svc, admin, oid, CONTACT, None)] == [(eid, 3)]
        assert svc.cmdb.entry_status(admin, oid, CONTACT, eid, Op.PURGE) == (eid, 3, 5)
        assert cmdb_entries(svc, admin, oid, CONTACT, None) == []


def test_an_entry_row_records_when_it_was_made_and_last_changed(
    svc: Services, admin: Actor, clock: ManualClock, runtime: Runtime
) -> None:
    def times(eid: int) -> tuple[Any, Any, dict[str, Any]]:
        with UnitOfWork(runtime.db, readonly=True) as uow:
            row = uow.session.get(CmdbEntry, eid)
            assert row is not None
            return row.created_at, row.updated_at, dict(row.data)

    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    eid = svc.cmdb.save(admin, oid, CPU, {"title": "a", "cores": 2})
    assert times(eid) == (T0, None, {"title": "a", "cores": 2})
    clock.now = T0.replace(hour=10)
    svc.cmdb.save(admin, oid, CPU, {"cores": 4}, eid)
    assert times(eid) == (T0, T0.replace(hour=10), {"title": "a", "cores": 4})
    clock.now = T0.replace(hour=11)
    svc.cmdb.entry_status(admin, oid, CPU, eid, Op.ARCHIVE)
    assert times(eid) == (T0, T0.replace(hour=11), {"title": "a", "cores": 4})


def test_a_groups_or_packages_object_keeps_its_owners_name_and_lists_versions_by_id(
    svc: Services, admin: Actor
) -> None:
    """The title of a group's or package family's object is the owner's name (renamed there,
    refused here, word for word), and a family's versions are its packages in the order they
    were made, even after an older one changed (on PostgreSQL an updated row moves to the end
    of its table, so an unordered read would show it last)."""
    factories.group(svc, admin, "lab", [])
    first = factories.package(svc, admin, "zip7", "1.0")
    second = factories.package(svc, admin, "zip7", "2.0")
    svc.packages.update(
        admin,
        first.id,
        PackageFields(install_procedure="install zip7 1.0", description="d"),
        package_version="2",
    )
    message = "the title of a group's or package's object is its name; rename it instead"
    for title in ("lab", "zip7"):
        oid = object_titled(svc, admin, title)
        with pytest.raises(Conflict) as err:
            svc.cmdb.update(admin, oid, title="other")
        assert (err.value.message, err.value.detail) == (message, {"field": "title"})
        assert object_titled(svc, admin, title) == oid  # nothing renamed
    versions = factories.cmdb_entries(svc, admin, object_titled(svc, admin, "zip7"), "C__CATG__VERSION")
    assert [(v.id, v.values["title"]) for v in versions] == [(first.id, "1.0"), (second.id, "2.0")]
