"""rportd's client groups (``/client-groups``) over core's rule groups, and the per-client access
they give user groups: CRUD with rportd's statuses, members that follow the inventory, members
and ``GET /clients`` limited to what a non-admin's user groups may reach, constant statements."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from tests import factories
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, PASSWORD, basic
from tests.integration.queries.test_list_query_counts import counting

ADMIN = basic("admin", ADMIN_PASSWORD)
BOB = basic("bob", PASSWORD)


@pytest.fixture
def fleet(runtime: Runtime, admin: Actor) -> dict[str, str]:
    """Four computers (hostname -> uid) and Bob, an operator in the user group ``devs``."""
    names = {
        "web-1": ("Ubuntu", "x86_64"),
        "web-2": ("Debian", "arm64"),
        "db-1": ("Ubuntu", "x86_64"),
        "WIN-7": ("Windows", "x86_64"),
    }
    uids = {}
    for name, (os, arch) in names.items():
        cid = factories.computer(runtime.services, admin, name, os=os, os_version="1", architecture=arch)
        uids[name] = runtime.services.computers.get(admin, cid).summary.uid
    runtime.services.user_groups.put(admin, "devs", {})
    runtime.services.users.create(admin, "bob", PASSWORD, Role.OPERATOR, groups=["devs"])
    return uids


def post(client: Any, body: Any, headers: dict[str, str] = ADMIN) -> Any:
    return client.post(f"{API}/client-groups", json=body, headers=headers)


def get(client: Any, path: str, headers: dict[str, str] = ADMIN, **params: str) -> Any:
    return client.get(API + path, headers=headers, params=params)


def test_crud_with_rportds_statuses(client: Any, fleet: dict[str, str]) -> None:
    body = {"id": "web", "description": "web servers", "params": {"name": ["web-*"]}}
    created = post(client, body)
    assert created.status_code == 201 and created.content == b""
    assert post(client, body).status_code == 409
    assert post(client, body).json()["errors"][0]["code"] == "ERR_CODE_ALREADY_EXIST"
    one = get(client, "/client-groups/web").json()["data"]
    assert one["params"] == {"name": ["web-*"]}
    assert sorted(one["client_ids"]) == sorted([fleet["web-1"], fleet["web-2"]])
    assert one["num_clients"] == 2 and one["num_clients_connected"] == 0
    listed = get(client, "/client-groups").json()
    assert listed == {"data": [{"id": "web", "description": "web servers"}], "meta": {"count": 1}}
    put = client.put(
        f"{API}/client-groups/web",
        json={"id": "web", "description": "d", "params": {"os": ["ubuntu"]}},
        headers=ADMIN,
    )
    assert put.status_code == 204
    assert sorted(get(client, "/client-groups/web").json()["data"]["client_ids"]) == sorted(
        [fleet["web-1"], fleet["db-1"]]
    )
    mismatch = client.put(f"{API}/client-groups/web", json={"id": "other"}, headers=ADMIN)
    assert mismatch.status_code == 400
    assert client.delete(f"{API}/client-groups/web", headers=ADMIN).status_code == 204
    assert client.delete(f"{API}/client-groups/web", headers=ADMIN).status_code == 404
    assert get(client, "/client-groups/web").status_code == 404


@pytest.mark.parametrize(
    ("params", "members"),
    [
        ({"name": ["WEB-*"], "os": ["ubuntu"]}, ["web-1"]),  # AND across, case-insensitive
        ({"name": ["db-1", "win*"]}, ["WIN-7", "db-1"]),  # OR within
        ({"os_arch": ["*64"], "os": ["debian", "windows"]}, ["WIN-7", "web-2"]),
        ({"connection_state": ["disconnected"], "name": ["*-1"]}, ["db-1", "web-1"]),
        ({"connection_state": ["connected"]}, []),
        ({}, []),  # no parameters: no members
        ({"name": ["web_1"]}, []),  # '_' is no wildcard
        ({"tag": {"and": ["x"]}}, []),  # no tags are kept yet
    ],
)
def test_matching(client: Any, fleet: dict[str, str], params: dict[str, Any], members: list[str]) -> None:
    assert post(client, {"id": "g", "params": params}).status_code == 201
    got = get(client, "/client-groups/g", **{"fields[client_groups]": "client_ids"}).json()["data"]
    assert sorted(got["client_ids"]) == sorted(fleet[m] for m in members)


def test_members_follow_the_inventory(
    client: Any, runtime: Runtime, admin: Actor, fleet: dict[str, str]
) -> None:
    assert post(client, {"id": "deb", "params": {"os": ["debian*"]}}).status_code == 201
    assert get(client, "/client-groups/deb").json()["data"]["num_clients"] == 1
    factories.computer(runtime.services, admin, "web-3", os="Debian", os_version="12")
    assert get(client, "/client-groups/deb").json()["data"]["num_clients"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"id": "bad id!"},
        {"id": "x" * 31},
        {"id": "g", "params": {"nope": ["x"]}},
        {"id": "g", "params": {"tag": {"xor": ["a"]}}},
        {"id": "g", "params": {"name": "web"}},
        {"id": "g", "unknown": 1},
        {"description": "no id"},
    ],
)
def test_bad_bodies_are_400(client: Any, fleet: dict[str, str], body: dict[str, Any]) -> None:
    r = post(client, body)
    assert r.status_code == 400, r.text
    assert set(r.json()["errors"][0]) == {"code", "title", "detail"}


def test_writes_are_for_administrators(client: Any, fleet: dict[str, str]) -> None:
    assert post(client, {"id": "g", "params": {"name": ["*"]}}, headers=BOB).status_code == 403
    assert client.delete(f"{API}/client-groups/g", headers=BOB).status_code == 403
    assert get(client, "/client-groups", headers=BOB).status_code == 200


def test_user_groups_reach_only_allowed_clients(client: Any, fleet: dict[str, str]) -> None:
    """Bob (in ``devs``) sees nothing until a group allows ``devs``; then exactly its clients,
    in ``GET /clients``, ``GET /clients/{id}`` and the groups' ``client_ids``."""
    assert get(client, "/clients", headers=BOB).json() == {"data": [], "meta": {"count": 0}}
    assert (
        post(
            client, {"id": "web", "params": {"name": ["web-*"]}, "allowed_user_groups": ["devs"]}
        ).status_code
        == 201
    )
    assert (
        post(client, {"id": "all", "params": {"name": ["*"]}, "allowed_user_groups": ["ops"]}).status_code
        == 201
    )
    mine = get(client, "/clients", headers=BOB).json()
    assert sorted(c["id"] for c in mine["data"]) == sorted([fleet["web-1"], fleet["web-2"]])
    assert mine["meta"]["count"] == 2
    assert get(client, f"/clients/{fleet['web-1']}", headers=BOB).status_code == 200
    assert get(client, f"/clients/{fleet['db-1']}", headers=BOB).status_code == 404
    seen = get(client, "/client-groups/all", headers=BOB).json()["data"]
    assert sorted(seen["client_ids"]) == sorted([fleet["web-1"], fleet["web-2"]])
    assert get(client, "/client-groups/all").json()["data"]["num_clients"] == 4  # the admin: all
    assert get(client, "/clients").json()["meta"]["count"] == 4


def test_list_runs_constant_statements(
    client: Any, runtime: Runtime, admin: Actor, fleet: dict[str, str]
) -> None:
    fields = {"fields[client_groups]": "id,num_clients,client_ids"}

    def statements(headers: dict[str, str]) -> int:
        get(client, "/client-groups", headers, **fields)  # warm: settings read
        with counting(runtime.db) as seen:
            assert get(client, "/client-groups", headers, **fields).status_code == 200
        return len([s for s in seen if "rule_groups" in s or "FROM computers" in s])

    post(client, {"id": "g0", "params": {"name": ["web-*"]}, "allowed_user_groups": ["devs"]})
    one, bob = statements(ADMIN), statements(BOB)
    for k in range(1, 15):
        post(client, {"id": f"g{k}", "params": {"os": ["ubuntu"], "name": [f"*{k}*"]}})
        factories.computer(runtime.services, admin, f"pc-{k}", os="Ubuntu")
    assert statements(ADMIN) == one == 3  # count, page, members of the page
    assert statements(BOB) == bob == 4  # and the rule groups that decide Bob's reach
