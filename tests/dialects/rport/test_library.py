"""rportd's library of saved scripts and commands: create/read/replace/delete with rportd's
statuses, names unique per kind (409), rportd's list rules (page 20/100, sort, filter with
wildcards and dates, fields), the ``scripts``/``commands`` permissions, the audit trail, and a
constant number of statements per list."""

from __future__ import annotations

from typing import Any

from fleetdeck.app import Runtime
from tests.dialects.rport.conftest import API, PASSWORD, basic
from tests.dialects.rport.test_users import _user
from tests.integration.queries.test_list_query_counts import counting

ADMIN = basic("admin", "admin-password-1")
SCRIPT = {"name": "disk", "script": "df -h", "interpreter": "/bin/sh", "cwd": "/tmp", "is_sudo": True}


def test_script_crud(client: Any, admin: Any) -> None:
    created = client.post(f"{API}/library/scripts", headers=ADMIN, json={**SCRIPT, "tags": ["ops"]})
    assert created.status_code == 201, created.text
    item = created.json()["data"]
    assert item["name"] == "disk" and item["script"] == "df -h" and item["is_sudo"] is True
    assert item["created_by"] == "admin" and item["tags"] == ["ops"] and len(item["id"]) == 36
    got = client.get(f"{API}/library/scripts/{item['id']}", headers=ADMIN).json()["data"]
    assert got == item
    dup = client.post(f"{API}/library/scripts", headers=ADMIN, json=SCRIPT)
    assert dup.status_code == 409
    assert "same name" in dup.json()["errors"][0]["title"]
    # a command may have a script's name: names are unique per kind
    same = client.post(f"{API}/library/commands", headers=ADMIN, json={"name": "disk", "cmd": "df"})
    assert same.status_code == 201
    # PUT replaces every field: what is left out is reset
    put = client.put(
        f"{API}/library/scripts/{item['id']}", headers=ADMIN, json={"name": "disk2", "script": "du -s"}
    )
    assert put.status_code == 200, put.text
    changed = put.json()["data"]
    assert (changed["name"], changed["script"], changed["is_sudo"], changed["cwd"]) == (
        "disk2",
        "du -s",
        False,
        "",
    )
    assert changed["updated_by"] == "admin" and changed["created_at"] == item["created_at"]
    missing = client.put(f"{API}/library/scripts/nope", headers=ADMIN, json=SCRIPT)
    assert missing.status_code == 404
    assert client.delete(f"{API}/library/scripts/{item['id']}", headers=ADMIN).status_code == 204
    assert client.delete(f"{API}/library/scripts/{item['id']}", headers=ADMIN).status_code == 404
    assert client.get(f"{API}/library/scripts/{item['id']}", headers=ADMIN).status_code == 404


def test_bad_bodies_are_400(client: Any, admin: Any) -> None:
    for body, title in (
        ({"name": "x"}, "script is required"),
        ({"script": "ls"}, "name is required"),
        ({**SCRIPT, "colour": "red"}, "Invalid JSON data."),
        ({**SCRIPT, "timeout_sec": -1}, "timeout_sec must be 0 to 604800"),
    ):
        r = client.post(f"{API}/library/scripts", headers=ADMIN, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["title"] == title
    both = client.post(
        f"{API}/library/commands", headers=ADMIN, json={"name": "a", "cmd": "ls", "script": "pwd"}
    )
    assert both.status_code == 400
    spec_name = client.post(f"{API}/library/commands", headers=ADMIN, json={"name": "a", "script": "pwd"})
    assert spec_name.json()["data"]["cmd"] == "pwd"  # the OpenAPI document's field name


def test_list_rules(client: Any, admin: Any) -> None:
    for i in range(25):
        body = {"name": f"cmd-{i:02d}", "cmd": f"echo {i}", "timeout_sec": i}
        assert client.post(f"{API}/library/commands", headers=ADMIN, json=body).status_code == 201
    first = client.get(f"{API}/library/commands", headers=ADMIN).json()
    assert first["meta"] == {"count": 25} and len(first["data"]) == 20  # rportd's default page
    assert set(first["data"][0]) == {
        "id",
        "name",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
        "tags",
        "timeout_sec",
        "cmd",
    }
    page = client.get(
        f"{API}/library/commands",
        headers=ADMIN,
        params={"sort": "-name", "page[limit]": 3, "page[offset]": 1, "fields[commands]": "id,name"},
    ).json()
    assert [c["name"] for c in page["data"]] == ["cmd-23", "cmd-22", "cmd-21"]
    assert set(page["data"][0]) == {"id", "name"}
    found = client.get(
        f"{API}/library/commands", headers=ADMIN, params={"filter[name]": "CMD-1*,cmd-20"}
    ).json()
    assert found["meta"]["count"] == 11
    today = first["data"][0]["created_at"][:10]
    dated = client.get(f"{API}/library/commands", headers=ADMIN, params={"filter[created_at]": today}).json()
    assert dated["meta"]["count"] == 25
    later = client.get(f"{API}/library/commands", headers=ADMIN, params={"filter[created_at][gt]": today})
    assert later.json()["meta"]["count"] == 0
    for params, title in (
        ({"page[limit]": 101}, "pagination limit too big (101) maximum is 100"),
        ({"sort": "cmd"}, "unsupported sort field 'cmd'"),
        ({"filter[cmd]": "x"}, "unsupported filter field 'filter[cmd]'"),
        ({"fields[commands]": "script"}, "unsupported field 'script' for resource 'commands'"),
        ({"filter[created_at]": "yesterday"}, "invalid time value 'yesterday'"),
    ):
        r = client.get(f"{API}/library/commands", headers=ADMIN, params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["errors"][0]["title"] == title


def test_permissions_and_audit(client: Any, runtime: Runtime, admin: Any, as_admin: dict[str, str]) -> None:
    client.put(f"{API}/user-groups/scripters", headers=as_admin, json={"permissions": {"scripts": True}})
    _user(client, as_admin, "sam", ["scripters"])
    sam = basic("sam", PASSWORD)
    assert client.post(f"{API}/library/scripts", headers=sam, json=SCRIPT).status_code == 201
    refused = client.get(f"{API}/library/commands", headers=sam)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["title"] == 'user does not have "commands" permission'
    refused = client.post(f"{API}/library/commands", headers=sam, json={"name": "x", "cmd": "ls"})
    assert refused.status_code == 403
    log = client.get(
        f"{API}/auditlog", headers=as_admin, params={"filter[application]": "library.script"}
    ).json()["data"]
    assert [(e["username"], e["action"]) for e in log] == [("sam", "create")]


def test_list_runs_constant_statements(client: Any, runtime: Runtime, admin: Any) -> None:
    def statements() -> int:
        client.get(f"{API}/library/scripts", headers=ADMIN)  # warm: settings read
        with counting(runtime.db) as seen:
            assert (
                client.get(f"{API}/library/scripts", headers=ADMIN, params={"page[limit]": 100}).status_code
                == 200
            )
        return len([s for s in seen if "FROM library_entries" in s])

    client.post(f"{API}/library/scripts", headers=ADMIN, json=SCRIPT)
    one = statements()
    for k in range(30):
        client.post(f"{API}/library/scripts", headers=ADMIN, json={**SCRIPT, "name": f"s{k}"})
    assert statements() == one == 2  # the count and the page
