"""The other i-doit clients on PyPI, unchanged, against a live fleetdeck server on loopback:
each one's read paths and a write path (``idoitapi`` has its own file, ``test_clients``).

* ``idoit`` 0.2: API key plus a login session; reads version, constants, search, objects,
  category entries; writes through its generic ``API.request`` (it has no write helpers).
* ``pydoit`` 0.0.4: sends the user's credentials as X-RPC-Auth headers until ``login``.
* ``pyidoit`` 0.0.2: returns whole response bodies. Its ``cmdb_object_create`` is broken
  upstream (it sends ``cmdb.object.read``), so are ``cmdb_object_archive`` (``cmdb.object.Integer``)
  and ``idoit_logout``, and its category methods are stubs: its write paths here are
  ``cmdb_object_update`` and ``cmdb_object_mark_as_template``.
* ``idoit-scaleup`` 0.0.18: HTTP basic auth plus the API key; search, objects by type and
  title, create-if-missing, category save/read, archive.

Not here: ``idoit-api-client`` 0.1.0 is broken upstream: its ``API.request`` evaluates the
response but never returns it, so every helper gets ``None`` (``CMDBObject.create`` fails with
``TypeError`` against any server)."""

from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from tests.dialects.idoit.conftest import API_KEY, PATH
from tests.dialects.idoit.test_inventory import inventory, report
from tests.live_server import LiveServer

USER, PASSWORD = "admin", "admin-password-1"


HOST = "ws-17"  # the host name the inventory of tests.dialects.idoit.test_inventory reports


def _computer(runtime: Runtime, admin: Actor) -> None:
    cid = runtime.services.computers.create(admin, "new-pc").id
    report(runtime, cid, inventory([m.Software("firefox", "128.0")]))


def test_idoit(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    idoit = pytest.importorskip("idoit")
    exception = pytest.importorskip("idoit.exception")
    _computer(runtime, admin)
    api = idoit.API(url=live.url + PATH, key=API_KEY, username=USER, password=PASSWORD)
    api.login()
    info = idoit.Idoit(api=api)
    assert info.get_version()["version"] == "1.16"
    assert "objectTypes" in info.get_constants()
    hits = info.search(HOST)
    oid = int(hits[0]["documentId"])
    objects = idoit.CMDBObjects(api=api).read({"title": HOST})
    assert [int(o["id"]) for o in objects] == [oid]
    apps = idoit.CMDBCategory(api=api).read(oid, category="C__CATG__APPLICATION")
    assert [a["application"]["title"] for a in apps] == ["firefox"]
    # write: the generic request, as the client's users do
    new = api.request("cmdb.object.create", {"type": "C__OBJTYPE__SERVER", "title": "db-21"})
    api.request(
        "cmdb.category.save", {"object": new["id"], "category": "C__CATG__MODEL", "data": {"serial": "S21"}}
    )
    assert idoit.CMDBCategory(api=api).read(new["id"], category="C__CATG__MODEL")[0]["serial"] == "S21"
    with pytest.raises(exception.InvalidParams):
        api.request("cmdb.object.create", {"title": "no type"})
    api.logout()


def test_pydoit(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    api_mod = pytest.importorskip("pydoit.api")
    _computer(runtime, admin)
    client = api_mod.Idoit(live.url + PATH, API_KEY, USER, PASSWORD)
    assert client.version()["login"]["username"] == USER  # credentials as headers
    assert "objectTypes" in client.constants()
    client.login()
    oid = int(client.search(HOST)[0]["documentId"])
    assert client.object_read(oid)["title"] == HOST
    created = client.object_create("C__OBJTYPE__SERVER", "db-22")
    new = created["id"]
    assert client.object_read(new)["title"] == "db-22"
    client.object_update(new, "db-22b")
    client.object_archive(new)
    assert client.object_read(new)["status"] == 3
    with pytest.raises(api_mod.IdoitRequestError):
        client.object_read("x")
    client.logout()


def test_pyidoit(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    client_mod = pytest.importorskip("pyidoit.client")
    _computer(runtime, admin)
    client = client_mod.IDoitClient(live.url + PATH, API_KEY, USER, PASSWORD)
    assert client.idoit_version()["result"]["version"] == "1.16"
    assert "objectTypes" in client.idoit_constants()["result"]
    oid = int(client.idoit_search(HOST)["result"][0]["documentId"])
    assert client.cmdb_object_read(oid)["result"]["title"] == HOST
    listed = client.cmdb_objects_read(type="C__OBJTYPE__CLIENT", limit=10, order_by="title")["result"]
    assert [int(o["id"]) for o in listed] == [oid]
    # write: update and archive (its create is broken upstream)
    new = runtime.services.cmdb.create(admin, "C__OBJTYPE__SERVER", "db-23")[0]
    assert client.cmdb_object_update(new, "db-23b")["result"]["success"] is True
    assert client.cmdb_object_read(new)["result"]["title"] == "db-23b"
    assert client.cmdb_object_mark_as_template(new)["result"]["success"] is True
    assert client.cmdb_object_read(new)["result"]["status"] == 6
    # its archive sends "cmdb.object.Integer": an unknown method, answered as i-doit does
    assert client.cmdb_object_archive(new)["error"]["code"] == -32601
    assert client.cmdb_object_read("x")["error"]["code"] == -32602
    assert client.idoit_login(USER, PASSWORD)["result"]["session-id"]


def test_idoit_scaleup(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    scaleup = pytest.importorskip("idoit_scaleup")
    _computer(runtime, admin)
    cfg = {"jrpc_url": live.url + PATH, "api_key": API_KEY, "user": USER, "password": PASSWORD}
    oid = int(scaleup.IDoitSearch(cfg).search(HOST)[0]["documentId"])
    clients = scaleup.IDoitObject(cfg, "C__OBJTYPE__CLIENT")
    assert int(clients.get_by_title(HOST)["id"]) == oid
    assert [int(o["id"]) for o in clients.get_all()] == [oid]
    assert clients.get_by_id(str(oid))["title"] == HOST
    # (not its IDoitApplication: it takes each application link's id as an int, and fleetdeck
    # makes no application objects for installed software, docs/dialects/idoit.md)
    # write: an object created if missing, a model entry saved and read back (read_category
    # asks cmdb.category_info first, then cmdb.category)
    servers = scaleup.IDoitObject(cfg, "C__OBJTYPE__SERVER")
    new = servers.create_object_if_not_there("db-24")
    assert servers.create_object_if_not_there("db-24") == new
    model = scaleup.IDoitCategory(cfg, "C__CATG__MODEL")
    assert model.save_category(new, {"serial": "S24"})["result"]["success"] is True
    assert model.read_category(new)["serial"] == "S24"
    servers.archive_object(new)
    assert servers.get_by_id(new)["status"] == 3
