"""cmdb.objects_by_relation.read: relations saved as C__CATG__RELATION entries are found from
both sides with i-doit's phrases, filtered by type (id or constant) and status, in a constant
number of queries; bad input answers in i-doit's error format; idoitapi's client reads them."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from tests.dialects.idoit.conftest import API_KEY, Idoit, counting
from tests.live_server import LiveServer

SOFTWARE, USER = 1, 5


def _object(idoit: Idoit, type_: str, title: str) -> int:
    return int(idoit.ok("cmdb.object.create", {"type": type_, "title": title})["id"])


def _relate(idoit: Idoit, on: int, master: int | None, slave: int, type_: Any) -> int:
    data: dict[str, Any] = {"object2": slave, "relation_type": type_}
    if master is not None:
        data["object1"] = master
    return int(
        idoit.ok("cmdb.category.save", {"object": on, "category": "C__CATG__RELATION", "data": data})["entry"]
    )


def test_relations_from_both_sides(idoit: Idoit) -> None:
    server = _object(idoit, "C__OBJTYPE__SERVER", "db01")
    app = _object(idoit, "C__OBJTYPE__APPLICATION", "PostgreSQL")
    person = _object(idoit, "C__OBJTYPE__PERSON", "Jane Doe")
    unrelated = _object(idoit, "C__OBJTYPE__SERVER", "web9")
    runs = _relate(idoit, server, None, app, SOFTWARE)  # object1 defaults to the object it is on
    uses = _relate(idoit, person, server, person, USER)

    of_server = idoit.ok("cmdb.objects_by_relation.read", {"id": server})
    assert set(of_server) == {str(runs), str(uses)}
    run = of_server[str(runs)]
    assert run["children"] is False
    assert run["data"] == {
        "id": runs,
        "title": "db01 is running PostgreSQL",
        "cmdb_status_title": "",
        "related_object": app,
        "related_title": "PostgreSQL",
        "related_type": 2,
        "related_type_title": "Application",
        "related_cmdb_status_title": "in operation",
        "master": server,
        "slave": app,
        "type": 60,
        "type_title": "Relation",
    }
    assert of_server[str(uses)]["data"]["title"] == "db01 is used by Jane Doe"
    assert of_server[str(uses)]["data"]["related_object"] == person
    # the other side sees it too, with the server as the related object
    of_app = idoit.ok("cmdb.objects_by_relation.read", {"id": app})
    assert list(of_app) == [str(runs)] and of_app[str(runs)]["data"]["related_object"] == server
    # by type, as an id or a constant
    by_id = idoit.ok("cmdb.objects_by_relation.read", {"id": server, "relation_type": USER})
    by_const = idoit.ok(
        "cmdb.objects_by_relation.read", {"id": server, "relation_type": "C__RELATION_TYPE__USER"}
    )
    assert list(by_id) == list(by_const) == [str(uses)]
    assert idoit.ok("cmdb.objects_by_relation.read", {"id": unrelated}) == []
    # status: an archived relation leaves the normal list
    idoit.ok("cmdb.category.archive", {"object": person, "category": "C__CATG__RELATION", "entry": uses})
    assert list(idoit.ok("cmdb.objects_by_relation.read", {"id": server})) == [str(runs)]
    archived = idoit.ok(
        "cmdb.objects_by_relation.read", {"id": server, "status": "C__RECORD_STATUS__ARCHIVED"}
    )
    assert list(archived) == [str(uses)]
    # German titles
    de = idoit.ok("cmdb.objects_by_relation.read", {"id": app, "language": "de"})
    assert de[str(runs)]["data"]["related_cmdb_status_title"] == "in Betrieb"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, -32602),
        ({"id": "x"}, -32602),
        ({"id": 1, "relation_type": "C__RELATION_TYPE__NOPE"}, -32602),
        ({"id": 1, "relation_type": 99999}, -32602),
        ({"id": 1, "relation_type": True}, -32602),
        ({"id": 1, "status": "C__WHAT"}, -32602),
        ({"id": 987654}, -32099),
    ],
)
def test_bad_input(idoit: Idoit, params: dict[str, Any], code: int) -> None:
    assert idoit.error("cmdb.objects_by_relation.read", params)["code"] == code


def _statements(idoit: Idoit, runtime: Runtime, oid: int) -> int:
    with counting(runtime.db) as statements:
        idoit.ok("cmdb.objects_by_relation.read", {"id": oid})
    return len([s for s in statements if s.lstrip().upper().startswith("SELECT") and "cmdb_" in s])


def test_constant_number_of_queries(idoit: Idoit, runtime: Runtime) -> None:
    hub = _object(idoit, "C__OBJTYPE__SERVER", "hub")
    _relate(idoit, hub, None, _object(idoit, "C__OBJTYPE__APPLICATION", "a0"), SOFTWARE)
    one = _statements(idoit, runtime, hub)
    for n in range(1, 15):
        _relate(idoit, hub, None, _object(idoit, "C__OBJTYPE__APPLICATION", f"a{n}"), SOFTWARE)
    assert len(idoit.ok("cmdb.objects_by_relation.read", {"id": hub})) == 15
    assert _statements(idoit, runtime, hub) == one


def test_idoitapi_reads_relations(live: LiveServer) -> None:
    api_mod = pytest.importorskip("idoitapi.API")
    rel_mod = pytest.importorskip("idoitapi.CMDBObjectsByRelation")
    object_mod = pytest.importorskip("idoitapi.CMDBObject")
    category_mod = pytest.importorskip("idoitapi.CMDBCategory")
    api = api_mod.API(url=live.url, key=API_KEY)
    objects = object_mod.CMDBObject(api)
    server = objects.create("C__OBJTYPE__SERVER", "db01")
    app = objects.create("C__OBJTYPE__APPLICATION", "Redis")
    entry = category_mod.CMDBCategory(api).save(
        server, "C__CATG__RELATION", {"object1": server, "object2": app, "relation_type": SOFTWARE}
    )
    by_relation = rel_mod.CMDBObjectsByRelation(api)
    found = by_relation.read_by_const(server, "C__RELATION_TYPE__SOFTWARE")
    assert found[str(entry)]["data"]["related_title"] == "Redis"
    assert by_relation.read_by_id(app, SOFTWARE)[str(entry)]["data"]["master"] == server
