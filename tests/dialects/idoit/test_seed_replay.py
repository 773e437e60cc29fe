"""The examples of the seed (i-doit's German API page, shared/seeds/002_*), replayed in the
seed's order against fleetdeck: each request as the seed sends it (with our API key), each
answer compared with the seed's answer, ids aside (the modern API's integer ids where the
seed, written for older versions, shows strings; idoit-notes §6)."""

from __future__ import annotations

from typing import Any

from tests.dialects.idoit.conftest import API_KEY, Idoit


def replay(idoit: Idoit, method: str, params: dict[str, Any]) -> Any:
    body = {
        "version": "2.0",
        "method": method,
        "params": {**params, "apikey": API_KEY, "language": "en"},
        "id": 1,
    }
    answer = idoit.post(body).json()
    assert answer["id"] == 1 and answer["jsonrpc"] == "2.0"
    assert "error" not in answer, answer
    return answer["result"]


def test_seed_walk(idoit: Idoit) -> None:
    created = replay(idoit, "cmdb.object.create", {"type": "C__OBJTYPE__SERVER", "title": "My little server"})
    assert created == {"id": created["id"], "message": "Object was successfully created", "success": True}
    oid = created["id"]

    read = replay(idoit, "cmdb.object.read", {"id": oid})
    assert read["title"] == "My little server" and read["type_title"] == "Server"
    assert read["status"] == 2 and read["cmdb_status_title"] == "in operation"

    updated = replay(idoit, "cmdb.object.update", {"id": oid, "title": "Your little server"})
    assert updated == {"message": "Object title was successfully updated", "success": True}

    for method, word in (
        ("cmdb.object.archive", "archived"),
        ("cmdb.object.recycle", "recycled"),
        ("cmdb.object.markAsTemplate", "marked as template"),
        ("cmdb.object.recycle", "recycled"),
        ("cmdb.object.markAsMassChangeTemplate", "marked as mass change template"),
        ("cmdb.object.recycle", "recycled"),
    ):
        assert replay(idoit, method, {"object": oid}) == {
            "success": True,
            "message": f"Object {oid} has been {word}.",
        }

    listed = replay(
        idoit,
        "cmdb.objects.read",
        {"filter": {"type": "C__OBJTYPE__SERVER"}, "limit": 10, "order_by": "title", "sort": "ASC"},
    )
    assert [o["title"] for o in listed] == ["Your little server"]

    access = replay(
        idoit,
        "cmdb.category.save",
        {
            "object": oid,
            "category": "C__CATG__ACCESS",
            "data": {"title": "Name of the access", "description": "description of the access"},
        },
    )
    assert access == {
        "success": True,
        "message": "Category entry successfully saved",
        "entry": access["entry"],
    }
    model = replay(
        idoit,
        "cmdb.category.save",
        {
            "object": oid,
            "category": "C__CATG__MODEL",
            "data": {"manufacturer": "Name of manufacturer", "title": "Name of model"},
        },
    )
    again = replay(
        idoit,
        "cmdb.category.save",
        {"object": oid, "category": "C__CATG__MODEL", "entry": model["entry"], "data": {"serial": "4711"}},
    )
    assert again["entry"] == model["entry"]
    (row,) = replay(idoit, "cmdb.category.read", {"objID": oid, "category": "C__CATG__MODEL"})
    assert row["manufacturer"]["title"] == "Name of manufacturer" and row["title"]["title"] == "Name of model"
    assert row["serial"] == "4711" and row["objID"] == str(oid)

    created_entry = replay(
        idoit,
        "cmdb.category.create",
        {"objID": oid, "category": "C__CATG__CPU", "data": {"title": "CPU 1", "manufacturer": "AMD"}},
    )
    entry = created_entry["id"]
    replay(
        idoit,
        "cmdb.category.update",
        {"objID": oid, "category": "C__CATG__CPU", "data": {"category_id": entry, "title": "CPU one"}},
    )
    assert (
        replay(idoit, "cmdb.category.delete", {"objID": oid, "category": "C__CATG__CPU", "cateID": entry})[
            "success"
        ]
        is True
    )
    assert (
        replay(idoit, "cmdb.category.recycle", {"object": oid, "category": "C__CATG__CPU", "entry": entry})[
            "message"
        ]
        == f"Entry {entry} has been successfully recycled from 3 to 2."
    )
    assert (
        replay(idoit, "cmdb.category.archive", {"object": oid, "category": "C__CATG__CPU", "entry": entry})[
            "message"
        ]
        == f"Entry {entry} has been successfully archived from 2 to 3."
    )
    assert (
        replay(idoit, "cmdb.category.purge", {"object": oid, "category": "C__CATG__CPU", "entry": entry})[
            "message"
        ]
        == f"Entry {entry} has been successfully purged from 3 to 5."
    )
    second = replay(
        idoit, "cmdb.category.save", {"object": oid, "category": "C__CATG__CPU", "data": {"title": "x"}}
    )
    assert (
        replay(
            idoit,
            "cmdb.category.quickpurge",
            {"objID": oid, "category": "C__CATG__CPU", "cateID": second["entry"]},
        )["success"]
        is True
    )

    dialog = replay(idoit, "cmdb.dialog.read", {"category": "C__CATG__CPU", "property": "manufacturer"})
    assert dialog[:2] == [
        {"id": "1", "const": "", "title": "AMD"},
        {"id": "2", "const": "", "title": "Intel"},
    ]
    made = replay(
        idoit,
        "cmdb.dialog.create",
        {"category": "C__CATG__CPU", "property": "manufacturer", "value": "Transmeta"},
    )
    assert made == {"success": True, "entry_id": made["entry_id"]}
    assert (
        replay(
            idoit,
            "cmdb.dialog.update",
            {
                "category": "C__CATG__CPU",
                "property": "manufacturer",
                "value": "Transmeta Corp.",
                "entry_id": made["entry_id"],
            },
        )
        == made
    )
    assert replay(
        idoit,
        "cmdb.dialog.delete",
        {"category": "C__CATG__CPU", "property": "manufacturer", "entry_id": made["entry_id"]},
    ) == {"success": True, "entry_id": str(made["entry_id"])}

    assert replay(idoit, "cmdb.object.delete", {"id": oid, "status": "C__RECORD_STATUS__DELETED"})["success"]
    assert replay(idoit, "cmdb.object.purge", {"object": oid}) == {
        "success": True,
        "message": f"Object {oid} has been purged.",
    }

    found = replay(idoit, "idoit.search", {"q": "nothing like this"})
    assert found == []
    version = replay(idoit, "idoit.version", {})
    assert set(version) >= {"login", "version", "step", "type"}
    constants = replay(idoit, "idoit.constants", {})
    assert constants["objectTypes"]["C__OBJTYPE__SERVER"] == "Server"
    assert constants["categories"]["g"]["C__CATG__GLOBAL"] == "General"
    assert constants["recordStates"]["C__RECORD_STATUS__NORMAL"] == "Normal"
