"""cmdb.object.* and cmdb.objects.read: creation, the status-transition table of the PHP
client's ObjectStatusTest, legacy parameter forms, filters, paging, order, and a constant
number of queries whatever the number of objects."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories
from tests.dialects.idoit.conftest import Idoit, counting

NORMAL, ARCHIVED, DELETED, TEMPLATE, MCT = 2, 3, 4, 6, 7
PURGED = "purged"


def new_object(idoit: Idoit, status: int = NORMAL, title: str = "Server A") -> int:
    result = idoit.ok("cmdb.object.create", {"type": "C__OBJTYPE__SERVER", "title": title})
    oid = int(result["id"])
    to = {
        ARCHIVED: "cmdb.object.archive",
        DELETED: "cmdb.object.delete",
        TEMPLATE: "cmdb.object.markAsTemplate",
        MCT: "cmdb.object.markAsMassChangeTemplate",
    }
    if status != NORMAL:
        idoit.ok(to[status], {"object": oid})
    return oid


def test_create_read_update(idoit: Idoit) -> None:
    result = idoit.ok(
        "cmdb.object.create",
        {
            "type": "C__OBJTYPE__SERVER",
            "title": "db01",
            "cmdb_status": "C__CMDB_STATUS__PLANNED",
            "description": None,
            "purpose": None,
        },
    )
    assert result["success"] is True and result["message"] == "Object was successfully created"
    oid = result["id"]
    assert isinstance(oid, int)
    obj = idoit.ok("cmdb.object.read", {"id": oid})
    assert set(obj) == {
        "id",
        "title",
        "sysid",
        "objecttype",
        "type_title",
        "type_icon",
        "status",
        "cmdb_status",
        "cmdb_status_title",
        "created",
        "updated",
        "image",
    }
    assert (obj["id"], obj["title"], obj["objecttype"], obj["status"], obj["cmdb_status"]) == (
        oid,
        "db01",
        5,
        2,
        1,
    )
    assert idoit.ok("cmdb.object.update", {"id": str(oid), "title": "db02"})["success"] is True
    assert idoit.ok("cmdb.object", {"id": oid})["title"] == "db02"
    assert idoit.ok("cmdb.object.read", {"id": 999999}) == []


def test_create_with_categories(idoit: Idoit) -> None:
    result = idoit.ok(
        "cmdb.object.create",
        {
            "type": 5,
            "title": "web",
            "categories": {
                "C__CATG__CPU": [{"title": "Xeon", "cores": 8}, {"title": "Xeon"}],
                "C__CATG__ACCOUNTING": {"inventory_no": "INV-1"},
            },
        },
    )
    assert len(result["categories"]["C__CATG__CPU"]) == 2
    rows = idoit.ok("cmdb.category.read", {"objID": result["id"], "category": "C__CATG__CPU"})
    assert [r["cores"] for r in rows] == ["8", None]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"title": "x"}, -32602),
        ({"type": "C__OBJTYPE__NOPE", "title": "x"}, -32602),
        ({"type": 5}, -32602),
        ({"type": 5, "title": ""}, -32602),
        ({"type": 5, "title": "x", "cmdb_status": "C__CMDB_STATUS__NOPE"}, -32602),
        ({"type": 5, "title": "x", "categories": {"C__CATG__NOPE": [{}]}}, -32099),
        ({"type": 5, "title": "x", "categories": {"C__CATG__CPU": [{"nope": 1}]}}, -32602),
    ],
)
def test_create_refused(idoit: Idoit, params: dict[str, Any], code: int) -> None:
    assert idoit.error("cmdb.object.create", params)["code"] == code
    assert idoit.ok("cmdb.objects.read", {"filter": {"type": 5}}) == []


OPS = {
    "archive": "cmdb.object.archive",
    "delete": "cmdb.object.delete",
    "purge": "cmdb.object.purge",
    "recycle": "cmdb.object.recycle",
    "template": "cmdb.object.markAsTemplate",
    "mct": "cmdb.object.markAsMassChangeTemplate",
}
# (from status, operation) -> resulting status, or None when the operation is refused
TABLE: list[tuple[int, str, int | str | None]] = [
    (NORMAL, "archive", ARCHIVED),
    (DELETED, "archive", ARCHIVED),
    (ARCHIVED, "archive", None),
    (TEMPLATE, "archive", None),
    (MCT, "archive", None),
    (NORMAL, "delete", DELETED),
    (ARCHIVED, "delete", DELETED),
    (DELETED, "delete", None),
    (TEMPLATE, "delete", None),
    (MCT, "delete", None),
    (NORMAL, "purge", PURGED),
    (ARCHIVED, "purge", PURGED),
    (DELETED, "purge", PURGED),
    (TEMPLATE, "purge", PURGED),
    (MCT, "purge", PURGED),
    (ARCHIVED, "recycle", NORMAL),
    (DELETED, "recycle", NORMAL),
    (TEMPLATE, "recycle", NORMAL),
    (MCT, "recycle", NORMAL),
    (NORMAL, "recycle", None),
    (NORMAL, "template", TEMPLATE),
    (MCT, "template", TEMPLATE),
    (ARCHIVED, "template", None),
    (DELETED, "template", None),
    (TEMPLATE, "template", None),
    (NORMAL, "mct", MCT),
    (TEMPLATE, "mct", MCT),
    (ARCHIVED, "mct", None),
    (DELETED, "mct", None),
    (MCT, "mct", None),
]


@pytest.mark.parametrize(("start", "op", "end"), TABLE)
def test_status_transitions(idoit: Idoit, start: int, op: str, end: int | str | None) -> None:
    oid = new_object(idoit, start)
    if end is None:
        assert idoit.error(OPS[op], {"object": oid})["code"] == -32099
        assert idoit.ok("cmdb.object.read", {"id": oid})["status"] == start
    elif end == PURGED:
        assert idoit.ok(OPS[op], {"object": oid})["message"] == f"Object {oid} has been purged."
        assert idoit.ok("cmdb.object.read", {"id": oid}) == []
    else:
        assert idoit.ok(OPS[op], {"object": oid})["success"] is True
        assert idoit.ok("cmdb.object.read", {"id": oid})["status"] == end


@pytest.mark.parametrize("op", sorted(OPS))
def test_operations_on_missing_objects(idoit: Idoit, op: str) -> None:
    assert idoit.error(OPS[op], {"object": 424242})["code"] == -32099
    assert idoit.error(OPS[op], {})["code"] == -32602


@pytest.mark.parametrize(
    ("status", "end"),
    [
        ("C__RECORD_STATUS__ARCHIVED", ARCHIVED),
        ("C__RECORD_STATUS__ARCHIVE", ARCHIVED),
        ("C__RECORD_STATUS__DELETED", DELETED),
        ("C__RECORD_STATUS__PURGE", PURGED),
    ],
)
def test_legacy_delete_forms(idoit: Idoit, status: str, end: int | str) -> None:
    oid = new_object(idoit)
    idoit.ok("cmdb.object.delete", {"id": oid, "status": status})
    read = idoit.ok("cmdb.object.read", {"id": oid})
    assert read == [] if end == PURGED else read["status"] == end
    assert idoit.ok("cmdb.object.recycle", {"id": new_object(idoit, ARCHIVED)})["success"] is True


def test_objects_read_filters_limit_order(idoit: Idoit) -> None:
    ids = [new_object(idoit, title=t) for t in ("b", "a", "c")]
    archived = new_object(idoit, ARCHIVED, "z")
    person = idoit.ok("cmdb.object.create", {"type": "C__OBJTYPE__PERSON", "title": "Hans"})["id"]
    rows = idoit.ok("cmdb.objects.read", {"filter": {"type": "C__OBJTYPE__SERVER"}, "categories": None})
    assert [r["id"] for r in rows] == ids
    assert set(rows[0]) >= {
        "id",
        "title",
        "sysid",
        "type",
        "type_title",
        "type_group_title",
        "status",
        "cmdb_status",
        "cmdb_status_title",
        "image",
        "created",
    }
    by_title = idoit.ok("cmdb.objects.read", {"filter": {"type": 5}, "order_by": "title", "sort": "DESC"})
    assert [r["title"] for r in by_title] == ["c", "b", "a"]
    page = idoit.ok("cmdb.objects.read", {"filter": {"type": 5}, "limit": "1,2", "order_by": "isys_obj__id"})
    assert [r["id"] for r in page] == ids[1:3]
    assert [r["id"] for r in idoit.ok("cmdb.objects.read", {"filter": {"ids": [str(ids[0]), person]}})] == [
        ids[0],
        person,
    ]
    assert [
        r["id"] for r in idoit.ok("cmdb.objects.read", {"filter": {"status": "C__RECORD_STATUS__ARCHIVED"}})
    ] == [archived]
    assert [r["title"] for r in idoit.ok("cmdb.objects.read", {"filter": {"title": "a"}})] == ["a"]
    assert [
        r["id"]
        for r in idoit.ok("cmdb.objects.read", {"filter": {"type_group": "C__OBJTYPE_GROUP__CONTACT"}})
    ] == [1, person]  # the admin user's person object, then the one made here
    for bad in (
        {"filter": {"nope": 1}},
        {"limit": "x"},
        {"order_by": "nope"},
        {"filter": {"type": "C__NOPE"}},
        {"filter": "x"},
        {"categories": 5},
        {"filter": {"ids": ["x"]}},
    ):
        assert idoit.error("cmdb.objects.read", bad)["code"] == -32602, bad


def _objects_read_statements(idoit: Idoit, runtime: Runtime) -> int:
    with counting(runtime.db) as statements:
        rows = idoit.ok("cmdb.objects.read", {"categories": True})
    assert all("categories" in r for r in rows)
    # the CMDB's reads only: the housekeeping duties of the running app query other tables
    # whenever their interval comes round
    mine = ("cmdb_", "computer_software", "computer_interfaces", "computer_filesystems")
    return len(
        [s for s in statements if s.lstrip().upper().startswith("SELECT") and any(t in s for t in mine)]
    )


def test_objects_read_runs_a_constant_number_of_queries(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    """One row of everything, then twenty: the same statements (objects with their computers,
    stored entries, software, interfaces, file systems, dialog changes, linked objects)."""

    def grow(n: int) -> None:
        for i in range(n):
            factories.computer(
                runtime.services, admin, f"pc{n}-{i}", macs=[f"02:00:00:00:{n:02x}:{i:02x}"], os="Debian"
            )
            oid = idoit.ok("cmdb.object.create", {"type": 5, "title": f"srv{n}-{i}"})["id"]
            idoit.ok(
                "cmdb.category.save",
                {"object": oid, "category": "C__CATG__CPU", "data": {"title": "x", "manufacturer": "Intel"}},
            )

    grow(1)
    one = _objects_read_statements(idoit, runtime)
    assert one >= 5  # objects, entries, software, interfaces, file systems, dialogs
    grow(20)
    assert _objects_read_statements(idoit, runtime) == one
