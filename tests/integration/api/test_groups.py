"""Groups: hierarchy, moves and cycles, unique names per parent, membership, deletion."""

from __future__ import annotations

from tests.integration.api.conftest import Api, assert_error


def group(api: Api, name: str, parent_id: int | None = None) -> int:
    body: dict[str, object] = {"name": name}
    if parent_id is not None:
        body["parent_id"] = parent_id
    r = api.post("/groups", json=body)
    assert r.status_code == 201, r.text
    gid: int = r.json()["data"]["id"]
    return gid


def computer(api: Api, hostname: str) -> int:
    r = api.post("/computers", json={"hostname": hostname})
    assert r.status_code == 201, r.text
    cid: int = r.json()["data"]["id"]
    return cid


def test_hierarchy_and_moves(admin_api: Api) -> None:
    top = group(admin_api, "Berlin")
    mid = group(admin_api, "Office", top)
    leaf = group(admin_api, "Desks", mid)
    r = admin_api.get(f"/groups/{leaf}")
    assert r.json()["data"]["parent_id"] == mid
    assert r.json()["data"]["key"] == "desks"

    children = admin_api.get("/groups", params={"filter[parent_id]": top}).json()
    assert [g["name"] for g in children["data"]] == ["Office"]
    roots = admin_api.get("/groups", params={"filter[parent_id][is_null]": "true"}).json()
    assert [g["name"] for g in roots["data"]] == ["Berlin"]

    # Renaming alone keeps the parent; an explicit null moves to the root.
    r = admin_api.patch(f"/groups/{leaf}", json={"name": "Desk row", "description": "3rd floor"})
    assert r.json()["data"]["parent_id"] == mid
    assert r.json()["data"]["description"] == "3rd floor"
    r = admin_api.patch(f"/groups/{leaf}", json={"parent_id": None})
    assert r.status_code == 200
    assert r.json()["data"]["parent_id"] is None
    r = admin_api.patch(f"/groups/{leaf}", json={"parent_id": top})
    assert r.json()["data"]["parent_id"] == top
    read = admin_api.get(f"/groups/{leaf}").json()["data"]
    assert (read["name"], read["description"], read["parent_id"]) == ("Desk row", "3rd floor", top)


def test_cycle_is_422(admin_api: Api) -> None:
    top = group(admin_api, "A")
    child = group(admin_api, "B", top)
    error = assert_error(
        admin_api.patch(f"/groups/{top}", json={"parent_id": child}), 422, "validation_failed"
    )
    assert error["detail"]["field"] == "parent_id"
    assert_error(admin_api.patch(f"/groups/{top}", json={"parent_id": top}), 422)
    assert_error(admin_api.patch(f"/groups/{top}", json={"parent_id": 999999}), 404)
    assert_error(admin_api.post("/groups", json={"name": "C", "parent_id": 999999}), 404)


def test_name_unique_per_parent(admin_api: Api) -> None:
    a = group(admin_api, "A")
    b = group(admin_api, "B")
    group(admin_api, "Servers", a)
    group(admin_api, "Servers", b)  # same name, other parent: fine
    assert_error(admin_api.post("/groups", json={"name": "servers", "parent_id": a}), 409, "conflict")
    assert_error(admin_api.post("/groups", json={"name": "A"}), 409)
    other = group(admin_api, "Other", a)
    assert_error(admin_api.patch(f"/groups/{other}", json={"name": "Servers"}), 409)


def test_membership(admin_api: Api) -> None:
    gid = group(admin_api, "Web")
    c1, c2, c3 = (computer(admin_api, h) for h in ("web-1", "web-2", "db-1"))
    r = admin_api.post(f"/groups/{gid}/members", json={"computer_ids": [c1, c2]})
    assert r.status_code == 200
    assert r.json()["data"]["added"] == [c1, c2]
    r = admin_api.post(f"/groups/{gid}/members", json={"computer_ids": [c2, c3]})
    assert r.json()["data"]["added"] == [c3]
    assert admin_api.get(f"/groups/{gid}").json()["data"]["member_count"] == 3

    members = admin_api.get(f"/groups/{gid}/members", params={"sort": "hostname"}).json()
    assert members["meta"]["count"] == 3
    assert [c["hostname"] for c in members["data"]] == ["db-1", "web-1", "web-2"]
    filtered = admin_api.get(f"/groups/{gid}/members", params={"filter[hostname]": "web*"}).json()
    assert filtered["meta"]["count"] == 2

    assert (
        admin_api.request("DELETE", f"/groups/{gid}/members", json={"computer_ids": [c1, c3]}).status_code
        == 204
    )
    assert admin_api.delete(f"/groups/{gid}/members/{c2}").status_code == 204
    assert admin_api.get(f"/groups/{gid}/members").json()["meta"]["count"] == 0

    error = assert_error(admin_api.post(f"/groups/{gid}/members", json={"computer_ids": [999999]}), 404)
    assert error["detail"]["object_type"] == "computer"
    assert_error(admin_api.post(f"/groups/{gid}/members", json={"computer_ids": []}), 422)
    assert_error(admin_api.get("/groups/999999/members"), 404)


def test_delete(admin_api: Api) -> None:
    top = group(admin_api, "Top")
    child = group(admin_api, "Child", top)
    assert_error(admin_api.delete(f"/groups/{top}"), 409, "conflict")
    assert admin_api.delete(f"/groups/{child}").status_code == 204
    assert admin_api.delete(f"/groups/{top}").status_code == 204
    assert_error(admin_api.get(f"/groups/{top}"), 404)
    assert admin_api.get("/groups").json()["meta"]["count"] == 0
