"""opsi HostGroups are fleetdeck computer groups, ProductGroups package groups; ObjectToGroup
rows are their memberships."""

from __future__ import annotations

from .conftest import Rpc

CLIENT = {"type": "OpsiClient", "id": "ws-01.example.org"}


def test_host_groups_round_trip_with_v1(rpc: Rpc) -> None:
    rpc.ok("group_createHostGroup", "sub2", "sub two")
    rpc.ok("group_createHostGroup", named={"id": "subsub", "parentGroupId": "sub2"})
    groups = {g["id"]: g for g in rpc.ok("group_getObjects")}
    assert groups["subsub"] == {
        "id": "subsub",
        "description": "",
        "notes": "",
        "parentGroupId": "sub2",
        "type": "HostGroup",
        "ident": "subsub",
    }
    assert groups["sub2"]["description"] == "sub two" and groups["sub2"]["parentGroupId"] is None
    v1 = rpc.client.get("/api/v1/groups", headers={"Authorization": rpc.auth}).json()["data"]
    assert sorted(g["key"] for g in v1) == ["sub2", "subsub"]
    # updateObject changes only non-null attributes; insertObject overwrites everything
    changed = {"type": "HostGroup", "id": "subsub", "parentGroupId": None, "description": "d"}
    rpc.ok("group_updateObject", changed)
    kept = rpc.ok("group_getObjects", [], {"id": "subsub"})[0]
    assert kept["parentGroupId"] == "sub2" and kept["description"] == "d"
    rpc.ok("group_insertObject", {"type": "HostGroup", "id": "subsub"})
    moved = rpc.ok("group_getObjects", [], {"id": "subsub"})[0]
    assert moved["parentGroupId"] is None and moved["description"] == ""
    rpc.ok("group_delete", "sub*")
    assert rpc.ok("group_getObjects") == []


def test_memberships(rpc: Rpc) -> None:
    rpc.ok("host_createObjects", [CLIENT])
    rpc.ok("group_createHostGroup", "lab")
    rpc.ok("objectToGroup_create", "HostGroup", "lab", "ws-01.example.org")
    rows = rpc.ok("objectToGroup_getObjects", [], {"groupId": "lab"})
    assert rows == [
        {
            "groupType": "HostGroup",
            "groupId": "lab",
            "objectId": "ws-01.example.org",
            "type": "ObjectToGroup",
            "ident": "HostGroup;lab;ws-01.example.org",
        }
    ]
    assert rpc.ok("objectToGroup_getIdents", "str") == ["HostGroup;lab;ws-01.example.org"]
    group_id = next(
        g["id"] for g in rpc.client.get("/api/v1/groups", headers={"Authorization": rpc.auth}).json()["data"]
    )
    members = rpc.client.get(f"/api/v1/groups/{group_id}/members", headers={"Authorization": rpc.auth}).json()
    assert [m["hostname"] for m in members["data"]] == ["ws-01"]
    rpc.ok("objectToGroup_delete", "HostGroup", "lab", "ws-01.example.org")
    assert rpc.ok("objectToGroup_getObjects") == []


def test_bad_groups(rpc: Rpc) -> None:
    assert rpc.error("group_createHostGroup", "Bad Id!")["class"] == "ValueError"
    assert rpc.error("group_insertObject", {"type": "UserGroup", "id": "pg"})["class"] == "ValueError"
    rpc.ok("group_insertObject", {"type": "ProductGroup", "id": "pg"})
    # ids are unique across both kinds, as in opsi
    assert rpc.error("group_updateObject", {"type": "HostGroup", "id": "pg"}) == {
        "class": "ValueError",
        "message": "Group 'pg' is a ProductGroup",
    }
    assert rpc.error("objectToGroup_create", "ProductGroup", "pg", "no-such-product") == {
        "class": "BackendMissingDataError",
        "message": "Product 'no-such-product' not found",
    }
    assert rpc.error("objectToGroup_create", "ProductGroup", "pg", "Bad Product!")["class"] == "ValueError"
    err = rpc.error("group_createHostGroup", "child", "", "", "no-such-parent")
    assert err == {"class": "BackendMissingDataError", "message": "Parent group 'no-such-parent' not found"}
    assert [g["id"] for g in rpc.ok("group_getObjects")] == ["pg"]  # the refusals changed nothing
    assert rpc.error("objectToGroup_create", "HostGroup", "nope", "ws-01.example.org")["class"] == (
        "BackendMissingDataError"
    )


PRODUCT = {
    "type": "LocalbootProduct",
    "id": "firefox",
    "productVersion": "120.0",
    "packageVersion": "1",
    "setupScript": "install",
}


def test_product_groups_are_package_groups(rpc: Rpc) -> None:
    rpc.ok(
        "product_createObjects", [PRODUCT, {**PRODUCT, "productVersion": "121.0"}, {**PRODUCT, "id": "vlc"}]
    )
    rpc.ok("group_createObjects", [{"type": "ProductGroup", "id": "browsers", "description": "Web"}])
    rpc.ok("group_insertObject", {"type": "ProductGroup", "id": "firefox-only", "parentGroupId": "browsers"})
    rpc.ok("objectToGroup_create", "ProductGroup", "browsers", "firefox")
    rpc.ok(
        "objectToGroup_createObjects",
        [{"groupType": "ProductGroup", "groupId": "browsers", "objectId": "vlc"}],
    )
    rpc.ok("objectToGroup_create", "ProductGroup", "browsers", "firefox")  # again: nothing changes
    members = rpc.ok("objectToGroup_getObjects", [], {"groupType": "ProductGroup", "groupId": "browsers"})
    assert [(m["objectId"], m["ident"]) for m in members] == [
        ("firefox", "ProductGroup;browsers;firefox"),
        ("vlc", "ProductGroup;browsers;vlc"),
    ]
    (child,) = rpc.ok("group_getObjects", [], {"type": "ProductGroup", "parentGroupId": "browsers"})
    assert child["id"] == "firefox-only"
    assert {g["id"] for g in rpc.ok("group_getObjects", [], {"type": "Group"})} == {
        "browsers",
        "firefox-only",
    }
    # the same group in /api/v1, holding the newest firefox package
    auth = {"Authorization": rpc.auth}
    groups = rpc.client.get("/api/v1/package-groups", headers=auth).json()["data"]
    browsers = next(g for g in groups if g["name"] == "browsers")
    assert browsers["description"] == "Web" and browsers["package_count"] == 2
    listing = rpc.client.get(f"/api/v1/package-groups/{browsers['id']}/members", headers=auth).json()["data"]
    assert sorted((m["package"]["family_name"], m["package"]["version"]) for m in listing) == [
        ("firefox", "121.0"),
        ("vlc", "120.0"),
    ]
    rpc.ok("objectToGroup_delete", "ProductGroup", "browsers", "firefox")
    members = rpc.ok("objectToGroup_getIdents", "str", {"groupType": "ProductGroup"})
    assert members == ["ProductGroup;browsers;vlc"]
    rpc.ok("group_delete", "firefox-only")
    rpc.ok("group_updateObject", {"id": "browsers", "description": "Browsers"})
    (browsers_row,) = rpc.ok("group_getObjects", [], {"id": "browsers"})
    assert browsers_row["description"] == "Browsers" and browsers_row["type"] == "ProductGroup"
