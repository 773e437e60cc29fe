"""rportd's client attributes (``/clients/{id}/attributes``) over core's computer tags and
labels: written and read back, shown in ``GET /clients`` with the client groups a client is in,
matched by client groups' ``tag`` parameter, refused for clients the caller may not reach, and a
constant number of statements per list."""

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
def uids(runtime: Runtime, admin: Actor) -> dict[str, str]:
    found = {}
    for name in ("alpha", "beta", "gamma"):
        cid = factories.computer(runtime.services, admin, name)
        found[name] = runtime.services.computers.get(admin, cid).summary.uid
    runtime.services.user_groups.put(admin, "devs", {})
    runtime.services.users.create(admin, "bob", PASSWORD, Role.OPERATOR, groups=["devs"])
    return found


def put(client: Any, uid: str, body: Any, headers: dict[str, str] = ADMIN) -> Any:
    return client.put(f"{API}/clients/{uid}/attributes", json=body, headers=headers)


def test_write_read_and_list(client: Any, runtime: Runtime, admin: Actor, uids: dict[str, str]) -> None:
    r = put(client, uids["alpha"], {"tags": ["linux", "web"], "labels": {"city": "Cologne"}})
    assert r.status_code == 200 and r.json() == {"data": "ok"}
    got = client.get(f"{API}/clients/{uids['alpha']}/attributes", headers=ADMIN).json()
    assert got == {"data": {"tags": ["linux", "web"], "labels": {"city": "Cologne"}}}
    assert (
        client.post(
            f"{API}/client-groups",
            json={"id": "lw", "params": {"tag": {"and": ["LIN*", "web"]}}},
            headers=ADMIN,
        ).status_code
        == 201
    )
    listed = client.get(
        f"{API}/clients", headers=ADMIN, params={"fields[clients]": "id,tags,labels,groups"}
    ).json()["data"]
    by_id = {c["id"]: c for c in listed}
    assert by_id[uids["alpha"]] == {
        "id": uids["alpha"],
        "tags": ["linux", "web"],
        "labels": {"city": "Cologne"},
        "groups": ["lw"],
    }
    assert by_id[uids["beta"]]["tags"] == [] and by_id[uids["beta"]]["groups"] == []
    # the same rows other transports see
    assert runtime.services.attributes.get(admin, uids["alpha"]).tags == ("linux", "web")
    # replacing drops what is not given; the group follows
    assert put(client, uids["alpha"], {"tags": ["linux"]}).status_code == 200
    members = client.get(f"{API}/client-groups/lw", headers=ADMIN).json()["data"]["client_ids"]
    assert members == []


@pytest.mark.parametrize(
    "body",
    [
        {"tags": "x"},
        {"labels": {"a": 1}},
        {"other": []},
        {"tags": ["x" * 300]},
        {"tags": ["a"] * 0 + [f"t{i}" for i in range(101)]},
    ],
)
def test_bad_bodies_are_400(client: Any, uids: dict[str, str], body: Any) -> None:
    r = put(client, uids["alpha"], body)
    assert r.status_code == 400, r.text


def test_unknown_or_unreachable_client_is_404(client: Any, uids: dict[str, str]) -> None:
    assert client.get(f"{API}/clients/nope/attributes", headers=ADMIN).status_code == 404
    assert put(client, "nope", {"tags": []}).status_code == 404
    # Bob's groups reach no client yet
    assert client.get(f"{API}/clients/{uids['alpha']}/attributes", headers=BOB).status_code == 404
    assert put(client, uids["alpha"], {"tags": ["x"]}, BOB).status_code == 404
    client.post(
        f"{API}/client-groups",
        json={"id": "a", "params": {"name": ["alpha"]}, "allowed_user_groups": ["devs"]},
        headers=ADMIN,
    )
    assert put(client, uids["alpha"], {"tags": ["x"]}, BOB).status_code == 200
    assert put(client, uids["beta"], {"tags": ["x"]}, BOB).status_code == 404


