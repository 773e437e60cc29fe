"""/reports and /report-groups over HTTP: CRUD, execution, and errors that are never a 500."""

from __future__ import annotations

from tests.integration.api.conftest import Api, assert_error


def test_crud_and_execute(admin_api: Api, viewer_api: Api) -> None:
    g = admin_api.post("/report-groups", json={"name": "Inventory"})
    assert g.status_code == 201, g.text
    gid = g.json()["data"]["id"]
    r = admin_api.post(
        "/reports",
        json={"name": "Users", "query": "SELECT username FROM users ORDER BY username", "group_id": gid},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["data"]["id"]
    assert r.json()["data"]["created_by"] == "admin"
    listed = admin_api.get("/reports", params={"filter[group_id]": gid}).json()
    assert [x["id"] for x in listed["data"]] == [rid]
    # A report runs with its caller's permissions: a viewer may not list user accounts.
    error = assert_error(viewer_api.post(f"/reports/{rid}/execute"), 400)
    assert (error["code"], error["detail"]["kind"]) == ("report_failed", "forbidden")
    assert error["message"].startswith("report may not read users")
    result = admin_api.post(f"/reports/{rid}/execute")
    assert result.status_code == 200, result.text
    assert result.json()["data"]["rows"] == [{"username": "admin"}, {"username": "victor"}]
    assert result.json()["data"]["columns"] == ["username"]
    assert result.json()["data"]["truncated"] is False
    r = admin_api.patch(f"/reports/{rid}", json={"name": "People", "group_id": None})
    assert r.json()["data"]["name"] == "People"
    assert r.json()["data"]["group_id"] is None
    r = admin_api.patch(f"/reports/{rid}", json={"notes": "n"})
    assert r.json()["data"]["group_id"] is None
    read = admin_api.get(f"/reports/{rid}").json()["data"]
    assert (read["name"], read["notes"], read["group_id"]) == ("People", "n", None)
    assert admin_api.delete(f"/report-groups/{gid}").status_code == 204
    assert_error(admin_api.get(f"/report-groups/{gid}"), 404)
    assert admin_api.delete(f"/reports/{rid}").status_code == 204
    assert_error(admin_api.get(f"/reports/{rid}"), 404)


def test_group_with_reports_cannot_be_deleted(admin_api: Api) -> None:
    gid = admin_api.post("/report-groups", json={"name": "G"}).json()["data"]["id"]
    sub = admin_api.post("/report-groups", json={"name": "S", "parent_id": gid}).json()["data"]["id"]
    assert_error(admin_api.delete(f"/report-groups/{gid}"), 409)
    assert_error(admin_api.patch(f"/report-groups/{gid}", json={"parent_id": sub}), 422)
    admin_api.post("/reports", json={"name": "R", "query": "SELECT 1", "group_id": sub})
    assert_error(admin_api.delete(f"/report-groups/{sub}"), 409)
    assert_error(admin_api.post("/report-groups", json={"name": "g"}), 409)
    roots = admin_api.get("/report-groups", params={"filter[parent_id][is_null]": "true"}).json()["data"]
    assert [x["name"] for x in roots] == ["G"]


def test_only_select_and_bad_sql(admin_api: Api) -> None:
    error = assert_error(admin_api.post("/reports", json={"name": "x", "query": "DELETE FROM users"}), 422)
    assert error["message"] == "Only SELECT queries are allowed in reports"
    assert_error(admin_api.post("/reports/query", json={"query": "DROP TABLE users"}), 422)
    error = assert_error(admin_api.post("/reports/query", json={"query": "SELECT nope FROM nothing"}), 400)
    assert error["code"] == "report_failed"
    assert error["message"].startswith("SQL error: ")
    rid = admin_api.post("/reports", json={"name": "bad", "query": "SELECT FROM WHERE ("}).json()["data"][
        "id"
    ]
    assert_error(admin_api.post(f"/reports/{rid}/execute"), 400, "report_failed")


def test_secrets_refused_over_http(admin_api: Api) -> None:
    for sql in ("SELECT password_hash FROM users", "SELECT * FROM settings", "SELECT * FROM users"):
        error = assert_error(admin_api.post("/reports/query", json={"query": sql}), 400, "report_failed")
        assert "may not read" in error["message"]
        assert error["detail"]["kind"] == "forbidden"


def test_permissions(admin_api: Api, viewer_api: Api, operator_api: Api) -> None:
    rid = admin_api.post("/reports", json={"name": "One", "query": "SELECT 1 AS one"}).json()["data"]["id"]
    assert_error(viewer_api.post("/reports/query", json={"query": "SELECT 1"}), 403)
    assert_error(operator_api.post("/reports/query", json={"query": "SELECT 1"}), 403)
    assert_error(operator_api.post("/reports", json={"name": "x", "query": "SELECT 1"}), 403)
    assert_error(viewer_api.post("/report-groups", json={"name": "x"}), 403)
    assert [(x["id"], x["name"]) for x in viewer_api.get("/reports").json()["data"]] == [(rid, "One")]
    assert admin_api.get("/report-groups").json()["meta"]["count"] == 0
