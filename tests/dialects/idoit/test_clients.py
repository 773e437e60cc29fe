"""Real i-doit clients from PyPI, unchanged, against a live fleetdeck server on loopback:
``idoitapi`` (a port of i-doit's PHP client) with a user login session, its read paths and a
write path."""

from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from tests.dialects.idoit.conftest import API_KEY
from tests.dialects.idoit.test_inventory import inventory, report
from tests.live_server import LiveServer

idoitapi = pytest.importorskip("idoitapi.API")
cmdb_object = pytest.importorskip("idoitapi.CMDBObject")
cmdb_objects = pytest.importorskip("idoitapi.CMDBObjects")
cmdb_category = pytest.importorskip("idoitapi.CMDBCategory")
cmdb_types = pytest.importorskip("idoitapi.CMDBObjectTypes")
idoit_ns = pytest.importorskip("idoitapi.Idoit")


def test_idoitapi_reads_and_writes(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    cid = runtime.services.computers.create(admin, "ws-17").id
    report(runtime, cid, inventory([m.Software("firefox", "128.0")]))
    api = idoitapi.API(url=live.url, key=API_KEY, username="admin", password="admin-password-1")
    api.login()
    assert api.is_logged_in()
    assert idoit_ns.Idoit(api).read_version()["version"] == "1.16"
    assert api.request("idoit.version")["login"]["username"] == "admin"  # the session's user

    types = cmdb_types.CMDBObjectTypes(api).read()
    assert any(t["const"] == "C__OBJTYPE__SERVER" for t in types)
    objects = cmdb_objects.CMDBObjects(api)
    oid = objects.get_id("ws-17")
    assert cmdb_object.CMDBObject(api).read(oid)["title"] == "ws-17"
    apps = cmdb_category.CMDBCategory(api).read(oid, "C__CATG__APPLICATION")
    assert [a["application"]["title"] for a in apps] == ["firefox"]

    # a write: a new object with a category entry, read back
    new_id = cmdb_object.CMDBObject(api).create("C__OBJTYPE__SERVER", "db-7")
    entry = cmdb_category.CMDBCategory(api).save(new_id, "C__CATG__MODEL", {"serial": "S-7"})
    assert isinstance(entry, int)
    assert cmdb_category.CMDBCategory(api).read_first(new_id, "C__CATG__MODEL")["serial"] == "S-7"
    assert [o["id"] for o in objects.read_by_type("C__OBJTYPE__SERVER")] == [new_id]
    cmdb_object.CMDBObject(api).archive(new_id)
    assert [o["id"] for o in objects.read_archived()] == [new_id]
    api.logout()
    assert not api.is_logged_in()