def test_list_runs_constant_statements(
    client: Any, runtime: Runtime, admin: Actor, uids: dict[str, str]
) -> None:
    params = {"fields[clients]": "id,tags,groups"}

    def statements() -> int:
        client.get(f"{API}/clients", headers=ADMIN, params=params)
        with counting(runtime.db) as seen:
            assert client.get(f"{API}/clients", headers=ADMIN, params=params).status_code == 200
        return len(seen)

    client.post(f"{API}/client-groups", json={"id": "t", "params": {"tag": ["t*"]}}, headers=ADMIN)
    one = statements()
    for k in range(12):
        cid = factories.computer(runtime.services, admin, f"pc-{k}")
        runtime.services.attributes.put(
            admin, runtime.services.computers.get(admin, cid).summary.uid, [f"t{k}"], {"k": str(k)}
        )
    assert statements() == one


def test_acl_gives_user_groups_single_clients(client: Any, uids: dict[str, str]) -> None:
    """``POST /clients/{id}/acl``: the user groups allowed to reach one client (the whole list),
    shown as ``allowed_user_groups``; unknown groups or clients are 404; Administrators only."""
    acl = f"{API}/clients/{uids['beta']}/acl"
    assert client.get(f"{API}/clients", headers=BOB).json()["meta"]["count"] == 0
    assert client.post(acl, json={"allowed_user_groups": ["devs"]}, headers=BOB).status_code == 403
    r = client.post(acl, json={"allowed_user_groups": ["devs"]}, headers=ADMIN)
    assert r.status_code == 204 and r.content == b""
    seen = client.get(f"{API}/clients", headers=BOB, params={"fields[clients]": "id,allowed_user_groups"})
    assert seen.json()["data"] == [{"id": uids["beta"], "allowed_user_groups": ["devs"]}]
    # attributes are kept apart from the ACL
    assert put(client, uids["beta"], {"tags": ["t"]}).status_code == 200
    assert client.get(f"{API}/clients/{uids['beta']}", headers=BOB).json()["data"]["allowed_user_groups"] == [
        "devs"
    ]
    missing = client.post(acl, json={"allowed_user_groups": ["devs", "nobody"]}, headers=ADMIN)
    assert missing.status_code == 404
    assert (
        client.post(f"{API}/clients/nope/acl", json={"allowed_user_groups": []}, headers=ADMIN).status_code
        == 404
    )
    assert client.post(acl, json={"allowed_user_groups": "devs"}, headers=ADMIN).status_code == 400
    assert client.post(acl, json={"allowed_user_groups": []}, headers=ADMIN).status_code == 204
    assert client.get(f"{API}/clients", headers=BOB).json()["meta"]["count"] == 0


def test_client_tags(client: Any, runtime: Runtime, admin: Actor, uids: dict[str, str]) -> None:
    """``GET /client-tags``: each tag in use with its clients, sorted, paged, only clients the
    caller reaches, three statements whatever the number of tags."""
    put(client, uids["alpha"], {"tags": ["web", "linux"]})
    put(client, uids["beta"], {"tags": ["linux"]})
    body = client.get(f"{API}/client-tags", headers=ADMIN).json()
    assert body == {
        "data": [
            {"tag": "linux", "client_ids": sorted([uids["alpha"], uids["beta"]])},
            {"tag": "web", "client_ids": [uids["alpha"]]},
        ],
        "meta": {"count": 2},
    }
    paged = client.get(
        f"{API}/client-tags",
        headers=ADMIN,
        params={"page[limit]": "1", "page[offset]": "1", "fields[client_tags]": "tag"},
    ).json()
    assert paged == {"data": [{"tag": "web"}], "meta": {"count": 2}}
    assert client.get(f"{API}/client-tags", headers=ADMIN, params={"page[limit]": "501"}).status_code == 400
    assert client.get(f"{API}/client-tags", headers=BOB).json() == {"data": [], "meta": {"count": 0}}
    client.post(f"{API}/clients/{uids['beta']}/acl", json={"allowed_user_groups": ["devs"]}, headers=ADMIN)
    assert client.get(f"{API}/client-tags", headers=BOB).json()["data"] == [
        {"tag": "linux", "client_ids": [uids["beta"]]}
    ]

    def statements() -> int:
        with counting(runtime.db) as seen:
            assert client.get(f"{API}/client-tags", headers=ADMIN).status_code == 200
        return len([s for s in seen if "computer_tags" in s])

    one = statements()
    for k in range(10):
        cid = factories.computer(runtime.services, admin, f"pc-{k}")
        runtime.services.attributes.put(
            admin, runtime.services.computers.get(admin, cid).summary.uid, [f"x{k}"], {}
        )
    assert statements() == one == 3
