"""Computer groups and package families are CMDB objects: an object group whose members
category lists its member computers' objects, and an application whose version entries are
its packages. Created and removed with the group or family, titled with its name (a rename
shows at once), read-only where core owns the data, listed with a type filter in a constant
number of queries."""

from __future__ import annotations

from typing import Any

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.packages.entities import PackageFields
from tests import factories
from tests.dialects.idoit.conftest import Idoit, counting

GROUP = "C__OBJECT_TYPE__GROUP"
APPLICATION = "C__OBJTYPE__APPLICATION"


def _object_of(idoit: Idoit, type_const: str, title: str) -> dict[str, Any]:
    rows = idoit.ok("cmdb.objects.read", {"filter": {"type": type_const, "title": title}})
    assert len(rows) == 1, rows
    return dict(rows[0])


def _computer_object(idoit: Idoit, hostname: str) -> int:
    found = idoit.ok("cmdb.objects.read", {"filter": {"title": hostname}})
    assert len(found) == 1, found
    return int(found[0]["id"])


def test_a_computer_group_is_an_object_group(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    s = runtime.services
    pc1 = factories.computer(s, admin, "pc-one")
    pc2 = factories.computer(s, admin, "pc-two")
    gid = factories.group(s, admin, "Accounting", [pc1, pc2])
    # a package group is no object group
    s.groups.create(admin, "Office apps", kind="package")
    assert idoit.ok("cmdb.objects.read", {"filter": {"type": GROUP, "title": "Office apps"}}) == []
    obj = _object_of(idoit, GROUP, "Accounting")
    oid = obj["id"]
    assert obj["type_title"] == "Object group"
    members = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATS__GROUP"})
    member_ids = sorted(int(m["object"]["id"]) for m in members)
    assert member_ids == sorted([_computer_object(idoit, "pc-one"), _computer_object(idoit, "pc-two")])
    assert {m["object"]["title"] for m in members} == {"pc-one", "pc-two"}
    # core's data, not a copy: membership and name changes show at once
    s.groups.remove_members(admin, gid, [pc2])
    members = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATS__GROUP"})
    assert [m["object"]["title"] for m in members] == ["pc-one"]
    s.groups.update(admin, gid, name="Finance")
    assert _object_of(idoit, GROUP, "Finance")["id"] == oid
    # read-only here, with the reason
    for method, params in (
        ("cmdb.category.save", {"object": oid, "category": "C__CATS__GROUP", "data": {"object": 1}}),
        ("cmdb.category.save", {"object": oid, "category": "C__CATG__GLOBAL", "data": {"title": "X"}}),
        ("cmdb.object.update", {"id": oid, "title": "X"}),
        ("cmdb.category.quickpurge", {"object": oid, "category": "C__CATS__GROUP"}),
    ):
        err = idoit.error(method, params)
        assert err["code"] == -32099, (method, err)
    idoit.ok("cmdb.object.archive", {"object": oid})
    idoit.ok("cmdb.object.delete", {"object": oid})
    assert "delete the group" in idoit.error("cmdb.object.purge", {"object": oid})["data"]["error"]
    # removed with the group
    s.groups.delete(admin, gid)
    assert idoit.ok("cmdb.object.read", {"id": oid}) == []


def test_a_package_family_is_an_application(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    s = runtime.services
    p1 = factories.package(s, admin, "7-Zip", "23.01", description="archiver")
    p2 = factories.package(s, admin, "7-Zip", "24.08")
    obj = _object_of(idoit, APPLICATION, "7-Zip")
    oid = obj["id"]
    versions = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__VERSION"})
    assert [(int(v["id"]), v["title"]) for v in versions] == [(p1.id, "23.01"), (p2.id, "24.08")]
    assert versions[0]["description"] == "archiver"
    app = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATS__APPLICATION"})
    assert len(app) == 1
    # a new version shows at once; the family's rename too
    p3 = s.packages.create(
        admin, "7-Zip", "25.00", PackageFields(install_procedure="i", uninstall_procedure="u")
    )
    versions = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__VERSION"})
    assert [v["title"] for v in versions] == ["23.01", "24.08", "25.00"]
    family_id = p1.family_id
    s.packages.update_family(admin, family_id, name="7zip")
    assert _object_of(idoit, APPLICATION, "7zip")["id"] == oid
    for method, params in (
        ("cmdb.category.save", {"object": oid, "category": "C__CATG__VERSION", "data": {"title": "9"}}),
        (
            "cmdb.category.save",
            {"object": oid, "category": "C__CATS__APPLICATION", "data": {"description": "x"}},
        ),
        ("cmdb.object.update", {"id": oid, "title": "X"}),
    ):
        err = idoit.error(method, params)
        assert err["code"] == -32099, (method, err)
    idoit.ok("cmdb.object.archive", {"object": oid})
    idoit.ok("cmdb.object.delete", {"object": oid})
    assert "delete the package" in idoit.error("cmdb.object.purge", {"object": oid})["data"]["error"]
    # removed with the family
    for pid in (p1.id, p2.id, p3.id):
        s.packages.delete(admin, pid)
    assert idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__VERSION"}) == []
    s.packages.delete_family(admin, family_id)
    assert idoit.ok("cmdb.object.read", {"id": oid}) == []


def test_groups_and_applications_list_in_a_constant_number_of_queries(
    idoit: Idoit, runtime: Runtime, admin: Actor
) -> None:
    s = runtime.services

    def statements() -> int:
        seen_rows: list[Any] = []
        with counting(runtime.db) as seen:
            for t in (GROUP, APPLICATION):
                seen_rows += idoit.ok("cmdb.objects.read", {"filter": {"type": t}, "categories": True})
        assert all(r["categories"] for r in seen_rows)
        return len([q for q in seen if q.lstrip().upper().startswith("SELECT")])

    pc = factories.computer(s, admin, "pc-0")
    factories.group(s, admin, "g0", [pc])
    factories.package(s, admin, "app0", "1")
    statements()  # warm the caches (settings, catalog) the first request fills
    few = statements()
    for n in range(1, 8):
        pcs = [factories.computer(s, admin, f"pc-{n}-{k}") for k in range(2)]
        factories.group(s, admin, f"g{n}", pcs)
        factories.package(s, admin, f"app{n}", "1")
        factories.package(s, admin, f"app{n}", "2")
    assert statements() == few
