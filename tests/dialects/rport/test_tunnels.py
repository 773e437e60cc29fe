"""rportd's tunnel routes in process (no agent: what is decided before one is needed): the
``tunnels`` permission, bad input in rportd's words, unknown and disconnected clients, what is
not built, and ``GET /tunnels`` in one statement whatever the number of tunnels. The tunnels
themselves, through a real agent: ``test_tunnels_e2e.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.storage.tables import Computer, Tunnel
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, basic, user


def _title(r: Any) -> str:
    title: str = r.json()["errors"][0]["title"]
    return title


def _computer(runtime: Runtime, admin: Actor, name: str) -> tuple[int, str]:
    made = runtime.services.computers.create(admin, name)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(Computer, made.id)
        assert row is not None
        return made.id, row.uid


def test_permission_and_reach(client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor) -> None:
    _cid, uid = _computer(runtime, admin, "pc1")
    assert (
        client.put(
            f"{API}/user-groups/none", headers=as_admin, json={"permissions": {"commands": True}}
        ).status_code
        == 200
    )
    assert (
        client.put(
            f"{API}/user-groups/tun", headers=as_admin, json={"permissions": {"tunnels": True}}
        ).status_code
        == 200
    )
    outsider = user(client, as_admin, "nina-none", ["none"])
    tunneler = user(client, as_admin, "tom-tun", ["tun"])
    for method, path in (
        ("GET", "/tunnels"),
        ("PUT", f"/clients/{uid}/tunnels?remote=22"),
        ("DELETE", f"/clients/{uid}/tunnels/1"),
    ):
        r = client.request(method, API + path, headers=outsider)
        assert (r.status_code, _title(r)) == (403, 'user does not have "tunnels" permission'), path
    # permitted, but the client is not within reach of the user's groups: as if unknown
    r = client.put(f"{API}/clients/{uid}/tunnels", headers=tunneler, params={"remote": "22"})
    assert r.status_code == 404, r.text
    assert client.get(f"{API}/tunnels", headers=tunneler).json() == {"data": []}


@pytest.mark.parametrize(
    ("params", "title"),
    [
        ({}, "remote is required"),
        ({"remote": "host:"}, "invalid remote port: ''"),
        ({"remote": "70000"}, "invalid remote port: '70000'"),
        ({"remote": "22", "local": "x:y"}, "invalid local port: 'y'"),
        (
            {"remote": "22", "protocol": "udp", "http_proxy": "1"},
            "tunnel proxy not allowed with protcol udp",
        ),
        ({"remote": "22", "protocol": "udp+tcp"}, "invalid protocol 'udp+tcp': tcp, udp or tcp+udp"),
        ({"remote": "22", "protocol": "udp", "local": "1.2.3.4:0"}, "invalid local port: '0'"),
        ({"remote": "22", "protocol": "sctp"}, "invalid protocol 'sctp': tcp, udp or tcp+udp"),
        ({"remote": "22", "http_proxy": "1", "scheme": "vnc"}, "not implemented"),
        ({"remote": "22", "http_proxy": "1", "scheme": "rdp"}, "not implemented"),
        ({"remote": "22", "http_proxy": "1", "scheme": "ssh"}, "tunnel proxy not allowed with scheme ssh"),
        ({"remote": "22", "http_proxy": "perhaps"}, "invalid http_proxy value: 'perhaps'"),
        ({"remote": "22", "host_header": "x"}, "host_header not allowed when http_proxy is false"),
        (
            {"remote": "22", "auth_user": "u", "auth_password": "p"},
            "http basic authentication requires http_proxy to be activated on the requested tunnel",
        ),
        ({"remote": "22", "http_proxy": "1", "auth_user": "u"}, "auth_user requires auth_password"),
        ({"remote": "22", "http_proxy": "1", "auth_password": "p"}, "auth_password requires auth_user"),
        ({"remote": "22", "http_proxy": "1", "host_header": "a b"}, "invalid host_header 'a b'"),
        (
            {"remote": "22", "http_proxy": "1", "auth_user": "a:b", "auth_password": "p"},
            "auth_user may not contain ':'",
        ),
        (
            {"remote": "22", "http_proxy": "1", "auth_user": "u", "auth_password": "p\x01"},
            "invalid auth_password",
        ),
        ({"remote": "22", "scheme": "s" * 16}, "scheme length exceeds 15 characters"),
        (
            {"remote": "22", "idle-timeout-minutes": "5", "skip-idle-timeout": "1"},
            "idle-timeout-minutes and skip-idle-timeout cannot be used together",
        ),
        ({"remote": "22", "idle-timeout-minutes": "0"}, "idle-timeout-minutes must be between 1 and 10080"),
        ({"remote": "22", "auto-close": "5 minutes"}, "invalid auto-close duration: '5 minutes'"),
        ({"remote": "22", "auto-close": "745h"}, "auto-close must be at most 744h"),
        ({"remote": "22", "acl": "0.0.0.0"}, "ACL entry '0.0.0.0' is not allowed"),
        ({"remote": "22", "acl": "10.0.0.300"}, "invalid ACL entry '10.0.0.300'"),
        (
            {"remote": "22", "check_port": "0", "force": "1", "skip-idle-timeout": "maybe"},
            "invalid skip-idle-timeout value: 'maybe'",
        ),
    ],
)
def test_bad_input(
    client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor, params: dict[str, str], title: str
) -> None:
    _cid, uid = _computer(runtime, admin, "pc1")
    r = client.put(f"{API}/clients/{uid}/tunnels", headers=as_admin, params=params)
    assert (r.status_code, _title(r)) == (400, title), r.text
    if "acl" in params:
        assert r.json()["errors"][0]["code"] == "ERR_CODE_INVALID_ACL"


def test_unknown_and_disconnected_clients(
    client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor
) -> None:
    _cid, uid = _computer(runtime, admin, "pc1")  # never connected
    for who in ("no-such-client", uid):
        for protocol in ("tcp", "udp", "tcp+udp"):
            params = {"remote": "22", "protocol": protocol}
            r = client.put(f"{API}/clients/{who}/tunnels", headers=as_admin, params=params)
            assert r.status_code == 404, r.text
    r = client.delete(f"{API}/clients/{uid}/tunnels/1", headers=as_admin)
    assert (r.status_code, _title(r)) == (404, "tunnel with id='1' not found")
    r = client.put(f"{API}/clients/{uid}/tunnels/1/acl", headers=as_admin, json={"acl": "10.0.0.1"})
    assert r.status_code == 404
    r = client.put(f"{API}/clients/{uid}/tunnels/1/acl", headers=as_admin, json={"acl": "0.0.0.0"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "ERR_CODE_INVALID_ACL"
    r = client.put(f"{API}/clients/{uid}/tunnels/1/acl", headers=as_admin, json={"acl": 1})
    assert r.status_code == 400


def _stored_tunnel(
    runtime: Runtime,
    cid: int,
    key: str,
    port: int,
    remote_port: int = 80,
    scheme: str = "http",
    acl: str = "",
) -> None:
    """A tunnel row as core keeps it (no listener anywhere)."""
    with UnitOfWork(runtime.db) as uow:
        uow.session.add(
            Tunnel(
                computer_id=cid,
                short_id=key,
                name="",
                protocol="tcp",
                local_host="127.0.0.1",
                local_port=port,
                local_port_random=False,
                remote_host="127.0.0.1",
                remote_port=remote_port,
                scheme=scheme,
                acl=acl,
                idle_timeout_minutes=5,
                auto_close_sec=0,
                expires_at=None,
                created_at=datetime.now(UTC),
                owner="admin",
            )
        )


def test_main_port_route_refusals(client: Any, runtime: Runtime, admin: Actor) -> None:
    """``/tunnels/{computer}/{key}/``: its bad input and refusals, in process (no agent here:
    a tunnel this process does not serve is a 502 that says so). Through a real agent:
    ``test_tunnel_proxy_e2e.py``."""
    cid, _uid = _computer(runtime, admin, "pc1")
    _stored_tunnel(runtime, cid, "1", 40001)
    as_admin = basic("admin", ADMIN_PASSWORD)
    for path in ("/tunnels/", "/tunnels/x/1/", f"/tunnels/{cid}//", f"/tunnels/{cid}/{'k' * 21}/"):
        r = client.get(path, headers=as_admin)
        assert r.status_code == 404 and "no such tunnel route" in r.text, path
    assert client.get(f"/tunnels/{cid}/1/").status_code == 401
    assert client.get(f"/tunnels/{cid}/1/", headers={"Authorization": "Basic !!"}).status_code == 401
    assert client.get(f"/tunnels/{cid}/1/", headers={"Cookie": "fleetdeck_session=forged"}).status_code == 401
    runtime.services.users.create(admin, "vic", "password-1", Role.VIEWER)
    viewer = client.get(f"/tunnels/{cid}/1/", headers=basic("vic", "password-1"))
    assert viewer.status_code == 403 and "remote_access" in viewer.text, viewer.text
    unknown = client.get("/tunnels/99999/1/", headers=as_admin)  # says nothing of computers
    assert unknown.status_code == 403
    assert client.get(f"/tunnels/{cid}/2/", headers=as_admin).status_code == 404
    r = client.get(f"/tunnels/{cid}/1/", headers=as_admin)
    assert r.status_code == 502 and "not served by this server process" in r.text, r.text


def _add(runtime: Runtime, cid: int, key: str, port: int) -> None:
    _stored_tunnel(runtime, cid, key, port, remote_port=22, scheme="ssh", acl="10.0.0.0/8")


def _on_tunnels(runtime: Runtime, call: Callable[[], Any]) -> tuple[int, Any]:
    """The statements on the tunnels table while ``call`` runs (a 200 response), and what it returned."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM tunnels" in statement:
            statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        r = call()
        assert r.status_code == 200, r.text
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    return len(statements), r


