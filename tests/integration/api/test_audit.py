"""Every mutation through the API leaves an audit row; denied attempts too. Filters work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.api.conftest import Api
from tests.integration.api.test_groups import computer, group


def audit(api: Api, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/audit", params={"page[limit]": 1000, **params})
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


def test_mutations_are_audited(admin_api: Api) -> None:
    cid = computer(admin_api, "pc-1")
    admin_api.patch(f"/computers/{cid}", json={"notes": "n"})
    gid = group(admin_api, "G")
    admin_api.patch(f"/groups/{gid}", json={"description": "d"})
    admin_api.post(f"/groups/{gid}/members", json={"computer_ids": [cid]})
    admin_api.request("DELETE", f"/groups/{gid}/members", json={"computer_ids": [cid]})
    batch = admin_api.post("/commands", json={"command": "id", "computer_ids": [cid]}).json()["data"]
    admin_api.post(f"/jobs/{batch['job_ids'][0]}/cancel")
    token = admin_api.post("/me/tokens", json={"name": "t"}).json()["data"]
    admin_api.delete(f"/me/tokens/{token['id']}")
    enroll = admin_api.post("/enroll-tokens", json={}).json()["data"]
    admin_api.delete(f"/enroll-tokens/{enroll['id']}")
    user = admin_api.post(
        "/users", json={"username": "u1", "password": "password-1", "role": "viewer"}
    ).json()
    uid = user["data"]["id"]
    admin_api.patch(f"/users/{uid}", json={"full_name": "U"})
    admin_api.put(f"/users/{uid}/password", json={"password": "password-2"})
    admin_api.delete(f"/users/{uid}")
    admin_api.delete(f"/groups/{gid}")
    admin_api.delete(f"/computers/{cid}")

    expected = [
        ("computer.create", cid),
        ("computer.update", cid),
        ("group.create", gid),
        ("group.update", gid),
        ("group.add_members", gid),
        ("group.remove_members", gid),
        ("command.create", batch["id"]),
        ("job.cancel", batch["job_ids"][0]),
        ("token.create", token["id"]),
        ("token.revoke", token["id"]),
        ("enroll_token.create", enroll["id"]),
        ("enroll_token.revoke", enroll["id"]),
        ("user.create", uid),
        ("user.update", uid),
        ("user.password", uid),
        ("user.delete", uid),
        ("group.delete", gid),
        ("computer.delete", cid),
    ]
    rows = audit(admin_api, **{"filter[action][ne]": "auth.login", "filter[via]": "api", "sort": "id"})
    got = [(r["action"], int(r["object_id"])) for r in rows]
    assert got == expected
    assert {r["username"] for r in rows} == {"admin"}
    assert {r["result"] for r in rows} == {"ok"}
    assert {r["via"] for r in rows} == {"api"}
    assert {r["source"] for r in rows} == {"testclient"}


def test_denied_attempt_is_recorded(admin_api: Api, viewer_api: Api) -> None:
    viewer_api.post("/groups", json={"name": "G"})
    rows = audit(admin_api, **{"filter[username]": "victor", "filter[action]": "group.create"})
    assert len(rows) == 1
    assert rows[0]["result"] == "denied"
    assert rows[0]["object_type"] == "group"


def test_failed_login_is_recorded(admin_api: Api) -> None:
    admin_api.client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
    rows = audit(admin_api, **{"filter[action]": "auth.login", "filter[result]": "failed"})
    assert len(rows) == 1
    assert rows[0]["username"] == "admin"


def test_filters_sort_and_time_range(admin_api: Api, viewer_api: Api) -> None:
    c1 = computer(admin_api, "pc-1")
    computer(admin_api, "pc-2")
    viewer_api.post("/computers", json={"hostname": "pc-3"})

    creates = audit(admin_api, **{"filter[action]": "computer.create"})
    assert [r["result"] for r in creates] == ["denied", "ok", "ok"]  # newest first by default
    assert len(audit(admin_api, **{"filter[action]": "computer.*", "filter[result]": "ok"})) == 2
    assert len(audit(admin_api, **{"filter[object_type]": "computer", "filter[object_id]": str(c1)})) == 1
    assert len(audit(admin_api, **{"filter[via]": "api", "filter[result][in]": "denied,conflict"})) == 1
    oldest_first = audit(admin_api, **{"filter[action]": "computer.create", "sort": "at,id"})
    assert [r["result"] for r in oldest_first] == ["ok", "ok", "denied"]

    now = datetime.now(UTC)
    inside = {
        "filter[at][gt]": (now - timedelta(minutes=5)).isoformat(),
        "filter[at][lt]": (now + timedelta(minutes=5)).isoformat(),
        "filter[action]": "computer.create",
    }
    assert len(audit(admin_api, **inside)) == 3
    assert audit(admin_api, **{"filter[at][gt]": (now + timedelta(hours=1)).isoformat()}) == []
    page = admin_api.get("/audit", params={"filter[action]": "computer.create", "page[limit]": 1}).json()
    assert page["meta"]["count"] == 3
    assert len(page["data"]) == 1
