"""rportd's ``POST /files`` in process: what is checked before anything is stored (permission,
form fields, destination, mode, targets), rportd's answer, and the jobs it queues (the file
landing on a real agent is tests/e2e/test_file_push_e2e.py)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from fleetdeck.api.dialects.rport.methods.uploads import _results
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import NotFound, PermissionDenied
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.query import Query
from tests import factories
from tests.dialects.rport.conftest import API, PASSWORD, basic
from tests.dialects.rport.test_users import _user

ADMIN = basic("admin", "admin-password-1")


@pytest.fixture
def uid(runtime: Runtime, admin: Actor) -> str:
    cid = factories.computer(runtime.services, admin, "pc-1")
    return runtime.services.computers.get(admin, cid).summary.uid


def post(client: Any, *, headers: dict[str, str] = ADMIN, content: bytes = b"data\n", **data: Any) -> Any:
    return client.post(f"{API}/files", headers=headers, files={"upload": ("f.txt", content)}, data=data)


def test_push_queues_one_file_job(client: Any, runtime: Runtime, admin: Actor, uid: str) -> None:
    r = post(client, client_id=uid, dest="/tmp/x/f.txt", mode="0640", force="true", user="root")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["filepath"] == "/tmp/x/f.txt" and data["size"] == 5
    jobs = runtime.services.jobs.find(admin, Query()).items
    assert [(j.kind, j.status.value) for j in jobs] == [("file_put", "queued")]
    spec = jobs[0].spec
    assert (spec["dest"], spec["mode"], spec["force"], spec["sync"], spec["user"]) == (
        "/tmp/x/f.txt",
        0o640,
        True,
        False,
        "root",
    )
    stored = runtime.services.file_pushes.file_for_agent(jobs[0].computer_id, jobs[0].id)
    assert stored.path.read_bytes() == b"data\n" and stored.size == 5


def test_group_id_targets_client_groups(client: Any, runtime: Runtime, admin: Actor, uid: str) -> None:
    """Repeatable ``group_id``: the groups' members as they are when the push is made, with the
    given clients, each once; groups without members are a 400 and queue nothing (an unknown
    group: ``test_bad_forms``)."""
    web = [factories.computer(runtime.services, admin, f"web-{k}") for k in (1, 2)]
    factories.computer(runtime.services, admin, "db-1")
    groups = runtime.services.rule_groups
    groups.create(admin, "web", "", {"name": ["web-*"]}, [])
    groups.create(admin, "pc", "", {"name": ["pc-*", "web-1"]}, [])
    groups.create(admin, "none", "", {"name": ["zz*"]}, [])
    r = client.post(
        f"{API}/files",
        headers=ADMIN,
        files={"upload": ("f.txt", b"data\n")},
        data={"client_id": uid, "group_id": ["web", "pc", "web"], "dest": "/tmp/g.txt"},
    )
    assert r.status_code == 200, r.text
    jobs = runtime.services.jobs.find(admin, Query()).items
    pc = runtime.services.computers.find(admin, Query()).items
    want = sorted([*web, next(c.id for c in pc if c.hostname == "pc-1")])
    assert sorted(j.computer_id for j in jobs) == want
    assert {(j.kind, j.spec["dest"]) for j in jobs} == {("file_put", "/tmp/g.txt")}
    empty = post(client, group_id="none", dest="/tmp/e.txt")
    assert (empty.status_code, empty.json()["errors"][0]["title"]) == (400, "the groups have no members")
    assert len(runtime.services.jobs.find(admin, Query()).items) == len(want)


def test_tags_target_the_clients_having_them(client: Any, runtime: Runtime, admin: Actor, uid: str) -> None:
    """``tags`` (one JSON field): the clients with every tag (AND) or any (OR), exact text;
    no tags or no match is rportd's 400 and queues nothing."""
    others = [factories.computer(runtime.services, admin, f"web-{k}") for k in (1, 2)]
    uids = [runtime.services.computers.get(admin, c).summary.uid for c in others]
    runtime.services.attributes.put(admin, uids[0], ["web", "eu"], {})
    runtime.services.attributes.put(admin, uids[1], ["web"], {})
    runtime.services.attributes.put(admin, uid, ["EU"], {})
    r = post(client, dest="/tmp/t.txt", tags='{"tags": ["web", "eu"], "operator": "AND"}')
    assert r.status_code == 200, r.text
    assert [j.computer_id for j in runtime.services.jobs.find(admin, Query()).items] == [others[0]]
    r = post(client, dest="/tmp/t.txt", tags='{"tags": ["eu", "web"], "operator": "OR"}')
    assert r.status_code == 200, r.text
    assert runtime.services.jobs.find(admin, Query()).total == 3
    for tags, title in (
        ('{"tags": []}', "No tags specified."),
        ('{"tags": ["nope"], "operator": "OR"}', "at least 1 client should be specified"),
    ):
        r = post(client, dest="/tmp/t.txt", tags=tags)
        assert (r.status_code, r.json()["errors"][0]["title"]) == (400, title)
    assert runtime.services.jobs.find(admin, Query()).total == 3


