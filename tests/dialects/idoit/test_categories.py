"""cmdb.category.*, category_info and dialogs: save/read round trips of every writable
attribute type, the entry status table of the PHP client's CategoryStatusTest, the legacy
forms, refused values, and dialog+ tables."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.cmdb.catalog import catalog
from tests.dialects.idoit.conftest import Idoit

NORMAL, ARCHIVED, DELETED = 2, 3, 4


def server(idoit: Idoit, title: str = "srv") -> int:
    return int(idoit.ok("cmdb.object.create", {"type": "C__OBJTYPE__SERVER", "title": title})["id"])


def test_save_read_typed_values(idoit: Idoit) -> None:
    oid = server(idoit)
    other = server(idoit, "contact target")
    saved = idoit.ok(
        "cmdb.category.save",
        {
            "object": oid,
            "category": "C__CATG__CPU",
            "data": {
                "title": "Xeon",
                "manufacturer": "Intel",
                "type": "Gold 6230",
                "frequency": "2.1",
                "frequency_unit": 3,
                "cores": 20,
                "description": "two sockets",
            },
        },
    )
    assert saved["success"] is True and isinstance(saved["entry"], int)
    (row,) = idoit.ok("cmdb.category.read", {"objID": str(oid), "category": "C__CATG__CPU"})
    assert row["id"] == str(saved["entry"]) and row["objID"] == str(oid)
    assert row["manufacturer"] == {"id": "2", "title": "Intel", "const": "", "title_lang": "Intel"}
    assert row["type"]["title"] == "Gold 6230" and row["type"]["id"].isdigit()  # dialog+ value added
    assert row["frequency"] == {"title": 2.1}
    assert row["frequency_unit"]["title"] == "GHz"
    assert (row["cores"], row["title"], row["description"]) == ("20", "Xeon", "two sockets")
    # object links and yes/no dialogs
    idoit.ok(
        "cmdb.category.save",
        {
            "object": oid,
            "category": "C__CATG__CONTACT",
            "data": {"contact": other, "role": "Administrator", "primary": 1},
        },
    )
    (contact,) = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__CONTACT"})
    assert contact["role"]["title"] == "Administrator"
    idoit.ok(
        "cmdb.category.save", {"object": oid, "category": "C__CATG__LOCATION", "data": {"parent": other}}
    )
    (location,) = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__LOCATION"})
    assert location["parent"]["id"] == str(other) and location["parent"]["title"] == "contact target"
    assert location["parent"]["type"] == "C__OBJTYPE__SERVER"
    assert contact["primary"] == {"value": "1", "title": "Yes"}


def test_single_value_save_updates_the_one_entry(idoit: Idoit) -> None:
    oid = server(idoit)
    first = idoit.ok(
        "cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "A"}}
    )
    second = idoit.ok(
        "cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"firmware": "2"}}
    )
    assert first["entry"] == second["entry"]
    (row,) = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__MODEL"})
    assert (row["serial"], row["firmware"]) == ("A", "2")
    multi = [
        idoit.ok(
            "cmdb.category.save",
            {"object": oid, "category": "C__CATG__MEMORY", "data": {"capacity": 8, "unit": "GB"}},
        )["entry"]
        for _ in range(2)
    ]
    assert len(set(multi)) == 2
    idoit.ok(
        "cmdb.category.save",
        {"object": oid, "category": "C__CATG__MEMORY", "entry": multi[0], "data": {"capacity": 16}},
    )
    rows = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__MEMORY"})
    assert [r["capacity"] for r in rows] == [{"title": 16}, {"title": 8}]


def test_global_category_is_the_object(idoit: Idoit) -> None:
    oid = server(idoit)
    idoit.ok(
        "cmdb.category.save",
        {
            "object": oid,
            "category": "C__CATG__GLOBAL",
            "data": {"title": "renamed", "cmdb_status": 7, "purpose": 1, "description": "d"},
        },
    )
    (row,) = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__GLOBAL"})
    assert row["title"] == "renamed" and row["cmdb_status"]["id"] == "7" and row["purpose"]["id"] == "1"
    assert row["type"]["const"] == "C__OBJTYPE__SERVER"
    assert idoit.ok("cmdb.object.read", {"id": oid})["cmdb_status"] == 7


def test_deprecated_create_and_update(idoit: Idoit) -> None:
    oid = server(idoit)
    created = idoit.ok(
        "cmdb.category.create", {"objID": oid, "category": "C__CATG__CPU", "data": {"title": "a"}}
    )
    assert isinstance(created["id"], int) and "deprecated" in created["message"]
    updated = idoit.ok(
        "cmdb.category.update",
        {"objID": oid, "category": "C__CATG__CPU", "data": {"category_id": created["id"], "title": "b"}},
    )
    assert "This method is deprecated and will be removed in a feature release." in updated["message"]
    assert idoit.ok("cmdb.category", {"objID": oid, "catgID": 4})[0]["title"] == "b"
    assert (
        idoit.error(
            "cmdb.category.update", {"objID": oid, "category": "C__CATG__CPU", "data": {"title": "c"}}
        )["code"]
        == -32602
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"category": "C__CATG__CPU", "data": {"title": "x"}}, -32602),  # no object
        ({"object": 1, "data": {"title": "x"}}, -32602),  # no category
        ({"object": 1, "category": "C__CATG__NOPE", "data": {}}, -32099),
        ({"object": 424242, "category": "C__CATG__CPU", "data": {"title": "x"}}, -32099),
        ({"object": 1, "category": "C__CATG__CPU", "data": {"unknown": "x"}}, -32602),
        ({"object": 1, "category": "C__CATG__CPU", "data": {"cores": "many"}}, -32602),
        ({"object": 1, "category": "C__CATG__CPU", "data": {"cores": 1.5}}, -32602),
        (
            {"object": 1, "category": "C__CATG__CPU", "data": {"frequency_unit": "Parsec"}},
            -32602,
        ),  # plain dialog
        ({"object": 1, "category": "C__CATG__CPU", "data": {"frequency_unit": 99}}, -32602),
        ({"object": 1, "category": "C__CATG__LOCATION", "data": {"parent": 424242}}, -32602),
        ({"object": 1, "category": "C__CATG__CPU", "data": "x"}, -32602),
        ({"object": 1, "category": "C__CATG__CPU", "data": {"title": "x"}, "entry": 424242}, -32099),
        ({"object": 1, "category": "C__CATG__GLOBAL", "data": {"created": "x"}}, -32602),
    ],
)
def test_save_refused(idoit: Idoit, params: dict[str, Any], code: int) -> None:
    server(idoit)
    assert idoit.error("cmdb.category.save", params)["code"] == code


ENTRY_OPS = {
    "archive": "cmdb.category.archive",
    "delete": "cmdb.category.delete",
    "recycle": "cmdb.category.recycle",
    "purge": "cmdb.category.purge",
}
ENTRY_TABLE: list[tuple[int, str, int | None]] = [
    (NORMAL, "archive", ARCHIVED),
    (DELETED, "archive", ARCHIVED),
    (ARCHIVED, "archive", None),
    (NORMAL, "delete", DELETED),
    (ARCHIVED, "delete", DELETED),
    (DELETED, "delete", None),
    (ARCHIVED, "recycle", NORMAL),
    (DELETED, "recycle", NORMAL),
    (NORMAL, "recycle", None),
    (NORMAL, "purge", 5),
    (ARCHIVED, "purge", 5),
    (DELETED, "purge", 5),
]


def entry_in(idoit: Idoit, oid: int, status: int) -> int:
    entry = idoit.ok(
        "cmdb.category.save", {"object": oid, "category": "C__CATG__CPU", "data": {"title": "e"}}
    )["entry"]
    if status == ARCHIVED:
        idoit.ok("cmdb.category.archive", {"object": oid, "category": "C__CATG__CPU", "entry": entry})
    if status == DELETED:
        idoit.ok("cmdb.category.delete", {"object": oid, "category": "C__CATG__CPU", "entry": entry})
    return int(entry)


@pytest.mark.parametrize(("start", "op", "end"), ENTRY_TABLE)
def test_entry_status_transitions(idoit: Idoit, start: int, op: str, end: int | None) -> None:
    oid = server(idoit)
    entry = entry_in(idoit, oid, start)
    params = {"object": oid, "category": "C__CATG__CPU", "entry": entry}
    if end is None:
        assert idoit.error(ENTRY_OPS[op], params)["code"] == -32099
        return
    result = idoit.ok(ENTRY_OPS[op], params)
    assert result["message"].endswith(f"from {start} to {end}.")
    rows = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__CPU", "status": -1})
    assert [int(r["id"]) for r in rows] == ([] if end == 5 else [entry])
    if end != 5:
        by_status = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__CPU", "status": end})
        assert [int(r["id"]) for r in by_status] == [entry]


def test_single_value_entries_only_purge(idoit: Idoit) -> None:
    oid = server(idoit)
    idoit.ok("cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "x"}})
    entry = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__MODEL"})[0]["id"]
    for op in ("archive", "delete", "recycle"):
        assert (
            idoit.error(ENTRY_OPS[op], {"object": oid, "category": "C__CATG__MODEL", "entry": entry})["code"]
            == -32099
        )
    idoit.ok("cmdb.category.purge", {"object": oid, "category": "C__CATG__MODEL"})
    assert idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__MODEL"}) == []
    assert idoit.error("cmdb.category.purge", {"object": oid, "category": "C__CATG__MODEL"})["code"] == -32099


def test_legacy_delete_steps_and_quickpurge(idoit: Idoit) -> None:
    oid = server(idoit)
    entry = entry_in(idoit, oid, NORMAL)
    legacy = {"objID": oid, "category": "C__CATG__CPU", "cateID": entry}
    assert idoit.ok("cmdb.category.delete", legacy)["message"].endswith("from 2 to 3.")
    assert idoit.ok("cmdb.category.delete", legacy)["message"].endswith("from 3 to 4.")
    assert idoit.ok("cmdb.category.quickpurge", {"objID": oid, "category": "C__CATG__CPU", "id": entry})[
        "success"
    ]
    assert idoit.error("cmdb.category.quickpurge", legacy)["code"] == -32099


def test_category_info(idoit: Idoit) -> None:
    info = idoit.ok("cmdb.category_info.read", {"category": "C__CATG__CPU"})
    assert set(info) == set(catalog().categories["C__CATG__CPU"].attributes)
    assert (
        info["manufacturer"]["info"]["type"] == "dialog_plus"
        and info["manufacturer"]["ui"]["type"] == "popup"
    )
    assert info["cores"]["data"]["type"] == "int"
    assert idoit.ok("cmdb.category_info", {"catgID": 4}) == info
    assert idoit.error("cmdb.category_info.read", {"category": "C__CATG__NOPE"})["code"] == -32099
    assert idoit.error("cmdb.category_info.read", {})["code"] == -32602


def test_dialogs(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    values = idoit.ok("cmdb.dialog.read", {"category": "C__CATG__CPU", "property": "manufacturer"})
    assert {"id": "2", "const": "", "title": "Intel"} in values
    created = idoit.ok(
        "cmdb.dialog.create", {"category": "C__CATG__CPU", "property": "manufacturer", "value": "ARM"}
    )
    assert created["success"] is True and isinstance(created["entry_id"], int)
    updated = idoit.ok(
        "cmdb.dialog.update",
        {
            "category": "C__CATG__CPU",
            "property": "manufacturer",
            "entry_id": created["entry_id"],
            "value": "Arm Ltd",
        },
    )
    assert updated == {"success": True, "entry_id": created["entry_id"]}
    titles = [
        v["title"]
        for v in idoit.ok("cmdb.dialog.read", {"category": "C__CATG__CPU", "property": "manufacturer"})
    ]
    assert "Arm Ltd" in titles and "ARM" not in titles
    deleted = idoit.ok(
        "cmdb.dialog.delete",
        {"category": "C__CATG__CPU", "property": "manufacturer", "entry_id": created["entry_id"]},
    )
    assert deleted == {"success": True, "entry_id": str(created["entry_id"])}
    idoit.ok("cmdb.dialog.delete", {"category": "C__CATG__CPU", "property": "manufacturer", "entry_id": 4})
    titles = [
        v["title"]
        for v in idoit.ok("cmdb.dialog.read", {"category": "C__CATG__CPU", "property": "manufacturer"})
    ]
    assert "Arm Ltd" not in titles and "Motorola" not in titles
    for params in (
        {"category": "C__CATG__CPU", "property": "frequency_unit", "value": "PHz"},  # plain dialog: fixed
        {"category": "C__CATG__CPU", "property": "title", "value": "x"},  # not a dialog
        {"category": "C__CATG__NOPE", "property": "x", "value": "x"},
        {"category": "C__CATG__CPU", "property": "manufacturer"},
    ):
        assert idoit.error("cmdb.dialog.create", params)["code"] in (-32602, -32099), params
    assert (
        idoit.error(
            "cmdb.dialog.update",
            {"category": "C__CATG__CPU", "property": "manufacturer", "entry_id": 999, "value": "x"},
        )["code"]
        == -32099
    )
    audit = runtime.services.audit
    from fleetdeck.core.query import Cond, Op, Query

    rows = audit.find(admin, Query(where=(Cond("action", Op.LIKE, "cmdb_dialog.*"),), limit=None)).items
    assert {r.action for r in rows} >= {"cmdb_dialog.create", "cmdb_dialog.update", "cmdb_dialog.delete"}
