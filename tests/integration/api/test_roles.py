"""What each role may do through the API (core decides; the API must pass it on as 403)."""

from __future__ import annotations

from tests.integration.api.conftest import Api, assert_error
from tests.integration.api.test_groups import computer


def test_viewer_reads_but_cannot_change(admin_api: Api, viewer_api: Api) -> None:
    cid = computer(admin_api, "pc-1")
    gid = admin_api.post("/groups", json={"name": "Lab"}).json()["data"]["id"]
    listed = viewer_api.get("/computers").json()
    assert listed["meta"]["count"] == 1
    assert [(c["id"], c["hostname"]) for c in listed["data"]] == [(cid, "pc-1")]
    assert viewer_api.get(f"/computers/{cid}").json()["data"]["hostname"] == "pc-1"
    assert [g["id"] for g in viewer_api.get("/groups").json()["data"]] == [gid]
    assert viewer_api.get("/jobs").json() == {"data": [], "meta": {"count": 0}}
    assert_error(viewer_api.post("/groups", json={"name": "G"}), 403, "permission_denied")
    assert_error(viewer_api.post("/commands", json={"command": "id", "computer_ids": [cid]}), 403)
    assert_error(viewer_api.post("/computers", json={"hostname": "pc-2"}), 403)
    assert_error(viewer_api.delete(f"/computers/{cid}"), 403)
    assert_error(viewer_api.post("/enroll-tokens", json={}), 403)
    assert_error(viewer_api.get("/users"), 403)
    assert_error(viewer_api.get("/audit"), 403)
    # nothing the viewer tried happened
    assert [c["hostname"] for c in admin_api.get("/computers").json()["data"]] == ["pc-1"]
    assert [g["name"] for g in admin_api.get("/groups").json()["data"]] == ["Lab"]
    assert admin_api.get("/jobs").json()["meta"]["count"] == 0
    assert admin_api.get("/enroll-tokens").json()["meta"]["count"] == 0


def test_operator_runs_commands_but_does_not_manage_users(admin_api: Api, operator_api: Api) -> None:
    cid = computer(operator_api, "pc-1")
    r = operator_api.post("/commands", json={"command": "id", "computer_ids": [cid]})
    assert r.status_code == 201
    jid = r.json()["data"]["job_ids"][0]
    job = admin_api.get(f"/jobs/{jid}").json()["data"]
    assert (job["computer_id"], job["status"], job["created_by"]) == (cid, "queued", "olga")
    assert operator_api.post(f"/jobs/{jid}/cancel").status_code == 200
    assert admin_api.get(f"/jobs/{jid}").json()["data"]["status"] == "cancelled"
    r = operator_api.post("/groups", json={"name": "G"})
    assert r.status_code == 201
    assert admin_api.get(f"/groups/{r.json()['data']['id']}").json()["data"]["name"] == "G"
    r = operator_api.post("/enroll-tokens", json={})
    assert r.status_code == 201 and r.json()["data"]["token"].startswith("fde_")
    assert [t["id"] for t in admin_api.get("/enroll-tokens").json()["data"]] == [r.json()["data"]["id"]]
    assert_error(operator_api.get("/users"), 403)
    assert_error(
        operator_api.post("/users", json={"username": "x", "password": "password-1", "role": "admin"}), 403
    )
    assert_error(operator_api.get("/users/1"), 403)
    assert_error(operator_api.get("/audit"), 403)
    assert [u["username"] for u in admin_api.get("/users").json()["data"]] == ["admin", "olga"]


def test_admin_manages_users(admin_api: Api) -> None:
    r = admin_api.post(
        "/users",
        json={
            "username": "nina",
            "password": "nina-password",
            "role": "viewer",
            "full_name": "Nina N",
            "email": "nina@example.org",
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()["data"]
    assert (user["role"], user["full_name"], user["disabled"]) == ("viewer", "Nina N", False)
    assert "password" not in str(user)
    uid = user["id"]
    assert_error(
        admin_api.post("/users", json={"username": "NINA", "password": "nina-password", "role": "viewer"}),
        409,
    )
    assert_error(
        admin_api.post(
            "/users", json={"username": "bad name", "password": "nina-password", "role": "viewer"}
        ),
        422,
    )
    assert_error(
        admin_api.post("/users", json={"username": "x", "password": "nina-password", "role": "root"}), 422
    )
    listed = admin_api.get("/users").json()
    assert listed["meta"]["count"] == 2
    r = admin_api.patch(f"/users/{uid}", json={"role": "operator", "email": "n@example.org"})
    assert (r.json()["data"]["role"], r.json()["data"]["email"]) == ("operator", "n@example.org")
    read = admin_api.get(f"/users/{uid}").json()["data"]
    assert (read["role"], read["email"], read["full_name"]) == ("operator", "n@example.org", "Nina N")
    assert admin_api.put(f"/users/{uid}/password", json={"password": "new-nina-password"}).status_code == 204
    r = admin_api.client.post(
        "/api/v1/auth/login", json={"username": "nina", "password": "new-nina-password"}
    )
    assert r.status_code == 200
    me = admin_api.get("/me").json()["data"]["id"]
    assert_error(admin_api.delete(f"/users/{me}"), 409)  # not yourself
    assert_error(admin_api.patch(f"/users/{me}", json={"role": "viewer"}), 409)  # the last admin
    assert admin_api.delete(f"/users/{uid}").status_code == 204
    assert_error(admin_api.get(f"/users/{uid}"), 404)


def test_user_reads_own_record_only(admin_api: Api, viewer_api: Api) -> None:
    me = viewer_api.get("/me").json()["data"]
    own = viewer_api.get(f"/users/{me['id']}").json()["data"]
    assert (own["id"], own["username"], own["role"]) == (me["id"], "victor", "viewer")
    admin_id = admin_api.get("/me").json()["data"]["id"]
    assert_error(viewer_api.get(f"/users/{admin_id}"), 403)


def test_enroll_tokens(admin_api: Api) -> None:
    r = admin_api.post("/enroll-tokens", json={"max_uses": 5, "note": "lab"})
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["token"].startswith("fde_")
    assert (created["max_uses"], created["note"], created["uses"], created["revoked"]) == (5, "lab", 0, False)
    assert created["expires_at"] is not None
    forever = admin_api.post("/enroll-tokens", json={"expires_in_sec": None}).json()["data"]
    assert forever["expires_at"] is None
    listed = admin_api.get("/enroll-tokens").json()
    assert listed["meta"]["count"] == 2
    assert all("token" not in t for t in listed["data"])
    assert admin_api.delete(f"/enroll-tokens/{created['id']}").status_code == 204
    revoked = [t for t in admin_api.get("/enroll-tokens").json()["data"] if t["id"] == created["id"]]
    assert revoked[0]["revoked"] is True
    assert_error(admin_api.post("/enroll-tokens", json={"max_uses": 0}), 422)
    assert_error(admin_api.post("/enroll-tokens", json={"expires_in_sec": -5}), 422)
