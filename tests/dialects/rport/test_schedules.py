"""rportd's schedules: create/read/replace/delete with rportd's statuses and shapes, bad input as
rportd's 400s, the ``scheduler``/``commands``/``scripts`` permissions, the list rules, a
constant number of statements per list, the audit application ``schedule``, and a tick's run
listed under ``GET /commands?filter[schedule_id]=`` with ``last_execution``. The tick is made
due by moving ``next_run_at`` (the duty itself runs in test_schedules_e2e.py on real agents)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.storage.tables import Schedule
from tests import factories
from tests.dialects.rport.conftest import API, user
from tests.dialects.rport.test_commands import online
from tests.integration.queries.test_list_query_counts import counting


def _body(uid: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "uptime",
        "schedule": "*/5 * * * *",
        "type": "command",
        "command": "uptime",
        "client_ids": [uid],
        "timeout_sec": 30,
    }
    body.update(kw)
    return body


def due(runtime: Runtime, uid: str) -> None:
    """The schedule's next tick is now."""
    with runtime.db.sessions() as s, s.begin():
        s.execute(update(Schedule).where(Schedule.uid == uid).values(next_run_at=datetime.now(UTC)))


def test_crud(client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]) -> None:
    _, uid = online(runtime, admin, "pc1")
    r = client.post(f"{API}/schedules", headers=as_admin, json=_body(uid))
    assert r.status_code == 201, r.text
    item = r.json()["data"]
    assert len(item["id"]) == 36 and item["created_by"] == "admin"
    assert (item["schedule"], item["type"], item["command"], item["client_ids"]) == (
        "*/5 * * * *",
        "command",
        "uptime",
        [uid],
    )
    assert item["last_execution"] is None and item["overlaps"] is False and item["catch_up"] is False
    assert client.get(f"{API}/schedules/{item['id']}", headers=as_admin).json()["data"] == item
    script = base64.b64encode(b"echo hi\n").decode()
    put = client.put(
        f"{API}/schedules/{item['id']}",
        headers=as_admin,
        json=_body(
            uid,
            type="script",
            command=None,
            script=script,
            interpreter="/bin/bash",
            schedule="@daily",
            overlaps=True,
        ),
    )
    assert put.status_code == 200, put.text
    changed = put.json()["data"]
    assert (changed["type"], changed["script"], changed["interpreter"], changed["schedule"]) == (
        "script",
        script,
        "/bin/bash",
        "@daily",
    )
    assert changed["created_at"] == item["created_at"] and changed["overlaps"] is True
    assert client.put(f"{API}/schedules/nope", headers=as_admin, json=_body(uid)).status_code == 404
    assert client.delete(f"{API}/schedules/{item['id']}", headers=as_admin).status_code == 204
    assert client.delete(f"{API}/schedules/{item['id']}", headers=as_admin).status_code == 404
    assert client.get(f"{API}/schedules/{item['id']}", headers=as_admin).status_code == 404
    audit = client.get(f"{API}/auditlog", headers=as_admin, params={"filter[application]": "schedule"})
    assert {e["action"] for e in audit.json()["data"]} == {"create", "delete", "update"}