@pytest.mark.parametrize(
    ("fields", "status", "title", "code"),
    [
        ({"dest": "/proc/x"}, 400, "files may not be written to '/proc/x'", "BAD_DESTINATION"),
        ({"dest": "relative/x"}, 400, "dest must be an absolute path with the file name", "BAD_DESTINATION"),
        ({"dest": "/tmp/x", "mode": "999"}, 400, "invalid mode '999': an octal number such as 0644", ""),
        ({"dest": "/tmp/x", "force": "maybe"}, 400, "invalid force value 'maybe': true or false", ""),
        ({"dest": "/tmp/x", "colour": "red"}, 400, "unknown form field 'colour'", ""),
        ({"dest": "/tmp/x", "group_id": "g"}, 400, "Unknown group with id='g'.", ""),
        ({"dest": "/tmp/x", "tags": '{"tags": ["t"]}'}, 400, "Multiple targeting parameters.", ""),
        ({"dest": "/tmp/x", "tags": '{"tags": ["t"], "x": 1}'}, 400, "Invalid JSON data.", ""),
        ({"dest": "/tmp/x", "tags": "[1"}, 400, "Invalid JSON data.", ""),
        (
            {"dest": "/tmp/x", "group_id": [f"g{i}" for i in range(101)]},
            400,
            "at most 100 groups may be given",
            "",
        ),
        ({"dest": "/tmp/x", "client_id": ""}, 400, "at least 1 client should be specified", ""),
        ({"dest": "/tmp/x", "client_id": "nope"}, 404, "computer nope not found", ""),
    ],
)
def test_bad_forms(
    client: Any,
    runtime: Runtime,
    admin: Actor,
    uid: str,
    fields: dict[str, str],
    status: int,
    title: str,
    code: str,
) -> None:
    r = client.post(
        f"{API}/files", headers=ADMIN, files={"upload": ("f.txt", b"x")}, data={"client_id": uid, **fields}
    )
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["title"] == title
    assert r.json()["errors"][0]["code"] == code
    assert runtime.services.jobs.find(admin, Query()).total == 0


def test_not_multipart_and_too_big(client: Any, uid: str) -> None:
    r = client.post(f"{API}/files", headers=ADMIN, json={"dest": "/tmp/x"})
    assert r.status_code == 400
    big = post(client, content=b"x" * (10 * 1024 * 1024 + 20 * 1024), client_id=uid, dest="/tmp/x")
    assert big.status_code == 413
    assert big.json()["errors"][0]["title"].startswith("file too big")
    no_file = client.post(f"{API}/files", headers=ADMIN, data={"client_id": uid, "dest": "/tmp/x"})
    assert no_file.status_code == 400


