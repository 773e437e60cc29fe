"""rportd's stored tunnels (``/clients/{id}/stored-tunnels``): create/list/replace/delete with
rportd's statuses, names unique per client (409), the list rules (page 10/100, sort, filter),
bad input in rportd's envelope, the ``tunnels`` permission, the client's reach, the audit trail
and a constant number of statements per list."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.rport.conftest import API, user
from tests.integration.queries.test_list_query_counts import counting

PRESET = {
    "name": "ssh",
    "scheme": "ssh",
    "remote_ip": "127.0.0.1",
    "remote_port": 22,
    "public_port": 20022,
    "acl": "10.0.0.0/8, 192.168.1.7",
    "further_options": {"idle_timeout_minutes": 5},
}


def _uid(runtime: Runtime, admin: Actor, name: str) -> str:
    made = runtime.services.computers.create(admin, name)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(Computer, made.id)
        assert row is not None
        return row.uid


def _title(r: Any) -> str:
    title: str = r.json()["errors"][0]["title"]
    return title


def test_crud(client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]) -> None:
    uid = _uid(runtime, admin, "pc1")
    base = f"{API}/clients/{uid}/stored-tunnels"
    r = client.post(base, headers=as_admin, json=PRESET)
    assert r.status_code == 201, r.text
    made = r.json()["data"]
    assert len(made["id"]) == 36 and made["created_at"]
    assert {k: made[k] for k in PRESET} == {**PRESET, "acl": "10.0.0.0/8,192.168.1.7"}
    assert client.post(base, headers=as_admin, json=PRESET).status_code == 409  # the same name
    listed = client.get(base, headers=as_admin).json()
    assert listed == {"data": [made], "meta": {"count": 1}}
    changed = {**PRESET, "name": "web", "remote_port": 443, "public_port": None, "acl": ""}
    r = client.put(f"{base}/{made['id']}", headers=as_admin, json={**changed, "id": made["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "web" and r.json()["data"]["public_port"] is None
    assert client.put(f"{base}/nope", headers=as_admin, json=changed).status_code == 404
    assert client.delete(f"{base}/{made['id']}", headers=as_admin).status_code == 204
    r = client.delete(f"{base}/{made['id']}", headers=as_admin)
    assert (r.status_code, _title(r)) == (404, "cannot find stored tunnel by the provided id")
    assert client.get(base, headers=as_admin).json() == {"data": [], "meta": {"count": 0}}
    # another client's presets may reuse a name
    other = _uid(runtime, admin, "pc2")
    assert (
        client.post(f"{API}/clients/{other}/stored-tunnels", headers=as_admin, json=PRESET).status_code == 201
    )
    r = client.get(f"{API}/clients/nope/stored-tunnels", headers=as_admin)
    assert r.status_code == 404
    log = client.get(f"{API}/auditlog", headers=as_admin, params={"page[limit]": 100}).json()["data"]
    actions = [e["action"] for e in log if e["application"] == "client" and "/" in e["affected_id"]]
    # refusals (the taken name, the unknown ids) are audited too
    assert sorted(actions) == ["create"] * 3 + ["delete"] * 2 + ["update"] * 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**PRESET, "remote_port": 0}, 400),
        ({**PRESET, "remote_port": 70000}, 400),
        ({**PRESET, "public_port": 65536}, 400),
        ({**PRESET, "remote_port": None}, 400),
        ({**PRESET, "remote_port": "22"}, 400),
        ({**PRESET, "scheme": "s" * 16}, 400),
        ({**PRESET, "name": "n" * 201}, 400),
        ({**PRESET, "name": " "}, 400),
        ({**PRESET, "remote_ip": ""}, 400),
        ({**PRESET, "acl": "0.0.0.0"}, 400),
        ({**PRESET, "acl": "not-an-address"}, 400),
        ({**PRESET, "further_options": []}, 400),
        ({**PRESET, "further_options": {"x": "y" * 11000}}, 413),  # rportd's body limit
        ({**PRESET, "further_options": {"x": "a\x00b"}}, 400),  # NUL refused in every rport body
        ({**PRESET, "unknown": 1}, 400),
        ("not an object", 400),
    ],
)
def test_bad_input_is_rports_400(
    client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str], body: Any, status: int
) -> None:
    uid = _uid(runtime, admin, "pc1")
    r = client.post(f"{API}/clients/{uid}/stored-tunnels", headers=as_admin, json=body)
    assert r.status_code == status, r.text
    if status != 201:
        assert set(r.json()["errors"][0]) == {"code", "title", "detail"}


def test_list_rules(client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]) -> None:
    uid = _uid(runtime, admin, "pc1")
    base = f"{API}/clients/{uid}/stored-tunnels"
    for k in range(12):
        body = {**PRESET, "name": f"t{k:02}", "scheme": "https" if k % 2 else "http", "remote_port": 100 + k}
        assert client.post(base, headers=as_admin, json=body).status_code == 201
    page = client.get(base, headers=as_admin).json()
    assert len(page["data"]) == 10 and page["meta"]["count"] == 12
    r = client.get(base, headers=as_admin, params={"page[limit]": 101})
    assert (r.status_code, _title(r)) == (400, "pagination limit too big (101) maximum is 100")
    names = [
        t["name"]
        for t in client.get(base, headers=as_admin, params={"sort": "-remote_port", "page[limit]": 3}).json()[
            "data"
        ]
    ]
    assert names == ["t11", "t10", "t09"]
    r = client.get(base, headers=as_admin, params={"sort": "owner"})
    assert (r.status_code, _title(r)) == (400, "unsupported sort field 'owner'")
    got = client.get(base, headers=as_admin, params={"filter[scheme]": "HTTPS", "page[limit]": 100}).json()
    assert got["meta"]["count"] == 6
    got = client.get(base, headers=as_admin, params={"filter[remote_port]": "100,111"}).json()
    assert sorted(t["name"] for t in got["data"]) == ["t00", "t11"]
    got = client.get(base, headers=as_admin, params={"filter[name]": "t1*"}).json()
    assert got["meta"]["count"] == 2
    r = client.get(base, headers=as_admin, params={"filter[remote_port]": "x"})
    assert r.status_code == 400
    r = client.get(base, headers=as_admin, params={"filter[owner]": "x"})
    assert (r.status_code, _title(r)) == (400, "unsupported filter field 'filter[owner]'")


def test_permission_and_reach(client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]) -> None:
    uid = _uid(runtime, admin, "alpha")
    base = f"{API}/clients/{uid}/stored-tunnels"
    client.put(f"{API}/user-groups/none", headers=as_admin, json={"permissions": {"commands": True}})
    client.put(f"{API}/user-groups/tun", headers=as_admin, json={"permissions": {"tunnels": True}})
    outsider = user(client, as_admin, "nina-none", ["none"])
    tunneler = user(client, as_admin, "tom-tun", ["tun"])
    for method, path in (("GET", ""), ("POST", ""), ("PUT", "/x"), ("DELETE", "/x")):
        r = client.request(method, base + path, headers=outsider, json=PRESET)
        assert (r.status_code, _title(r)) == (403, 'user does not have "tunnels" permission'), path
    # permitted, but the client is not within reach of the user's groups: as if unknown
    for method, path in (("GET", ""), ("POST", ""), ("PUT", "/x"), ("DELETE", "/x")):
        r = client.request(method, base + path, headers=tunneler, json=PRESET)
        assert r.status_code == 404, (path, r.text)
    client.post(
        f"{API}/client-groups",
        json={"id": "a", "params": {"name": ["alpha"]}, "allowed_user_groups": ["tun"]},
        headers=as_admin,
    )
    assert client.post(base, headers=tunneler, json=PRESET).status_code == 201
    assert client.get(base, headers=tunneler).json()["meta"]["count"] == 1


def test_deep_options_are_refused_not_a_500(
    client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    uid = _uid(runtime, admin, "pc1")
    deep = '{"a":' + "[" * 4500 + "]" * 4500 + "}"
    body = '{"name":"n","remote_ip":"h","remote_port":1,"further_options":' + deep + "}"
    r = client.post(
        f"{API}/clients/{uid}/stored-tunnels",
        headers={**as_admin, "Content-Type": "application/json"},
        content=body,
    )
    assert r.status_code == 400, r.text


def test_list_runs_constant_statements(
    client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    uid = _uid(runtime, admin, "pc1")
    base = f"{API}/clients/{uid}/stored-tunnels"

    def statements() -> int:
        client.get(base, headers=as_admin)  # warm: settings read
        with counting(runtime.db) as seen:
            assert client.get(base, headers=as_admin, params={"page[limit]": 100}).status_code == 200
        return len([s for s in seen if "FROM stored_tunnels" in s])

    client.post(base, headers=as_admin, json=PRESET)
    one = statements()
    for k in range(30):
        client.post(base, headers=as_admin, json={**PRESET, "name": f"s{k}"})
    assert statements() == one == 2  # the count and the page