def test_bad_input_is_400(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    _, uid = online(runtime, admin, "pc1")
    for body, title in (
        (_body(uid, schedule="* * * * * *"), "five fields"),
        (_body(uid, schedule="@reboot"), "descriptors"),
        (_body(uid, schedule="61 * * * *"), "invalid schedule"),
        (_body(uid, schedule=""), "Missing required field: schedule."),
        (_body(uid, name=""), "Missing required field: name."),
        (_body(uid, type="binary"), "Invalid type"),
        (_body(uid, command=""), "Command cannot be empty."),
        (_body(uid, type="script", command=None, script="%%%"), "failed to decode script payload"),
        (_body(uid, client_ids=[]), "At least 1 client should be specified."),
        (_body(uid, client_ids=["nope"]), "Client with id=nope not found."),
        (_body(uid, group_ids=["nope"]), "Unknown group"),
        (_body(uid, tags={"tags": ["a"], "operator": "XOR"}), "Invalid tags operator"),
        (_body(uid, colour="red"), "Invalid JSON data."),
        (_body(uid, timeout_sec="x"), "Invalid JSON data."),
    ):
        r = client.post(f"{API}/schedules", headers=as_admin, json=body)
        assert r.status_code == 400, (body, r.text)
        assert title in r.json()["errors"][0]["title"] + r.json()["errors"][0]["detail"], r.text
    assert client.post(f"{API}/schedules", headers=as_admin, content=b"{").status_code == 400
    for params in (
        {"sort": "colour"},
        {"filter[colour]": "x"},
        {"filter[client_ids]": uid},
        {"page[limit]": "x"},
    ):
        assert client.get(f"{API}/schedules", headers=as_admin, params=params).status_code == 400


def test_permissions(client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]) -> None:
    _, uid = online(runtime, admin, "pc1")
    runtime.services.user_groups.put(admin, "ops", {Perm.RUN_COMMANDS: True, Perm.MANAGE_SCHEDULES: True})
    runtime.services.user_groups.put(admin, "cmds", {Perm.RUN_COMMANDS: True})
    runtime.services.attributes.allow(admin, uid, ["ops"])  # the client is theirs to reach
    ops = user(client, as_admin, "opsuser", ["ops"])
    cmds = user(client, as_admin, "cmduser", ["cmds"])
    refused = client.get(f"{API}/schedules", headers=cmds)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["title"] == 'user does not have "scheduler" permission'
    assert client.post(f"{API}/schedules", headers=ops, json=_body(uid)).status_code == 201
    script = _body(uid, type="script", command=None, script=base64.b64encode(b"ls").decode())
    no_scripts = client.post(f"{API}/schedules", headers=ops, json=script)
    assert no_scripts.status_code == 403
    assert no_scripts.json()["errors"][0]["title"] == 'user does not have "scripts" permission'
    mine = client.post(f"{API}/schedules", headers=as_admin, json=_body(uid)).json()["data"]
    # someone else's schedule runs as them: only they or an admin change it
    assert client.put(f"{API}/schedules/{mine['id']}", headers=ops, json=_body(uid)).status_code == 403
    assert client.delete(f"{API}/schedules/{mine['id']}", headers=ops).status_code == 403


def test_list_rules_and_statements(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    _, uid = online(runtime, admin, "pc1")

    def listed(**params: Any) -> tuple[list[dict[str, Any]], int]:
        with counting(runtime.db) as seen:
            r = client.get(f"{API}/schedules", headers=as_admin, params=params)
        assert r.status_code == 200, r.text
        return r.json()["data"], len([s for s in seen if s.startswith("SELECT")])

    client.post(f"{API}/schedules", headers=as_admin, json=_body(uid, name="s-00"))
    _, one = listed()
    for i in range(1, 25):
        client.post(f"{API}/schedules", headers=as_admin, json=_body(uid, name=f"s-{i:02d}"))
    rows, many = listed()
    assert len(rows) == 20 and one == many  # rportd's default page; constant statements
    rows, _ = listed(**{"page[limit]": 100, "sort": "-name", "fields[schedules]": "id,name"})
    assert len(rows) == 25 and rows[0] == {"id": rows[0]["id"], "name": "s-24"}
    rows, _ = listed(**{"filter[name]": "s-1*"})
    assert sorted(r["name"] for r in rows) == [f"s-{i}" for i in range(10, 20)]


def test_a_tick_is_a_multi_client_job_listed_under_the_schedule(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    cid, uid = online(runtime, admin, "pc1")
    item = client.post(f"{API}/schedules", headers=as_admin, json=_body(uid)).json()["data"]
    other = client.post(f"{API}/schedules", headers=as_admin, json=_body(uid, name="other")).json()["data"]
    client.post(f"{API}/commands", headers=as_admin, json={"command": "ls", "client_ids": [uid]})
    due(runtime, item["id"])
    assert list(runtime.services.schedules.run_due().ran) == [item["id"]]
    for job_id in factories.deliver(runtime.services, cid):  # the schedule's job and the other one
        factories.finish(runtime.services, cid, job_id, stdout="up <summary>1 day</summary>")
    runs = client.get(f"{API}/commands", headers=as_admin, params={"filter[schedule_id]": item["id"]})
    assert runs.status_code == 200, runs.text
    [run] = runs.json()["data"]
    assert run["schedule_id"] == item["id"] and run["created_by"] == "admin"
    none = client.get(f"{API}/commands", headers=as_admin, params={"filter[schedule_id]": other["id"]})
    assert none.json()["data"] == []
    assert len(client.get(f"{API}/commands", headers=as_admin).json()["data"]) == 2
    multi = client.get(f"{API}/commands/{run['jid']}", headers=as_admin).json()["data"]
    assert multi["schedule_id"] == item["id"] and multi["jobs"][0]["schedule_id"] == item["id"]
    assert multi["jobs"][0]["multi_job_id"] == run["jid"]
    last = client.get(f"{API}/schedules/{item['id']}", headers=as_admin).json()["data"]["last_execution"]
    assert (last["client_count"], last["success_count"], last["status"], last["summary"]) == (
        1,
        1,
        "successful",
        "1 day",
    )
