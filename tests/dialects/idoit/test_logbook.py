"""cmdb.logbook.read / cmdb.logbook.create over the audit log: changes made through the
dialect appear as i-doit logbook lines with old -> new values, written messages are lines of
their own, filters page in SQL, a read runs a constant number of queries, and bad input
answers in i-doit's error format. The idoitapi client's logbook paths work unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from tests.dialects.idoit.conftest import API_KEY, Idoit, counting
from tests.live_server import LiveServer


def _server(idoit: Idoit, title: str) -> int:
    return int(idoit.ok("cmdb.object.create", {"type": "C__OBJTYPE__SERVER", "title": title})["id"])


def test_changes_are_logbook_lines_with_old_and_new_values(idoit: Idoit) -> None:
    oid = _server(idoit, "db01")
    other = _server(idoit, "db02")
    idoit.ok("cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "S-1"}})
    idoit.ok("cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "S-2"}})
    idoit.ok("cmdb.object.archive", {"object": oid})

    lines = idoit.ok("cmdb.logbook.read", {"object_id": oid})
    assert [line["event"] for line in lines] == [
        "C__LOGBOOK_EVENT__OBJECT_ARCHIVED",
        "C__LOGBOOK_EVENT__CATEGORY_CHANGED",
        "C__LOGBOOK_EVENT__CATEGORY_CHANGED",
        "C__LOGBOOK_EVENT__OBJECT_CREATED",
    ]
    assert {line["object_id"] for line in lines} == {str(oid)}
    assert {line["object_title"] for line in lines} == {"db01"}
    assert lines[1]["changes"] == {"C__CATG__MODEL::serial": {"from": "S-1", "to": "S-2"}}
    assert lines[2]["changes"] == {"C__CATG__MODEL::serial": {"from": None, "to": "S-1"}}
    assert lines[0]["changes"] == {"C__CATG__GLOBAL::status": {"from": 2, "to": 3}}
    assert lines[0]["source_constant"] == "C__LOGBOOK_SOURCE__INTERNAL" and lines[0]["level_id"] == "1"
    datetime.strptime(lines[0]["date"], "%Y-%m-%d %H:%M:%S")
    assert all(isinstance(line["logbook_id"], str) for line in lines)
    # newest first over all objects; one line by its id
    everything = idoit.ok("cmdb.logbook.read")
    assert everything[0]["object_id"] == str(oid) and any(x["object_id"] == str(other) for x in everything)
    assert idoit.ok("cmdb.logbook.read", {"id": lines[1]["logbook_id"]}) == [lines[1]]
    assert len(idoit.ok("cmdb.logbook.read", {"limit": 2})) == 2
    # status: lines of objects now in that record status
    archived = idoit.ok("cmdb.logbook.read", {"status": "C__RECORD_STATUS__ARCHIVED"})
    assert {x["object_id"] for x in archived} == {str(oid)}
    future = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    assert idoit.ok("cmdb.logbook.read", {"since": future}) == []
    assert idoit.ok("cmdb.logbook.read", {"since": "2000-01-01"}) == everything


def test_written_messages_are_lines(idoit: Idoit) -> None:
    a, b = _server(idoit, "web1"), _server(idoit, "web2")
    result = idoit.ok(
        "cmdb.logbook.create",
        {
            "object_id": a,
            "message": "Disk replaced",
            "description": "by the night shift",
            "comment": "ticket 42",
            "source": "C__LOGBOOK_SOURCE__USER",
            "alert_level": "C__LOGBOOK__ALERT_LEVEL__2",
        },
    )
    assert result["success"] is True and isinstance(result["id"], int)
    line = idoit.ok("cmdb.logbook.read", {"object_id": a})[0]
    assert line["logbook_id"] == str(result["id"])
    assert line["event"] == "Disk replaced"
    assert (line["description"], line["comment"]) == ("by the night shift", "ticket 42")
    assert (line["source"], line["source_constant"], line["level_id"]) == (
        "Manual entries",
        "C__LOGBOOK_SOURCE__USER",
        "3",
    )
    assert line["username"] and line["changes"] == {}

    idoit.ok("cmdb.logbook.create", {"object_ids": f"{a},{b}", "message": "Patched"})
    for oid in (a, b):
        newest = idoit.ok("cmdb.logbook.read", {"object_id": oid})[0]
        assert newest["event"] == "Patched" and newest["source_constant"] == "C__LOGBOOK_SOURCE__EXTERNAL"


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("cmdb.logbook.create", {"message": "x"}, -32602),
        ("cmdb.logbook.create", {"object_id": "abc", "message": "x"}, -32602),
        ("cmdb.logbook.create", {"object_id": 1}, -32602),
        ("cmdb.logbook.create", {"object_id": 1, "message": "  "}, -32602),
        ("cmdb.logbook.create", {"object_id": 1, "message": ["x"]}, -32602),
        ("cmdb.logbook.create", {"object_id": 1, "message": "x", "alert_level": 9}, -32602),
        ("cmdb.logbook.create", {"object_id": 1, "message": "x", "source": "C__NOPE"}, -32602),
        ("cmdb.logbook.create", {"object_ids": {"a": 1}, "message": "x"}, -32602),
        ("cmdb.logbook.create", {"object_id": 987654, "message": "x"}, -32099),
        ("cmdb.logbook.read", {"since": "yesterday"}, -32602),
        ("cmdb.logbook.read", {"since": "2024-13-45"}, -32602),
        ("cmdb.logbook.read", {"object_id": "x"}, -32602),
        ("cmdb.logbook.read", {"limit": -1}, -32602),
        ("cmdb.logbook.read", {"status": "C__WHAT"}, -32602),
    ],
)
def test_bad_input(idoit: Idoit, method: str, params: dict[str, object], code: int) -> None:
    assert idoit.error(method, params)["code"] == code


def test_a_failed_write_leaves_no_line(idoit: Idoit) -> None:
    oid = _server(idoit, "keep")
    before = idoit.ok("cmdb.logbook.read")
    idoit.error("cmdb.logbook.create", {"object_ids": [oid, 987654], "message": "x"})
    assert idoit.ok("cmdb.logbook.read") == before


def _read_statements(idoit: Idoit, runtime: Runtime) -> int:
    with counting(runtime.db) as statements:
        idoit.ok("cmdb.logbook.read")
    return len(
        [
            s
            for s in statements
            if s.lstrip().upper().startswith("SELECT") and ("audit_log" in s or "cmdb_" in s)
        ]
    )


def test_read_runs_a_constant_number_of_queries(idoit: Idoit, runtime: Runtime) -> None:
    oid = _server(idoit, "one")
    idoit.ok("cmdb.logbook.create", {"object_id": oid, "message": "m"})
    few = _read_statements(idoit, runtime)
    for n in range(15):
        o = _server(idoit, f"s{n}")
        idoit.ok(
            "cmdb.category.save", {"object": o, "category": "C__CATG__MODEL", "data": {"serial": str(n)}}
        )
        idoit.ok("cmdb.logbook.create", {"object_id": o, "message": "m"})
    assert len(idoit.ok("cmdb.logbook.read")) >= 46
    assert _read_statements(idoit, runtime) == few


def test_idoitapi_logbook(live: LiveServer) -> None:
    api_mod = pytest.importorskip("idoitapi.API")
    logbook_mod = pytest.importorskip("idoitapi.CMDBLogbook")
    object_mod = pytest.importorskip("idoitapi.CMDBObject")
    api = api_mod.API(url=live.url, key=API_KEY)
    oid = object_mod.CMDBObject(api).create("C__OBJTYPE__SERVER", "rack-srv")
    book = logbook_mod.CMDBLogbook(api)
    book.create(oid, "Moved to rack 4", "from rack 2")
    book.batch_create(oid, ["first", "second"])
    mine = book.read_by_object(oid)
    assert [x["event"] for x in mine[:3]] == ["second", "first", "Moved to rack 4"]
    assert mine[2]["description"] == "from rack 2"
    assert any(x["object_id"] == str(oid) for x in book.read(since="2000-01-01 00:00:00", limit=10))
