"""rportd's commands, scripts and jobs: runs on one client and on many (concurrent, or one after
the other with abort on error), the jobs read back in rportd's shapes, lists with a constant
number of queries, the function permissions, and bad input as rportd's errors. Agents' results
are stored as the hub stores them (``factories.finish``); test_commands_e2e.py runs real agents."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.query import Query
from tests import factories
from tests.dialects.rport.conftest import API, PASSWORD, basic
from tests.integration.queries.test_list_query_counts import counting


def online(runtime: Runtime, actor: Actor, name: str) -> tuple[int, str]:
    cid = factories.computer(runtime.services, actor, name)
    runtime.services.computers.set_online(cid, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    return cid, runtime.services.computers.get(actor, cid).summary.uid


def test_one_client_command_read_back_and_listed(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    cid, uid = online(runtime, admin, "pc1")
    r = client.post(
        f"{API}/clients/{uid}/commands", headers=as_admin, json={"command": "echo hi", "timeout_sec": 30}
    )
    assert r.status_code == 200, r.text
    jid = r.json()["data"]["jid"]
    [job_id] = factories.deliver(runtime.services, cid)
    assert str(job_id) == jid
    running = client.get(f"{API}/clients/{uid}/commands/{jid}", headers=as_admin).json()["data"]
    assert (running["status"], running["finished_at"], running["command"]) == ("running", None, "echo hi")
    factories.finish(runtime.services, cid, job_id, stdout="hi <summary>all good</summary>\n")
    data = client.get(f"{API}/clients/{uid}/commands/{jid}", headers=as_admin).json()["data"]
    assert data["status"] == "successful" and data["client_id"] == uid and data["client_name"] == "pc1"
    assert data["timeout_sec"] == 30 and data["created_by"] == "admin" and data["multi_job_id"] is None
    assert data["result"]["summary"] == "all good" and data["is_script"] is False
    listed = client.get(f"{API}/clients/{uid}/commands", headers=as_admin).json()
    assert listed["meta"]["count"] == 1
    assert listed["data"] == [
        {
            "jid": jid,
            "status": "successful",
            "finished_at": data["finished_at"],
            "result": {"summary": "all good"},
        }
    ]
    some = client.get(
        f"{API}/clients/{uid}/commands",
        headers=as_admin,
        params={
            "fields[commands]": "jid,client_id",
            "fields[result]": "stdout",
            "filter[status]": "successful",
        },
    ).json()["data"]
    assert some == [{"jid": jid, "client_id": uid, "result": {"stdout": "hi <summary>all good</summary>\n"}}]
    none = client.get(f"{API}/clients/{uid}/commands", headers=as_admin, params={"filter[status]": "failed"})
    assert none.json()["meta"]["count"] == 0


def test_a_script_runs_through_its_interpreter(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    _, uid = online(runtime, admin, "pc1")
    script = base64.b64encode(b"echo one\necho two\n").decode()
    r = client.post(
        f"{API}/clients/{uid}/scripts", headers=as_admin, json={"script": script, "interpreter": "bash"}
    )
    assert r.status_code == 200, r.text
    job = runtime.services.jobs.get(admin, int(r.json()["data"]["jid"]))
    assert (job.spec["command"], job.spec["interpreter"], job.spec["is_script"]) == (
        "echo one\necho two\n",
        "bash",
        True,
    )
    assert job.spec["timeout_sec"] == 60  # rportd's default


@pytest.mark.parametrize(
    ("path", "body", "status", "title"),
    [
        ("commands", {"command": ""}, 400, "Command cannot be empty."),
        ("commands", {"command": "x", "bogus": 1}, 400, "Invalid JSON data."),
        ("commands", {"command": 5}, 400, "Invalid JSON data."),
        ("commands", {"command": "x", "interpreter": "tacoscript"}, 400, "invalid interpreter"),
        ("scripts", {"script": "not base64!"}, 400, "failed to decode script payload from base64"),
        (
            "scripts",
            {"script": base64.b64encode(b"x").decode(), "interpreter": "tacoscript"},
            400,
            "not implemented",
        ),
    ],
)
def test_bad_runs_are_rport_errors(
    client: TestClient,
    runtime: Runtime,
    admin: Actor,
    as_admin: dict[str, str],
    path: str,
    body: dict[str, Any],
    status: int,
    title: str,
) -> None:
    _, uid = online(runtime, admin, "pc1")
    r = client.post(f"{API}/clients/{uid}/{path}", headers=as_admin, json=body)
    assert r.status_code == status, r.text
    [error] = r.json()["errors"]
    assert error["title"].startswith(title) and set(error) == {"code", "title", "detail"}
    empty = client.post(f"{API}/clients/{uid}/{path}", headers=as_admin, content=b"")
    assert (empty.status_code, empty.json()["errors"][0]["title"]) == (400, "Missing body with json data.")


def test_an_offline_or_unknown_client_is_404(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    cid = factories.computer(runtime.services, admin, "off")
    uid = runtime.services.computers.get(admin, cid).summary.uid
    for target in (uid, "no-such-client"):
        r = client.post(f"{API}/clients/{target}/commands", headers=as_admin, json={"command": "true"})
        assert r.status_code == 404
        assert r.json()["errors"][0]["title"] == f"Active client with id={target} not found."
    assert client.get(f"{API}/clients/no-such/commands/1", headers=as_admin).status_code == 404
    assert client.get(f"{API}/commands/12345", headers=as_admin).status_code == 404


def test_sequential_multi_client_run_aborts_on_error(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    a, uid_a = online(runtime, admin, "a")
    b, uid_b = online(runtime, admin, "b")
    c, uid_c = online(runtime, admin, "c")
    body = {"command": "false", "client_ids": [uid_c, uid_a, uid_b]}  # rportd: sequential, abort on error
    r = client.post(f"{API}/commands", headers=as_admin, json=body)
    assert r.status_code == 200, r.text
    jid = r.json()["data"]["jid"]
    # one at a time, in the order given: only c's agent gets its job
    assert factories.deliver(runtime.services, a) == [] and factories.deliver(runtime.services, b) == []
    [first] = factories.deliver(runtime.services, c)
    factories.finish(runtime.services, c, first, status="failed", exit_code=1)
    assert factories.deliver(runtime.services, a) == [] and factories.deliver(runtime.services, b) == []
    multi = client.get(f"{API}/commands/{jid}", headers=as_admin).json()["data"]
    assert (multi["concurrent"], multi["abort_on_err"], multi["client_ids"]) == (
        False,
        True,
        [uid_c, uid_a, uid_b],
    )
    assert {j["client_id"]: j["status"] for j in multi["jobs"]} == {
        uid_c: "failed",
        uid_a: "failed",
        uid_b: "failed",
    }
    assert {j["multi_job_id"] for j in multi["jobs"]} == {jid}
    summaries = client.get(f"{API}/commands", headers=as_admin).json()
    assert summaries["meta"]["count"] == 1 and summaries["data"][0]["jid"] == jid


def test_sequential_run_without_abort_goes_on_in_order(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    a, uid_a = online(runtime, admin, "a")
    b, uid_b = online(runtime, admin, "b")
    body = {"command": "x", "client_ids": [uid_b, uid_a], "abort_on_error": False}
    jid = client.post(f"{API}/commands", headers=as_admin, json=body).json()["data"]["jid"]
    assert factories.deliver(runtime.services, a) == []
    [first] = factories.deliver(runtime.services, b)
    factories.finish(runtime.services, b, first, status="failed", exit_code=2)
    [second] = factories.deliver(runtime.services, a)
    factories.finish(runtime.services, a, second)
    jobs = client.get(
        f"{API}/commands/{jid}/jobs", headers=as_admin, params={"fields[jobs]": "client_id,status"}
    )
    assert sorted((j["client_id"], j["status"]) for j in jobs.json()["data"]) == sorted(
        [(uid_b, "failed"), (uid_a, "successful")]
    )


def test_client_groups_are_targets_after_the_given_clients(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    """rportd: explicit ids first, then the groups' members, each once; members are whatever
    matches the group's parameters when the run starts; a group without members is a 400."""
    db, uid_db = online(runtime, admin, "db1")
    web1, uid_web1 = online(runtime, admin, "web1")
    web2, uid_web2 = online(runtime, admin, "web2")
    for group in ({"id": "web", "params": {"name": ["web*"]}}, {"id": "none", "params": {"name": ["zz*"]}}):
        assert client.post(f"{API}/client-groups", headers=as_admin, json=group).status_code == 201
    body = {"command": "x", "client_ids": [uid_web2, uid_db], "group_ids": ["web"], "abort_on_error": False}
    r = client.post(f"{API}/commands", headers=as_admin, json=body)
    assert r.status_code == 200, r.text
    jid = r.json()["data"]["jid"]
    # one job each (web2 named twice), taken in turns: web2, db1, then web1 (the group's rest)
    for cid in (web2, db, web1):
        assert [factories.deliver(runtime.services, other) for other in (web1, db, web2) if other != cid] == [
            [],
            [],
        ]
        [job_id] = factories.deliver(runtime.services, cid)
        factories.finish(runtime.services, cid, job_id)
    jobs = client.get(f"{API}/commands/{jid}/jobs", headers=as_admin, params={"fields[jobs]": "client_id"})
    assert sorted(j["client_id"] for j in jobs.json()["data"]) == sorted([uid_db, uid_web1, uid_web2])
    empty = client.post(f"{API}/commands", headers=as_admin, json={"command": "x", "group_ids": ["none"]})
    assert (empty.status_code, empty.json()["errors"][0]["title"]) == (
        400,
        "The given groups have no clients.",
    )