def test_uploads_permission(client: Any, uid: str, as_admin: dict[str, str]) -> None:
    client.put(f"{API}/user-groups/scripters", headers=as_admin, json={"permissions": {"scripts": True}})
    _user(client, as_admin, "sam", ["scripters"])
    r = post(client, headers=basic("sam", PASSWORD), client_id=uid, dest="/tmp/x")
    assert r.status_code == 403
    assert r.json()["errors"][0]["title"] == 'user does not have "uploads" permission'


def test_upload_results_as_the_uploads_socket_sends_them(
    client: Any, runtime: Runtime, admin: Actor, uid: str
) -> None:
    """``/ws/uploads``'s messages (the socket itself, on real agents: test_rest_e2e.py): each
    final ``file_put`` job among those announced, in rportd's shape (written: success; left
    alone: ignored; failed: error with why); other jobs, unfinished ones and clients out of
    the caller's reach are left out."""
    other = factories.computer(runtime.services, admin, "pc-2")
    other_uid = runtime.services.computers.get(admin, other).summary.uid
    r = client.post(
        f"{API}/files",
        headers=ADMIN,
        files={"upload": ("f.txt", b"data\n")},
        data={"client_id": [uid, other_uid], "dest": "/tmp/r.txt"},
    )
    pushed = r.json()["data"]["uuid"]
    jobs = {j.computer_id: j.id for j in runtime.services.jobs.find(admin, Query()).items}
    mine = next(c for c in jobs if c != other)
    ids = sorted(jobs.values())
    assert _results(runtime.services, admin, ids) == []  # none final yet
    result = factories.result(jobs[mine], stdout="ignored: /tmp/r.txt exists")
    runtime.services.jobs.record_results([(mine, msgspec.structs.replace(result, message=result.stdout))])
    factories.finish(runtime.services, other, jobs[other], status="failed", exit_code=1)
    command = runtime.services.jobs.create_commands(admin, CommandRequest("true"), computer_ids=[other])
    factories.finish(runtime.services, other, command.job_ids[0])
    got = _results(runtime.services, admin, [*ids, *command.job_ids])
    base = {"uuid": pushed, "filepath": "/tmp/r.txt", "size": 5}
    assert got == [
        {**base, "client_id": uid, "message": "/tmp/r.txt exists", "status": "ignored"}
        if j == jobs[mine]
        else {**base, "client_id": other_uid, "message": "the upload failed", "status": "error"}
        for j in ids
    ]
    runtime.services.user_groups.put(admin, "devs", {Perm.UPLOAD_FILES: True})
    made = runtime.services.users.create(admin, "bob", PASSWORD, Role.OPERATOR, groups=["devs"])
    runtime.services.attributes.allow(admin, uid, ["devs"])
    bob = Actor(user_id=made.id, username="bob", role=Role.OPERATOR)
    assert [m["client_id"] for m in _results(runtime.services, bob, ids)] == [uid]


def test_only_the_jobs_agent_fetches_and_only_while_pending(
    client: Any, runtime: Runtime, admin: Actor, uid: str
) -> None:
    assert post(client, client_id=uid, dest="/tmp/f").status_code == 200
    job = runtime.services.jobs.find(admin, Query()).items[0]
    other = factories.computer(runtime.services, admin, "pc-2")
    with pytest.raises(NotFound):
        runtime.services.file_pushes.file_for_agent(other, job.id)
    runtime.services.jobs.cancel(admin, job.id)
    with pytest.raises(PermissionDenied):
        runtime.services.file_pushes.file_for_agent(job.computer_id, job.id)


def test_the_agent_download_route_wants_the_agents_key(client: Any, uid: str) -> None:
    assert post(client, client_id=uid, dest="/tmp/f").status_code == 200
    assert client.get("/agent/v1/files/1").status_code == 401
    assert (
        client.get("/agent/v1/files/1", headers={"Authorization": f"Bearer {uid}:wrong"}).status_code == 401
    )
