"""Core's CMDB logbook called directly: ``CmdbService.log`` (messages written into objects'
logbooks, their refusals and audit rows) and ``CmdbService.logbook`` (the audit rows of objects
and entries as ``LogbookEntry`` lines: values, order, filters by entry, object, time and record
status, the limit), and ``core.cmdb.logbook``'s row helpers on rows they must tolerate. The i-doit
dialect's ``cmdb.logbook`` tests cover the same through JSON-RPC; these are the ones the mutation
subset runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.cmdb import logbook
from fleetdeck.core.cmdb.statuses import Op, Status
from fleetdeck.core.cmdb.values import LogbookEntry
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from fleetdeck.storage.tables import AuditEntry
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

BUILDING = "C__OBJTYPE__BUILDING"
MODEL = "C__CATG__MODEL"
GLOBAL = "C__CATG__GLOBAL"


def created(row_id: int, oid: int, title: str, admin: Actor) -> LogbookEntry:
    """The logbook line of ``svc.cmdb.create(admin, BUILDING, title)`` at T0 (audit row ``row_id``)."""
    return LogbookEntry(
        id=row_id,
        at=T0,
        username=admin.username,
        action="cmdb_object.create",
        object_id=oid,
        object_title=title,
        category=GLOBAL,
        changes={
            f"{GLOBAL}::cmdb_status": (None, 6),
            f"{GLOBAL}::status": (None, 2),
            f"{GLOBAL}::title": (None, title),
            f"{GLOBAL}::type": (None, BUILDING),
        },
    )


def test_a_message_is_written_into_each_objects_logbook_once(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    mark = factories.audit_mark(svc)
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    hq_row = factories.audit_since(svc, mark)[0].id
    depot, _ = svc.cmdb.create(admin, BUILDING, "Depot")
    operator = factories.user(svc, Role.OPERATOR)
    clock.now = T0 + timedelta(hours=1)
    mark = factories.audit_mark(svc)
    ids = svc.cmdb.log(
        operator, [depot, hq, depot], " Rebooted ", description="d", comment="c", source=3, level=2
    )
    assert len(ids) == 2 and ids[0] < ids[1]
    line = {"message": "Rebooted", "description": "d", "comment": "c", "source": 3, "level": 2}
    written = factories.audited(svc, mark)
    assert written == [
        ("cmdb_object.log", "cmdb_object", str(depot), "ok", line),
        ("cmdb_object.log", "cmdb_object", str(hq), "ok", line),
        (
            "cmdb_object.log",
            "cmdb_logbook",
            f"{depot},{hq}",
            "ok",
            {"objects": [depot, hq], "lines": ids, "message": "Rebooted"},
        ),
    ]
    assert [r.id for r in factories.audit_since(svc, mark)][:2] == ids
    message = LogbookEntry(
        id=ids[1],
        at=clock.now,
        username=operator.username,
        action="cmdb_object.log",
        object_id=hq,
        object_title="HQ",
        category=GLOBAL,
        changes={},
        message="Rebooted",
        description="d",
        comment="c",
        source=3,
        level=2,
    )
    assert svc.cmdb.logbook(admin, object_id=hq) == [message, created(hq_row, hq, "HQ", admin)]
    plain = svc.cmdb.log(admin, [hq], "m")
    [got] = svc.cmdb.logbook(admin, entry_id=plain[0])
    assert (got.message, got.description, got.comment, got.source, got.level, got.username) == (
        "m",
        "",
        "",
        None,
        1,
        admin.username,
    )


def test_writing_a_message_is_refused_before_anything_is_written(svc: Services, admin: Actor) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied) as denied:
        svc.cmdb.log(viewer, [], "")  # refused before the arguments are looked at
    assert denied.value.message == f"{viewer.username} (viewer) lacks permission manage_computers"
    assert factories.audited(svc, mark) == [
        ("cmdb_object.log", "cmdb_logbook", "", "denied", {"error": denied.value.message}),
    ]
    mark = factories.audit_mark(svc)
    for object_ids, text, message, field in [
        ([hq], "", "the message must not be empty", "message"),
        ([hq], "  \n", "the message must not be empty", "message"),
        ([], "m", "name at least one object", "object_id"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.log(admin, object_ids, text)
        assert (err.value.message, err.value.field) == (message, field)
    assert factories.audited(svc, mark) == []
    with pytest.raises(NotFound) as missing:
        svc.cmdb.log(admin, [hq, 999_998, 999_999], "m")
    assert missing.value.message == "object 999998 not found"
    assert factories.audited(svc, mark) == [
        ("cmdb_object.log", "cmdb_logbook", "", "not_found", {"error": "object 999998 not found"}),
    ]
    assert [e.action for e in svc.cmdb.logbook(admin, object_id=hq)] == ["cmdb_object.create"]


def test_entry_changes_are_lines_of_their_objects_logbook(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    depot, _ = svc.cmdb.create(admin, BUILDING, "Depot")
    clock.now = T0 + timedelta(minutes=5)
    entry = svc.cmdb.save(admin, hq, MODEL, {"serial": "S1", "firmware": "1.0"})
    svc.cmdb.save(admin, depot, MODEL, {"serial": "D1"})
    clock.now = T0 + timedelta(minutes=10)
    svc.cmdb.save(admin, hq, MODEL, {"serial": "S2"}, entry)
    svc.cmdb.save(admin, hq, GLOBAL, {"description": "main", "sysid": "B-1"})
    lines = svc.cmdb.logbook(admin, object_id=hq)
    assert [(e.action, e.object_id, e.object_title, e.category) for e in lines] == [
        ("cmdb_entry.save", hq, "HQ", GLOBAL),
        ("cmdb_entry.save", hq, "HQ", MODEL),
        ("cmdb_entry.save", hq, "HQ", MODEL),
        ("cmdb_object.create", hq, "HQ", GLOBAL),
    ]
    assert [e.id for e in lines] == sorted((e.id for e in lines), reverse=True)
    assert lines[0].changes == {
        f"{GLOBAL}::description": ("", "main"),
        f"{GLOBAL}::sysid": ("", "B-1"),
    }
    assert (lines[1].at, lines[1].changes) == (clock.now, {f"{MODEL}::serial": ("S1", "S2")})
    assert (lines[2].at, lines[2].changes) == (
        T0 + timedelta(minutes=5),
        {f"{MODEL}::firmware": (None, "1.0"), f"{MODEL}::serial": (None, "S1")},
    )
    assert all(e.message is None and e.level == 1 and e.source is None for e in lines)
    assert [(e.object_id, e.object_title) for e in svc.cmdb.logbook(admin, object_id=depot)] == [
        (depot, "Depot"),
        (depot, "Depot"),
    ]
    everything = svc.cmdb.logbook(admin)
    assert [e.object_id for e in everything] == [hq, hq, depot, hq, depot, hq]
    assert svc.cmdb.logbook(admin, object_id=999_999) == []


def test_the_logbook_is_read_newest_first_up_to_its_limit_and_since_a_time(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    times = [T0 + timedelta(minutes=n) for n in (1, 2, 3)]
    ids = []
    for n, at in enumerate(times):
        clock.now = at
        ids += svc.cmdb.log(admin, [hq], f"line {n}")
    newest_first = [e.id for e in svc.cmdb.logbook(admin, object_id=hq)]
    assert newest_first[:3] == ids[::-1] and len(newest_first) == 4
    assert [e.id for e in svc.cmdb.logbook(admin, object_id=hq, limit=3)] == ids[::-1]
    assert [e.id for e in svc.cmdb.logbook(admin, limit=2)] == ids[:0:-1]
    assert [e.id for e in svc.cmdb.logbook(admin, limit=1)] == [ids[2]]
    assert svc.cmdb.logbook(admin, limit=0) == []
    with pytest.raises(ValidationFailed) as err:
        svc.cmdb.logbook(admin, limit=-1)
    assert (err.value.message, err.value.field) == ("limit must not be negative", "limit")
    assert [e.message for e in svc.cmdb.logbook(admin, since=times[1])] == ["line 2", "line 1"]
    assert [e.message for e in svc.cmdb.logbook(admin, since=times[1] + timedelta(seconds=1))] == ["line 2"]
    assert svc.cmdb.logbook(admin, since=times[2] + timedelta(seconds=1)) == []
    assert [e.message for e in svc.cmdb.logbook(admin, entry_id=ids[1])] == ["line 1"]
    assert [e.message for e in svc.cmdb.logbook(admin, entry_id=ids[1], object_id=hq)] == ["line 1"]
    other, _ = svc.cmdb.create(admin, BUILDING, "other")
    assert svc.cmdb.logbook(admin, entry_id=ids[1], object_id=other) == []


def test_only_successful_rows_of_objects_and_entries_are_lines(svc: Services, admin: Actor) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed):
        svc.cmdb.update(admin, hq, title=" ")  # an "invalid" row of the object
    svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="Staging")  # a cmdb_dialog row
    logged = svc.cmdb.log(admin, [hq], "m")
    audit = factories.audit_since(svc, mark)
    assert [(r.object_type, r.result) for r in audit] == [
        ("cmdb_object", "invalid"),
        ("cmdb_dialog", "ok"),
        ("cmdb_object", "ok"),
        ("cmdb_logbook", "ok"),
    ]
    for r in audit:
        expected = [r.id] if r.id in logged else []
        assert [e.id for e in svc.cmdb.logbook(admin, entry_id=r.id)] == expected
    assert [e.action for e in svc.cmdb.logbook(admin)] == ["cmdb_object.log", "cmdb_object.create"]


def test_the_logbook_of_objects_in_a_record_status_and_of_a_purged_object(
    svc: Services, admin: Actor
) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    old, _ = svc.cmdb.create(admin, BUILDING, "Old")
    svc.cmdb.save(admin, hq, MODEL, {"serial": "S1"})
    svc.cmdb.save(admin, old, MODEL, {"serial": "O1"})
    svc.cmdb.change_status(admin, old, Op.ARCHIVE)
    archived = svc.cmdb.logbook(admin, status=Status.ARCHIVED)
    assert [(e.action, e.object_id) for e in archived] == [
        ("cmdb_object.archive", old),
        ("cmdb_entry.save", old),
        ("cmdb_object.create", old),
    ]
    assert archived[0].changes == {f"{GLOBAL}::status": (2, 3)}
    normal = svc.cmdb.logbook(admin, status=Status.NORMAL)
    assert [(e.action, e.object_id) for e in normal] == [
        ("cmdb_entry.save", hq),
        ("cmdb_object.create", hq),
    ]
    assert svc.cmdb.logbook(admin, status=Status.DELETED) == []
    assert [e.object_id for e in svc.cmdb.logbook(admin, object_id=old, status=Status.NORMAL)] == []
    svc.cmdb.change_status(admin, old, Op.PURGE)
    purged = svc.cmdb.logbook(admin, object_id=old)
    assert [(e.action, e.object_id, e.object_title) for e in purged] == [
        ("cmdb_object.purge", old, ""),
        ("cmdb_object.archive", old, ""),
        ("cmdb_entry.save", old, ""),
        ("cmdb_object.create", old, ""),
    ]
    assert svc.cmdb.logbook(admin, status=Status.ARCHIVED) == []


def test_reading_the_logbook_needs_the_audit_permission(svc: Services, admin: Actor) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    for role in (Role.VIEWER, Role.OPERATOR):
        reader = factories.user(svc, role)
        with pytest.raises(PermissionDenied) as denied:
            svc.cmdb.logbook(reader, object_id=hq, limit=-1)
        assert denied.value.message == f"{reader.username} ({role.value}) lacks permission read_audit"
    assert len(svc.cmdb.logbook(admin, object_id=hq)) == 1


def _row(**kw: Any) -> AuditEntry:
    base: dict[str, Any] = {
        "id": 7,
        "at": T0,
        "username": "u",
        "action": "cmdb_object.update",
        "object_type": logbook.OBJECT,
        "object_id": "",
        "result": "ok",
        "detail": {},
    }
    return AuditEntry(**{**base, **kw})


def test_object_of_reads_the_object_from_either_kind_of_row() -> None:
    assert logbook.object_of(_row(object_id="12")) == 12
    assert logbook.object_of(_row(object_id="")) is None
    assert logbook.object_of(_row(object_id="x1")) is None
    assert logbook.object_of(_row(object_id="12", detail={"object_id": 5})) == 12
    entry = logbook.ENTRY
    assert logbook.object_of(_row(object_type=entry, object_id="3", detail={"object_id": 5})) == 5
    assert logbook.object_of(_row(object_type=entry, object_id="3", detail={"object_id": "6"})) == 6
    assert logbook.object_of(_row(object_type=entry, object_id="3", detail={})) is None
    assert logbook.object_of(_row(object_type=entry, object_id="3", detail=None)) is None
    assert logbook.object_of(_row(object_type=entry, detail={"object_id": [5]})) is None
    assert logbook.object_of(_row(object_type=entry, detail={"object_id": "five"})) is None
    assert logbook.object_of(_row(object_type=entry, detail={"object_id": ""})) is None
    assert logbook.object_of(_row(object_type=entry, detail={"object_id": 0})) == 0


def test_entry_of_makes_a_line_of_any_detail() -> None:
    detail = {
        "category": "C__CATG__MODEL",
        "old": {"b": 1, "a": 2},
        "new": {"a": 3, "c": 4},
        "entries": [{"old": {"z": 1}, "new": {"z": 2, "y": None}}, "junk", {"new": "junk"}],
        "message": "ignored: not a written line",
        "description": 5,
        "comment": None,
        "source": "7",
        "level": "3",
    }
    line = logbook.entry_of(_row(detail=detail), 12, "HQ")
    assert line == LogbookEntry(
        id=7,
        at=T0,
        username="u",
        action="cmdb_object.update",
        object_id=12,
        object_title="HQ",
        category="C__CATG__MODEL",
        changes={
            "C__CATG__MODEL::a": (2, 3),
            "C__CATG__MODEL::b": (1, None),
            "C__CATG__MODEL::c": (None, 4),
            "C__CATG__MODEL::y": (None, None),
            "C__CATG__MODEL::z": (1, 2),
        },
        message=None,
        description="5",
        comment="",
        source=None,
        level=3,
    )
    assert [k.split("::")[1] for k in line.changes] == ["a", "b", "c", "y", "z"]
    bare = logbook.entry_of(_row(action=logbook.LOG_ACTION, detail=None), 1, "")
    assert (bare.category, bare.changes, bare.message, bare.description, bare.comment) == (
        GLOBAL,
        {},
        None,
        "",
        "",
    )
    assert (bare.source, bare.level) == (None, 1)
    written = logbook.entry_of(
        _row(action=logbook.LOG_ACTION, detail={"message": 42, "source": 2, "level": 0, "old": [1]}), 1, ""
    )
    assert (written.message, written.source, written.level, written.changes) == ("42", 2, 1, {})
    empty = logbook.entry_of(_row(action=logbook.LOG_ACTION, detail={"message": ""}), 1, "")
    assert empty.message == ""


def test_rows_that_name_no_object_are_left_out(svc: Services, admin: Actor) -> None:
    hq, _ = svc.cmdb.create(admin, BUILDING, "HQ")
    mark = factories.audit_mark(svc)
    svc.audit.record(admin, "cmdb_object.note", logbook.OBJECT, "")
    svc.audit.record(admin, "cmdb_object.note", logbook.OBJECT, "x1")
    svc.audit.record(admin, "cmdb_entry.note", logbook.ENTRY, "77")  # no object in its detail
    assert len(factories.audit_since(svc, mark)) == 3
    assert [(e.action, e.object_id) for e in svc.cmdb.logbook(admin)] == [("cmdb_object.create", hq)]
    assert [e.object_id for e in svc.cmdb.logbook(admin, entry_id=mark + 3)] == []