def test_tags_target_the_clients_having_them(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    """``tags`` with AND (any case) wants every tag, else any; a tag matches only the very same
    text; disconnected clients are targets too (rportd); the run shows the tags asked for; a
    user in user groups reaches only the tagged clients their groups may."""
    _, uid_a = online(runtime, admin, "a")
    _, uid_b = online(runtime, admin, "b")
    c = factories.computer(runtime.services, admin, "c")  # never connected
    uid_c = runtime.services.computers.get(admin, c).summary.uid
    tags = runtime.services.attributes
    tags.put(admin, uid_a, ["linux", "web"], {})
    tags.put(admin, uid_b, ["linux"], {})
    tags.put(admin, uid_c, ["web", "Linux"], {})

    def run(wanted: list[str], operator: str, headers: dict[str, str] = as_admin) -> Any:
        body = {"command": "x", "tags": {"tags": wanted, "operator": operator}, "execute_concurrently": True}
        return client.post(f"{API}/commands", headers=headers, json=body)

    def targets(r: Any) -> list[str]:
        assert r.status_code == 200, r.text
        jid = r.json()["data"]["jid"]
        jobs = client.get(
            f"{API}/commands/{jid}/jobs", headers=as_admin, params={"fields[jobs]": "client_id"}
        )
        return sorted(j["client_id"] for j in jobs.json()["data"])

    assert targets(run(["linux", "web"], "and")) == [uid_a]
    assert targets(run(["linux", "web"], "OR")) == sorted([uid_a, uid_b, uid_c])
    assert targets(run(["linux"], "")) == sorted([uid_a, uid_b])  # not "Linux"
    r = run(["web"], "AND")
    shown = client.get(f"{API}/commands/{r.json()['data']['jid']}", headers=as_admin).json()["data"]
    assert shown["tags"] == {"tags": ["web"], "operator": "AND"} and shown["client_ids"] == []
    none = run(["lin*"], "OR")
    assert (none.status_code, none.json()["errors"][0]["title"]) == (
        400,
        "at least 1 client should be specified",
    )
    # Bob's user group reaches b only (allowed on that client)
    runtime.services.user_groups.put(admin, "devs", {Perm.RUN_COMMANDS: True})
    runtime.services.users.create(admin, "bob", PASSWORD, Role.OPERATOR, groups=["devs"])
    tags.allow(admin, uid_b, ["devs"])
    bob = basic("bob", PASSWORD)
    assert targets(run(["linux", "web"], "OR", bob)) == [uid_b]
    assert run(["web"], "OR", bob).json()["errors"][0]["title"] == "at least 1 client should be specified"


def test_concurrent_run_hands_every_job_over_at_once(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    a, uid_a = online(runtime, admin, "a")
    b, uid_b = online(runtime, admin, "b")
    body = {"command": "x", "client_ids": [uid_a, uid_b], "execute_concurrently": True}
    jid = client.post(f"{API}/commands", headers=as_admin, json=body).json()["data"]["jid"]
    assert (
        len(factories.deliver(runtime.services, a)) == 1 and len(factories.deliver(runtime.services, b)) == 1
    )
    assert client.get(f"{API}/commands/{jid}", headers=as_admin).json()["data"]["concurrent"] is True


def test_multi_client_bad_input(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    _, uid = online(runtime, admin, "a")
    cases = [
        ({"command": "x"}, 400, "Missing targeting parameters."),
        ({"command": "x", "client_ids": []}, 400, "At least 1 client should be specified."),
        ({"command": "x", "client_ids": [uid, "nope"]}, 404, "Client with id=nope not found."),
        ({"command": "x", "group_ids": ["g1"]}, 400, "Unknown group with id='g1'."),
        ({"command": "x", "tags": {"tags": [], "operator": "AND"}}, 400, "No tags specified."),
        ({"command": "x", "tags": {"tags": ["t"]}, "group_ids": []}, 400, "Multiple targeting parameters."),
        (
            {"command": "x", "tags": {"tags": ["t"], "operator": "AND"}},
            400,
            "at least 1 client should be specified",
        ),
        ({"command": "x", "tags": {"tags": ["t"], "colour": "red"}}, 400, "Invalid JSON data."),
        ({"command": "x", "client_ids": [uid], "execute_concurrently": "yes"}, 400, "Invalid JSON data."),
    ]
    for body, status, title in cases:
        r = client.post(f"{API}/commands", headers=as_admin, json=body)
        assert (r.status_code, r.json()["errors"][0]["title"]) == (status, title), body
    r = client.get(f"{API}/commands", headers=as_admin, params={"page[limit]": "1001"})
    assert (r.status_code, r.json()["errors"][0]["title"]) == (
        400,
        "pagination limit too big (1001) maximum is 1000",
    )
    r = client.get(f"{API}/commands", headers=as_admin, params={"sort": "nope"})
    assert r.status_code == 400


def test_lists_run_a_constant_number_of_queries(
    client: TestClient, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    ids = [online(runtime, admin, f"pc{n}") for n in range(6)]
    uid0 = ids[0][1]

    def reads(path: str) -> int:
        with counting(runtime.db) as seen:
            assert client.get(API + path, headers=as_admin).status_code == 200
        return len(
            [s for s in seen if s.lstrip().upper().startswith("SELECT") and ("jobs" in s or "computers" in s)]
        )

    def counts() -> tuple[int, int, int]:
        jid = client.get(f"{API}/commands", headers=as_admin).json()["data"][0]["jid"]
        return reads(f"/clients/{uid0}/commands"), reads("/commands"), reads(f"/commands/{jid}/jobs")

    body = {"command": "x", "client_ids": [ids[0][1], ids[1][1]], "execute_concurrently": True}
    assert client.post(f"{API}/commands", headers=as_admin, json=body).status_code == 200
    small = counts()
    for _ in range(3):
        body = {"command": "x", "client_ids": [uid for _, uid in ids], "execute_concurrently": True}
        assert client.post(f"{API}/commands", headers=as_admin, json=body).status_code == 200
    assert client.get(f"{API}/commands", headers=as_admin).json()["meta"]["count"] == 4
    assert counts() == small


def test_the_function_permissions(client: TestClient, runtime: Runtime, admin: Actor) -> None:
    _, uid = online(runtime, admin, "a")
    reader = factories.user(runtime.services, Role.VIEWER, "reader-1")
    headers = basic(reader.username, factories.PASSWORD)
    for method, path, perm in [
        ("POST", f"/clients/{uid}/commands", "commands"),
        ("GET", "/commands", "commands"),
        ("POST", "/scripts", "scripts"),
    ]:
        r = client.request(method, API + path, headers=headers, json={"command": "x"})
        assert r.status_code == 403, (path, r.text)
        assert r.json()["errors"][0]["title"] == f'user does not have "{perm}" permission'
    assert runtime.services.jobs.find(admin, Query()).total == 0
