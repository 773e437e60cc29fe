"""An end user sees and reaches only the computers assigned to them, whichever way they come:
the own REST API, OCO and opsi (all through core's scope), and the assignment is visible to
admins through the own API and, as the end user's view, through the dialects."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetdeck.api.dialects.oco import settings as oco_settings
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.query import Query
from tests.dialects.oco.conftest import Oco
from tests.dialects.opsi.conftest import Rpc as Opsi
from tests.dialects.remotepc import world
from tests.dialects.remotepc.conftest import RemotePc


@pytest.fixture
def fleet(rpc: RemotePc, runtime: Runtime, admin: Actor) -> dict[str, Any]:
    """Computer A assigned to shane (through the RemotePC API), B to nobody; shane's API
    tokens, one read+write and one read-only."""
    ids = world.build(runtime, admin)
    rpc.ok(rpc.post("computer/assign", {"username": "shane@myworld", "computer_names": ["Computer A"]}))
    shane = Actor(user_id=ids["shane@myworld"], username="shane@myworld", role=Role.END_USER)
    users = runtime.services.users
    ids["token"] = users.create_token(shane, "mine", "read+write", None).token
    ids["read_token"] = users.create_token(shane, "mine-ro", "read", None).token
    ids["actor"] = shane
    return ids


def v1(client: TestClient, token: str, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, "/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_own_api_lists_and_reaches_only_assigned(client: TestClient, fleet: dict[str, Any]) -> None:
    a, b, token = fleet["Computer A"], fleet["Computer B"], fleet["token"]
    listed = v1(client, token, "GET", "/computers").json()
    assert [c["hostname"] for c in listed["data"]] == ["Computer A"]
    assert listed["meta"]["count"] == 1
    assert v1(client, token, "GET", f"/computers/{a}").status_code == 200
    assert v1(client, token, "GET", f"/computers/{b}").status_code == 404
    created = v1(client, token, "POST", "/commands", json={"computer_ids": [a], "command": "id"})
    assert created.status_code == 201, created.text
    refused = v1(client, token, "POST", "/commands", json={"computer_ids": [a, b], "command": "id"})
    assert refused.status_code == 404
    # nothing else of the fleet: no groups; packages and users need permissions it has not
    assert v1(client, token, "GET", "/groups").json()["data"] == []
    assert v1(client, token, "GET", "/packages").status_code == 403
    assert v1(client, token, "GET", "/users").status_code == 403


def test_read_only_token_reads_but_runs_nothing(client: TestClient, fleet: dict[str, Any]) -> None:
    token = fleet["read_token"]
    assert [c["hostname"] for c in v1(client, token, "GET", "/computers").json()["data"]] == ["Computer A"]
    r = v1(client, token, "POST", "/commands", json={"computer_ids": [fleet["Computer A"]], "command": "id"})
    assert r.status_code == 403


def test_jobs_of_other_computers_stay_hidden(runtime: Runtime, admin: Actor, fleet: dict[str, Any]) -> None:
    s, shane = runtime.services, fleet["actor"]
    theirs = s.jobs.create_commands(admin, CommandRequest(command="id"), computer_ids=[fleet["Computer B"]])
    mine = s.jobs.create_commands(shane, CommandRequest(command="id"), computer_ids=[fleet["Computer A"]])
    assert [j.id for j in s.jobs.find(shane, Query()).items] == mine.job_ids
    with pytest.raises(NotFound):
        s.jobs.get(shane, theirs.job_ids[0])
    assert s.jobs.get(shane, mine.job_ids[0]).computer_id == fleet["Computer A"]
    # a group names its members the end user may reach, and only those
    group = s.groups.create(admin, "both")
    s.groups.add_members(admin, group.id, [fleet["Computer A"], fleet["Computer B"]])
    batch = s.jobs.create_commands(shane, CommandRequest(command="id"), group_ids=[group.id])
    assert [s.jobs.get(admin, j).computer_id for j in batch.job_ids] == [fleet["Computer A"]]
    assert s.groups.find(shane, Query()).items == []  # no groups for an end user
    with pytest.raises(PermissionDenied):
        s.groups.get(shane, group.id)


def test_assignment_visible_in_own_api(
    client: TestClient, runtime: Runtime, admin: Actor, fleet: dict[str, Any]
) -> None:
    admin_token = runtime.services.users.create_token(admin, "adm", "read+write", None).token
    shane = fleet["shane@myworld"]
    assert v1(client, admin_token, "GET", f"/users/{shane}/computers").json() == {
        "data": [fleet["Computer A"]]
    }
    # the end user may ask about themselves, not about others
    assert v1(client, fleet["token"], "GET", f"/users/{shane}/computers").json() == {
        "data": [fleet["Computer A"]]
    }
    other = fleet["diane@myworld"]
    assert v1(client, fleet["token"], "GET", f"/users/{other}/computers").status_code == 403
    me = v1(client, fleet["token"], "GET", "/me").json()["data"]
    assert (me["username"], me["role"]) == ("shane@myworld", "end_user")


def test_oco_lists_only_assigned(
    client: TestClient, runtime: Runtime, admin: Actor, fleet: dict[str, Any]
) -> None:
    runtime.services.settings.set(admin, oco_settings.ENABLED_KEY, True)
    oco = Oco(client, "shane@myworld", fleet["token"], api_key=None)
    listed = oco.ok("oco.computer.list")
    assert [c["hostname"] for c in listed["computers"]] == ["Computer A"]
    assert listed["groups"] == []  # an end user sees no groups
    everyone = Oco(
        client, "admin", runtime.services.users.create_token(admin, "o", "read+write", None).token, None
    )
    assert sorted(c["hostname"] for c in everyone.ok("oco.computer.list")["computers"]) == [
        "Computer A",
        "Computer B",
    ]


def test_opsi_lists_only_assigned(
    client: TestClient, runtime: Runtime, admin: Actor, fleet: dict[str, Any]
) -> None:
    opsi = Opsi(client, "shane@myworld", fleet["token"])
    hosts = opsi.ok("host_getObjects", [], {"type": "OpsiClient"})
    assert [h["id"].split(".")[0] for h in hosts] == ["computer a"]


def test_unassign_takes_the_computer_away(rpc: RemotePc, client: TestClient, fleet: dict[str, Any]) -> None:
    rpc.ok(rpc.post("computer/unassign", {"username": "shane@myworld", "computer_names": ["Computer A"]}))
    assert v1(client, fleet["token"], "GET", "/computers").json()["data"] == []
