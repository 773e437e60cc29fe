"""Core's CMDB objects (``core.cmdb.service``) called directly: creation and its refusals, what
an object shows (title, sysid, type, statuses), reads and queries, renames and type changes, the
record status lifecycle and purge, each with its audit row. The i-doit dialect's tests cover
the same through JSON-RPC; these are the ones the mutation subset runs."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.cmdb.statuses import Op, Status
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Query, SortKey
from fleetdeck.core.query import Op as Q
from fleetdeck.core.services import Services
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
BUILDING, SERVER, CLIENT = 3, 5, 10


def rows(svc: Services, mark: int) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)
    ]


def test_an_object_is_created_as_asked_and_audited(svc: Services, admin: Actor, clock: ManualClock) -> None:
    mark = factories.audit_mark(svc)
    oid, created = svc.cmdb.create(
        admin,
        "C__OBJTYPE__BUILDING",
        " HQ ",
        cmdb_status="C__CMDB_STATUS__STORED",
        description="main",
        sysid="B-1",
        attrs={"k": "v"},
    )
    assert created == {}
    got = svc.cmdb.get(admin, oid)
    assert got is not None
    assert (got.id, got.title, got.sysid, got.type_id, got.type_const, got.type_title) == (
        oid,
        "HQ",
        "B-1",
        BUILDING,
        "C__OBJTYPE__BUILDING",
        "Building",
    )
    assert (got.status, got.cmdb_status, got.description, got.attrs) == (
        Status.NORMAL,
        11,
        "main",
        {"k": "v"},
    )
    assert (got.created_at, got.created_by, got.updated_by, got.computer_id) == (
        T0,
        admin.username,
        admin.username,
        None,
    )
    assert got.cmdb_status_title != ""
    assert rows(svc, mark) == [
        (
            "cmdb_object.create",
            "cmdb_object",
            str(oid),
            "ok",
            {"new": {"type": "C__OBJTYPE__BUILDING", "title": "HQ", "status": 2, "cmdb_status": 11}},
        )
    ]
    plain, _ = svc.cmdb.create(admin, SERVER, "srv", status=Status.TEMPLATE, cmdb_status=6)
    other = svc.cmdb.get(admin, plain)
    assert other is not None
    assert (
        other.sysid,
        other.type_const,
        other.status,
        other.cmdb_status,
        other.description,
        other.attrs,
    ) == (
        f"SYSID_{plain}",
        "C__OBJTYPE__SERVER",
        Status.TEMPLATE,
        6,
        "",
        {},
    )
    assert svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "x", cmdb_status="11")[0] > plain
    assert svc.cmdb.get(admin, 999_999) is None


def test_creation_refusals_say_what_is_wrong(svc: Services, admin: Actor) -> None:
    for kwargs, message, field in [
        ({"type_ref": "C__OBJTYPE__NOPE", "title": "x"}, "unknown object type 'C__OBJTYPE__NOPE'", "type"),
        ({"type_ref": 999, "title": "x"}, "unknown object type 999", "type"),
        ({"type_ref": BUILDING, "title": " "}, "title must not be empty", "title"),
        (
            {"type_ref": BUILDING, "title": "x", "status": Status.PURGE},
            "an object cannot be created with status 5",
            "status",
        ),
        (
            {"type_ref": BUILDING, "title": "x", "status": 99},
            "an object cannot be created with status 99",
            "status",
        ),
        (
            {"type_ref": BUILDING, "title": "x", "cmdb_status": "C__NOPE"},
            "unknown CMDB status 'C__NOPE'",
            "cmdb_status",
        ),
        ({"type_ref": BUILDING, "title": "x", "cmdb_status": 999}, "unknown CMDB status 999", "cmdb_status"),
        (
            {"type_ref": BUILDING, "title": "x", "cmdb_status": "-3"},
            "unknown CMDB status '-3'",
            "cmdb_status",
        ),
        (
            {"type_ref": BUILDING, "title": "x", "cmdb_status": 1.5j},
            "unknown CMDB status 1.5j",
            "cmdb_status",
        ),
    ]:
        type_ref = kwargs.pop("type_ref")
        title = kwargs.pop("title")
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.create(admin, type_ref, title, **kwargs)
        assert (err.value.message, err.value.field) == (message, field)
    for status in (Status.UNFINISHED, Status.ARCHIVED, Status.DELETED, Status.MASS_CHANGE_TEMPLATE):
        oid, _ = svc.cmdb.create(admin, BUILDING, "s", status=status)
        got = svc.cmdb.get(admin, oid)
        assert got is not None and got.status == status
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.cmdb.create(viewer, "C__OBJTYPE__NOPE", "")
    assert [(r[0], r[1], r[3]) for r in rows(svc, mark)] == [("cmdb_object.create", "cmdb_object", "denied")]
    assert svc.cmdb.find(viewer, Query(where=(Cond("title", Q.EQ, "s"),), limit=None)) != []


def test_a_computers_object_shows_the_computer(svc: Services, admin: Actor) -> None:
    pc = factories.computer(svc, ADMIN, "pc-1", os="Linux")
    srv = factories.computer(svc, ADMIN, "db-1", os="Windows Server", os_version="2022")
    pc_obj = svc.cmdb.object_of_computer(admin, pc)
    srv_obj = svc.cmdb.object_of_computer(admin, srv)
    assert pc_obj is not None and srv_obj is not None
    assert svc.cmdb.object_of_computer(admin, 999_999) is None
    a, b = svc.cmdb.get(admin, pc_obj), svc.cmdb.get(admin, srv_obj)
    assert a is not None and b is not None
    assert (a.title, a.type_id, a.computer_id, a.sysid) == ("pc-1", CLIENT, pc, f"SYSID_{pc_obj}")
    assert (b.title, b.type_id, b.computer_id) == ("db-1", SERVER, srv)
    found = svc.cmdb.find(admin, Query(where=(Cond("computer_id", Q.EQ, srv),)))
    assert found == [b]
    assert [
        o.id for o in svc.cmdb.find(admin, Query(where=(Cond("type_id", Q.EQ, SERVER),), limit=None))
    ] == [srv_obj]
    with pytest.raises(Conflict) as err:
        svc.cmdb.update(admin, pc_obj, title="other")
    assert (
        err.value.message == "the title of a computer's object is its host name; rename the computer instead"
    )
    svc.cmdb.update(admin, pc_obj, type_ref="C__OBJTYPE__SERVER")
    changed = svc.cmdb.get(admin, pc_obj)
    assert changed is not None and changed.type_id == SERVER
    with pytest.raises(Conflict) as purge:
        svc.cmdb.change_status(admin, pc_obj, Op.PURGE)
    assert purge.value.message == (
        f"object {pc_obj} is computer {pc} (pc-1): delete the computer to remove it"
    )
    assert purge.value.detail == {"computer_id": pc}
    assert svc.cmdb.get(admin, pc_obj) is not None


def test_objects_are_found_paged_and_sorted(svc: Services, admin: Actor) -> None:
    ids = [svc.cmdb.create(admin, BUILDING, name, sysid=f"S{name}")[0] for name in ("b", "a", "c")]
    buildings = (Cond("type_id", Q.EQ, BUILDING),)
    by_title = svc.cmdb.find(admin, Query(where=buildings, sort=(SortKey("title"),), limit=None))
    assert [o.title for o in by_title] == ["a", "b", "c"]
    page = svc.cmdb.find(admin, Query(where=buildings, sort=(SortKey("title"),), limit=2, offset=1))
    assert [o.title for o in page] == ["b", "c"]
    assert [o.id for o in svc.cmdb.find(admin, Query(sort=(SortKey("id", True),), limit=1))] == [ids[-1]]
    assert [o.id for o in svc.cmdb.find(admin, Query(where=(Cond("sysid", Q.EQ, "Sa"),)))] == [ids[1]]
    assert svc.cmdb.find(admin, Query(limit=0)) == []
    for query in (Query(limit=-1), Query(offset=-1)):
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.find(admin, query)
        assert (err.value.message, err.value.field) == ("limit and offset must not be negative", "limit")
    end_user = Actor(user_id=None, username="eu", role=Role.END_USER)
    with pytest.raises(PermissionDenied):
        svc.cmdb.find(end_user, Query())
    with pytest.raises(PermissionDenied):
        svc.cmdb.get(end_user, ids[0])
    with pytest.raises(PermissionDenied):
        svc.cmdb.object_of_computer(end_user, 1)


def test_an_object_is_renamed_and_retyped_with_old_and_new_values(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    oid, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    operator = factories.user(svc, Role.OPERATOR)
    clock.now = T0.replace(hour=10)
    mark = factories.audit_mark(svc)
    svc.cmdb.update(operator, oid, title=" Head office ", type_ref=SERVER)
    got = svc.cmdb.get(admin, oid)
    assert got is not None
    assert (got.title, got.type_id, got.updated_at, got.updated_by, got.created_by) == (
        "Head office",
        SERVER,
        clock.now,
        operator.username,
        admin.username,
    )
    svc.cmdb.update(admin, oid)
    with pytest.raises(ValidationFailed) as empty:
        svc.cmdb.update(admin, oid, title=" ")
    assert (empty.value.message, empty.value.field) == ("title must not be empty", "title")
    with pytest.raises(NotFound) as missing:
        svc.cmdb.update(admin, 999_999, title="x")
    assert missing.value.message == "object 999999 not found"
    assert rows(svc, mark) == [
        (
            "cmdb_object.update",
            "cmdb_object",
            str(oid),
            "ok",
            {
                "old": {"title": "HQ", "type": "C__OBJTYPE__BUILDING"},
                "new": {"title": "Head office", "type": "C__OBJTYPE__SERVER"},
            },
        ),
        ("cmdb_object.update", "cmdb_object", str(oid), "ok", {"old": {}, "new": {}}),
        ("cmdb_object.update", "cmdb_object", str(oid), "invalid", {"error": "title must not be empty"}),
        ("cmdb_object.update", "cmdb_object", "999999", "not_found", {"error": "object 999999 not found"}),
    ]
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.cmdb.update(viewer, oid, title="x")


def test_the_record_status_moves_along_its_lifecycle_and_purge_removes(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    oid, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    mark = factories.audit_mark(svc)
    clock.now = T0.replace(hour=11)
    assert svc.cmdb.change_status(admin, oid, Op.ARCHIVE) == (Status.NORMAL, Status.ARCHIVED)
    got = svc.cmdb.get(admin, oid)
    assert got is not None and (got.status, got.updated_at) == (Status.ARCHIVED, clock.now)
    assert svc.cmdb.change_status(admin, oid, Op.DELETE) == (Status.ARCHIVED, Status.DELETED)
    with pytest.raises(Conflict) as err:
        svc.cmdb.change_status(admin, oid, Op.TEMPLATE)
    assert err.value.message == f"object {oid} has status deleted; template does not apply"
    assert err.value.detail == {"status": Status.DELETED, "operation": "template"}
    assert svc.cmdb.change_status(admin, oid, Op.RECYCLE) == (Status.DELETED, Status.NORMAL)
    assert svc.cmdb.change_status(admin, oid, Op.PURGE) == (Status.NORMAL, Status.PURGE)
    assert svc.cmdb.get(admin, oid) is None
    with pytest.raises(NotFound):
        svc.cmdb.change_status(admin, oid, Op.RECYCLE)
    assert rows(svc, mark) == [
        ("cmdb_object.archive", "cmdb_object", str(oid), "ok", {"old": {"status": 2}, "new": {"status": 3}}),
        ("cmdb_object.delete", "cmdb_object", str(oid), "ok", {"old": {"status": 3}, "new": {"status": 4}}),
        (
            "cmdb_object.template",
            "cmdb_object",
            str(oid),
            "conflict",
            {"error": f"object {oid} has status deleted; template does not apply"},
        ),
        ("cmdb_object.recycle", "cmdb_object", str(oid), "ok", {"old": {"status": 4}, "new": {"status": 2}}),
        ("cmdb_object.purge", "cmdb_object", str(oid), "ok", {"old": {"status": 2}, "new": {"status": 5}}),
        ("cmdb_object.recycle", "cmdb_object", str(oid), "not_found", {"error": f"object {oid} not found"}),
    ]
    viewer = factories.user(svc, Role.VIEWER)
    other, _ = svc.cmdb.create(admin, BUILDING, "other")
    with pytest.raises(PermissionDenied):
        svc.cmdb.change_status(viewer, other, Op.ARCHIVE)
    got = svc.cmdb.get(admin, other)
    assert got is not None and got.status == Status.NORMAL