def test_list_is_one_statement(client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor) -> None:
    def count() -> tuple[int, list[dict[str, Any]]]:
        n, r = _on_tunnels(runtime, lambda: client.get(f"{API}/tunnels", headers=as_admin))
        return n, r.json()["data"]

    first, uid = _computer(runtime, admin, "pc1")
    _add(runtime, first, "1", 40001)
    one, rows = count()
    assert rows[0]["client_id"] == uid and rows[0]["acl"] == "10.0.0.0/8" and rows[0]["lport"] == "40001"
    for i in range(2, 9):
        cid, _uid = _computer(runtime, admin, f"pc{i}")
        _add(runtime, cid, "1", 40000 + i)
        _add(runtime, cid, "2", 41000 + i)
    many, rows = count()
    assert len(rows) == 15
    assert many == one == 1


def test_clients_list_their_open_tunnels(
    client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor
) -> None:
    """``GET /clients`` and ``/clients/{id}``: ``tunnels`` in rportd's Tunnel shape (as
    ``GET /tunnels`` has them, without ``client_id``), one statement on tunnels for the whole
    page whatever the number of tunnels, and none for a caller without ``tunnels``."""

    def listed(headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        params = {"fields[clients]": "id,tunnels"}
        n, r = _on_tunnels(runtime, lambda: client.get(f"{API}/clients", headers=headers, params=params))
        return n, {c["id"]: c["tunnels"] for c in r.json()["data"]}

    first, first_uid = _computer(runtime, admin, "pc1")
    _empty, empty_uid = _computer(runtime, admin, "pc-none")
    _add(runtime, first, "1", 40001)
    one, by_client = listed(as_admin)
    assert by_client[empty_uid] == []
    [only] = by_client[first_uid]
    [from_tunnels] = client.get(f"{API}/tunnels", headers=as_admin).json()["data"]
    assert only == {k: v for k, v in from_tunnels.items() if k != "client_id"}
    assert (only["id"], only["lport"], only["rport"], only["acl"]) == ("1", "40001", "22", "10.0.0.0/8")
    for i in range(2, 9):
        cid, _uid = _computer(runtime, admin, f"pc{i}")
        _add(runtime, cid, "1", 40000 + i)
        _add(runtime, cid, "2", 41000 + i)
    many, by_client = listed(as_admin)
    assert many == one == 1
    assert sum(len(t) for t in by_client.values()) == 15
    assert [t["id"] for t in by_client[_computer_uid(runtime, "pc5")]] == ["1", "2"]
    got = client.get(f"{API}/clients/{first_uid}", headers=as_admin).json()["data"]["tunnels"]
    assert got == [only]
    # without the tunnels permission: the clients, without their tunnels (nothing read)
    client.put(f"{API}/user-groups/cmd", headers=as_admin, json={"permissions": {"commands": True}})
    client.post(f"{API}/clients/{first_uid}/acl", headers=as_admin, json={"allowed_user_groups": ["cmd"]})
    reader = user(client, as_admin, "carl-cmd", ["cmd"])
    none, by_client = listed(reader)
    assert (none, by_client) == (0, {first_uid: []})


def _computer_uid(runtime: Runtime, name: str) -> str:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        uid = uow.session.scalar(select(Computer.uid).where(Computer.hostname == name))
        assert uid is not None
        return uid
