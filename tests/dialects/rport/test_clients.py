"""rportd's ``GET /clients`` and ``/clients/{id}`` over core's computers: rportd's fields, its
sort/filter/fields/page spelling, a constant number of statements per list, and an end user's
scope (only the computers assigned to them)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor, Role
from tests import factories
from tests.dialects.rport.conftest import API, basic
from tests.integration.queries.test_list_query_counts import counting

END_USER = "ann@example.org"
END_PASSWORD = "secret1"


@pytest.fixture
def fleet(runtime: Runtime, admin: Actor) -> dict[str, str]:
    """Three computers (hostname -> uid); ``beta`` is assigned to the end user Ann."""
    names = {"alpha": ("Ubuntu", "22.04"), "beta": ("Windows", "11"), "gamma": ("Debian", "12")}
    uids = {}
    for name, (os, version) in names.items():
        cid = factories.computer(
            runtime.services, admin, name, os=os, os_version=version, architecture="x86_64"
        )
        uids[name] = runtime.services.computers.get(admin, cid).summary.uid
    runtime.services.people.create(
        admin, first_name="Ann", last_name="A", email=END_USER, password=END_PASSWORD
    )
    runtime.services.people.assign(admin, END_USER, ["beta"])
    return uids


def get(client: Any, path: str, **params: Any) -> Any:
    return client.get(API + path, headers=basic("admin", "admin-password-1"), params=params)


def test_list_default_fields_sort_and_page(client: Any, fleet: dict[str, str]) -> None:
    r = get(client, "/clients")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"] == {"count": 3}
    assert [c["name"] for c in body["data"]] == ["alpha", "beta", "gamma"]
    assert set(body["data"][0]) == {"id", "name", "hostname"}  # rportd's default fieldset
    assert body["data"][0]["id"] == fleet["alpha"]
    desc = get(client, "/clients", sort="-name", **{"page[limit]": 2, "page[offset]": 1}).json()
    assert [c["name"] for c in desc["data"]] == ["beta", "alpha"]
    assert desc["meta"]["count"] == 3


def test_filters_and_fields(client: Any, fleet: dict[str, str]) -> None:
    one = get(
        client,
        "/clients",
        **{"filter[os_full_name]": "windows*", "fields[clients]": "id,os_full_name,os_arch"},
    )
    assert one.json()["data"] == [{"id": fleet["beta"], "os_full_name": "Windows 11", "os_arch": "x86_64"}]
    either = get(client, "/clients", **{"filter[name|os]": "alpha,debian"})  # any of, either field
    assert sorted(c["name"] for c in either.json()["data"]) == ["alpha", "gamma"]
    search = get(client, "/clients", **{"filter[*]": "*ubunt*"})
    assert [c["name"] for c in search.json()["data"]] == ["alpha"]
    state = get(client, "/clients", **{"filter[connection_state]": "disconnected"})
    assert state.json()["meta"]["count"] == 3
    assert get(client, "/clients", **{"filter[connection_state]": "connected"}).json()["meta"]["count"] == 0


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({"sort": "nope"}, "unsupported sort field 'nope'"),
        ({"filter[nope]": "x"}, "unsupported filter field 'filter[nope]'"),
        ({"fields[clients]": "id,nope"}, "unsupported field 'nope' for resource 'clients'"),
        ({"page[limit]": "501"}, "pagination limit too big (501) maximum is 500"),
        ({"filter[connection_state]": "maybe"}, None),
    ],
)
def test_bad_list_parameters_are_400(
    client: Any, fleet: dict[str, str], params: dict[str, str], title: str | None
) -> None:
    r = get(client, "/clients", **params)
    assert r.status_code == 400
    if title is not None:
        assert r.json()["errors"][0]["title"] == title


def test_one_client_every_field(client: Any, fleet: dict[str, str]) -> None:
    r = get(client, f"/clients/{fleet['gamma']}")
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["id"] == fleet["gamma"] and data["name"] == "gamma"
    assert data["os_full_name"] == "Debian 12" and data["connection_state"] == "disconnected"
    assert data["tunnels"] == [] and data["labels"] == {}
    assert get(client, "/clients/no-such-client").status_code == 404


def test_end_user_sees_only_assigned(client: Any, fleet: dict[str, str]) -> None:
    mine = client.get(f"{API}/clients", headers=basic(END_USER, END_PASSWORD))
    assert mine.status_code == 200, mine.text
    assert [c["id"] for c in mine.json()["data"]] == [fleet["beta"]]
    assert mine.json()["meta"]["count"] == 1
    other = client.get(f"{API}/clients/{fleet['alpha']}", headers=basic(END_USER, END_PASSWORD))
    assert other.status_code == 404
    own = client.get(f"{API}/clients/{fleet['beta']}", headers=basic(END_USER, END_PASSWORD))
    assert own.status_code == 200


def test_list_runs_constant_statements(client: Any, runtime: Runtime, admin: Actor) -> None:
    def statements() -> int:
        get(client, "/clients", **{"fields[clients]": "id,name,os_full_name"})  # warm: settings read
        with counting(runtime.db) as seen:
            assert get(client, "/clients", **{"fields[clients]": "id,name,os_full_name"}).status_code == 200
        return len([s for s in seen if "FROM computers" in s])

    factories.computer(runtime.services, admin, "pc-0")
    one = statements()
    for k in range(1, 20):
        factories.computer(runtime.services, admin, f"pc-{k}")
    assert statements() == one == 2  # the count and the page


@pytest.fixture
def described(runtime: Runtime, admin: Actor, fleet: dict[str, str]) -> dict[str, str]:
    """The fleet with tags, labels, a user group allowed on ``gamma`` and two rule groups."""
    attrs = runtime.services.attributes
    attrs.put(admin, fleet["alpha"], ["Linux", "Datacenter 4"], {"city": "Berlin"})
    attrs.put(admin, fleet["beta"], ["Windows"], {"city": "Paris"})
    attrs.put(admin, fleet["gamma"], ["Linux"], {"city": "Bern"})
    runtime.services.users.create(admin, "bob", "bob-password-1", Role.OPERATOR, groups=["devs"])
    attrs.allow(admin, fleet["gamma"], ["devs"])
    groups = runtime.services.rule_groups
    groups.create(admin, "web-eu", "", {"name": ["alpha", "beta"]}, [])
    groups.create(admin, "db", "", {"name": ["gamma"]}, [])
    return fleet


def names(client: Any, **params: str) -> list[str]:
    r = get(client, "/clients", **params)
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["count"] == len(r.json()["data"])
    return sorted(c["name"] for c in r.json()["data"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[tags]": "linux"}, ["alpha", "gamma"]),  # any element, case-insensitive
        ({"filter[tags]": "Windows,Datacenter 4"}, ["alpha", "beta"]),  # a,b = OR
        ({"filter[tags]": "and(Linux,Datacenter*)"}, ["alpha"]),  # each condition on any element
        ({"filter[tags]": "data*"}, ["alpha"]),
        ({"filter[labels]": "city: Ber*"}, ["alpha", "gamma"]),  # a label is "name: value"
        ({"filter[labels]": "city: paris"}, ["beta"]),
        ({"filter[labels]": "*: Bern"}, ["gamma"]),
        ({"filter[groups]": "web-eu"}, ["alpha", "beta"]),
        ({"filter[groups]": "db,nope"}, ["gamma"]),
        ({"filter[groups]": "*"}, ["alpha", "beta", "gamma"]),
        ({"filter[groups]": "nope*"}, []),
        ({"filter[allowed_user_groups]": "dev*"}, ["gamma"]),
        ({"filter[tags]": "linux", "filter[groups]": "web*"}, ["alpha"]),  # params are ANDed
        ({"filter[tags|groups]": "windows,db"}, ["beta", "gamma"]),  # OR across fields
    ],
)
def test_list_field_filters(
    client: Any, described: dict[str, str], params: dict[str, str], expected: list[str]
) -> None:
    assert names(client, **params) == expected


def test_list_field_filters_paged_count(client: Any, described: dict[str, str]) -> None:
    r = get(client, "/clients", **{"filter[tags]": "linux", "page[limit]": "1"})
    assert r.json()["meta"]["count"] == 2 and len(r.json()["data"]) == 1


def test_list_field_filters_run_constant_statements(client: Any, runtime: Runtime, admin: Actor) -> None:
    """The filters are subqueries of the same two statements (and one read of the matching rule
    groups), whatever the number of computers."""
    params = {"filter[tags]": "t*", "filter[labels]": "k: *", "filter[groups]": "all"}
    params |= {"filter[allowed_user_groups]": "*", "fields[clients]": "id,tags,labels,groups"}

    def statements() -> tuple[int, int]:
        get(client, "/clients", **params)
        with counting(runtime.db) as seen:
            r = get(client, "/clients", **params)
            assert r.status_code == 200, r.text
        return len(seen), r.json()["meta"]["count"]

    runtime.services.users.create(admin, "bob", "bob-password-1", Role.OPERATOR, groups=["devs"])
    runtime.services.rule_groups.create(admin, "all", "", {"name": ["pc-*"]}, [])

    def add(k: int) -> None:
        cid = factories.computer(runtime.services, admin, f"pc-{k}")
        uid = runtime.services.computers.get(admin, cid).summary.uid
        runtime.services.attributes.put(admin, uid, [f"t{k}"], {"k": str(k)})
        runtime.services.attributes.allow(admin, uid, ["devs"])

    add(0)
    one, found = statements()
    assert found == 1
    for k in range(1, 15):
        add(k)
    many, found = statements()
    assert found == 15 and many == one


def test_delete_only_disconnected_clients(
    client: Any, runtime: Runtime, admin: Actor, fleet: dict[str, str]
) -> None:
    """``DELETE /clients/{id}``: 204 for a disconnected client (core deletes and audits it), 400
    with rportd's text while connected, 404 unknown or out of the caller's reach."""
    as_admin = basic("admin", "admin-password-1")
    s = runtime.services
    alpha = s.computers.find(admin, q.Query(where=(q.Cond("uid", q.Op.EQ, fleet["alpha"]),))).items[0].id
    s.computers.set_online(alpha, node_id="test", remote_address="127.0.0.1", agent_version="1")
    busy = client.delete(f"{API}/clients/{fleet['alpha']}", headers=as_admin)
    assert busy.status_code == 400, busy.text
    assert busy.json()["errors"][0]["title"] == "client is active, should be disconnected"
    assert get(client, f"/clients/{fleet['alpha']}").status_code == 200  # still there
    denied = client.delete(f"{API}/clients/{fleet['beta']}", headers=basic(END_USER, END_PASSWORD))
    assert denied.status_code in (403, 404), denied.text  # an end user deletes nothing
    gone = client.delete(f"{API}/clients/{fleet['gamma']}", headers=as_admin)
    assert (gone.status_code, gone.content) == (204, b"")
    assert get(client, f"/clients/{fleet['gamma']}").status_code == 404
    again = client.delete(f"{API}/clients/{fleet['gamma']}", headers=as_admin)
    assert again.status_code == 404
    records = s.audit.find(admin, q.Query(where=(q.Cond("action", q.Op.EQ, "computer.delete"),))).items
    assert sorted(r.result for r in records if r.detail.get("uid") == fleet["gamma"]) == ["ok"]
    assert get(client, "/clients").json()["meta"]["count"] == 2
