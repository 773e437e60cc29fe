"""rportd's vault over core's: init/unlock/lock and their 409s, a restart that leaves it locked,
entries CRUD with rportd's statuses, values unreadable in the database, permissions (admins for
the vault's state, the ``vault`` permission, an entry's required group), bad input, and a list
whose number of queries does not grow with the entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from fleetdeck.app import Runtime, build_runtime, create_app
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests.dialects.rport.conftest import API, bearer, login
from tests.dialects.rport.conftest import user as _user

VAULT_PASSWORD = "vault-pass-77"
SECRET_VALUE = "correct-horse-battery-staple-4711"


def _init(client: Any, headers: dict[str, str]) -> None:
    r = client.post(f"{API}/vault-admin/init", headers=headers, json={"password": VAULT_PASSWORD})
    assert r.status_code == 201, r.text
    assert r.content == b""


def _create(client: Any, headers: dict[str, str], **fields: str) -> int:
    body = {"client_id": "", "required_group": "", "key": "k", "value": "v", "type": "secret", **fields}
    r = client.post(f"{API}/vault", headers=headers, json=body)
    assert r.status_code == 201, r.text
    new_id: int = r.json()["data"]["id"]
    return new_id


def _status(client: Any, headers: dict[str, str]) -> dict[str, str]:
    r = client.get(f"{API}/vault-admin", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, str] = r.json()["data"]
    return data


def _title(r: Any) -> str:
    title: str = r.json()["errors"][0]["title"]
    return title


def test_init_unlock_lock_and_their_conflicts(
    client: Any, as_admin: dict[str, str], runtime: Runtime, system: Actor
) -> None:
    assert _status(client, as_admin) == {"init": "uninitialized", "status": ""}
    for method, path in (
        ("POST", "/vault-admin/sesame"),
        ("DELETE", "/vault-admin/sesame"),
        ("GET", "/vault"),
    ):
        body = {"password": VAULT_PASSWORD} if method == "POST" else None
        r = client.request(method, API + path, headers=as_admin, json=body)
        assert r.status_code == 409, (path, r.text)
        assert _title(r) == "vault is not initialized"
    short = client.post(f"{API}/vault-admin/init", headers=as_admin, json={"password": "abc"})
    assert short.status_code == 400
    long = client.post(f"{API}/vault-admin/init", headers=as_admin, json={"password": "x" * 33})
    assert long.status_code == 400
    _init(client, as_admin)
    assert _status(client, as_admin) == {"init": "setup-completed", "status": "unlocked"}
    again = client.post(f"{API}/vault-admin/init", headers=as_admin, json={"password": VAULT_PASSWORD})
    assert (again.status_code, _title(again)) == (409, "vault is already initialized")
    unlocked = client.post(f"{API}/vault-admin/sesame", headers=as_admin, json={"password": VAULT_PASSWORD})
    assert (unlocked.status_code, _title(unlocked)) == (409, "vault is already unlocked")
    entry = _create(client, as_admin, value=SECRET_VALUE)

    lock = client.delete(f"{API}/vault-admin/sesame", headers=as_admin)
    assert (lock.status_code, lock.content) == (204, b"")
    assert _status(client, as_admin) == {"init": "setup-completed", "status": "locked"}
    relock = client.delete(f"{API}/vault-admin/sesame", headers=as_admin)
    assert (relock.status_code, _title(relock)) == (409, "vault is already locked")
    for method, path in (("GET", "/vault"), ("GET", f"/vault/{entry}"), ("DELETE", f"/vault/{entry}")):
        r = client.request(method, API + path, headers=as_admin)
        assert (r.status_code, _title(r)) == (409, "vault is locked"), path
    r = client.post(f"{API}/vault", headers=as_admin, json={"key": "x", "value": "y", "type": "text"})
    assert (r.status_code, _title(r)) == (409, "vault is locked")

    wrong = client.post(f"{API}/vault-admin/sesame", headers=as_admin, json={"password": "not-the-one"})
    assert (wrong.status_code, _title(wrong)) == (401, "wrong password provided")
    assert _status(client, as_admin)["status"] == "locked"
    ok = client.post(f"{API}/vault-admin/sesame", headers=as_admin, json={"password": VAULT_PASSWORD})
    assert (ok.status_code, ok.content) == (201, b"")
    assert client.get(f"{API}/vault/{entry}", headers=as_admin).json()["data"]["value"] == SECRET_VALUE
    records = runtime.services.audit.find(
        system, q.Query(where=(q.Cond("object_type", q.Op.EQ, "vault"),))
    ).items
    unlocks = sorted(r.result for r in records if r.action == "vault.unlock")
    assert len(unlocks) == 4 and unlocks.count("ok") == 1  # before init, already unlocked, wrong, ok
    assert {"vault.init", "vault.lock", "vault.create"} <= {r.action for r in records}
    assert all(VAULT_PASSWORD not in repr(r) and SECRET_VALUE not in repr(r) for r in records)


def test_a_restart_leaves_the_vault_locked(
    client: Any, as_admin: dict[str, str], settings: Settings, runtime: Runtime, admin: Actor
) -> None:
    """A second server process on the same database (what a restart brings up) starts locked,
    and the first one's unlock does not reach it; its own unlock does."""
    from fastapi.testclient import TestClient

    _init(client, as_admin)
    entry = _create(client, as_admin, key="db", value=SECRET_VALUE)
    second = build_runtime(settings, migrate_db=False)
    try:
        with TestClient(create_app(settings, runtime=second)) as other:
            headers = bearer(login(other, "admin", "admin-password-1"))
            assert _status(other, headers) == {"init": "setup-completed", "status": "locked"}
            assert other.get(f"{API}/vault/{entry}", headers=headers).status_code == 409
            unlock = other.post(
                f"{API}/vault-admin/sesame", headers=headers, json={"password": VAULT_PASSWORD}
            )
            assert unlock.status_code == 201
            assert other.get(f"{API}/vault/{entry}", headers=headers).json()["data"]["value"] == SECRET_VALUE
    finally:
        second.db.dispose()
    assert _status(client, as_admin)["status"] == "unlocked"  # the first process is unaffected


def test_entries_crud(client: Any, as_admin: dict[str, str]) -> None:
    _init(client, as_admin)
    first = _create(client, as_admin, client_id="c1", key="db-password", value="one", type="secret")
    dup = client.post(
        f"{API}/vault",
        headers=as_admin,
        json={"client_id": "c1", "key": "db-password", "value": "x", "type": "text"},
    )
    assert dup.status_code == 409
    second = _create(client, as_admin, client_id="c2", key="db-password", value="two", type="text")
    third = _create(client, as_admin, client_id="", key="readme", value="# Notes", type="markdown")
    assert len({first, second, third}) == 3

    got = client.get(f"{API}/vault/{first}", headers=as_admin).json()["data"]
    assert {
        k: got[k] for k in ("id", "client_id", "key", "value", "type", "required_group", "created_by")
    } == {
        "id": first,
        "client_id": "c1",
        "key": "db-password",
        "value": "one",
        "type": "secret",
        "required_group": "",
        "created_by": "admin",
    }
    assert got["created_at"].endswith("Z") and got["updated_by"] == "admin"

    put = client.put(
        f"{API}/vault/{first}",
        headers=as_admin,
        json={
            "client_id": "c1",
            "key": "db-password",
            "value": "uno",
            "type": "string",
            "required_group": "",
        },
    )
    assert (put.status_code, put.json()) == (200, {"data": {"id": first}})
    got = client.get(f"{API}/vault/{first}", headers=as_admin).json()["data"]
    assert (got["value"], got["type"]) == ("uno", "string")
    clash = client.put(
        f"{API}/vault/{first}",
        headers=as_admin,
        json={"client_id": "c2", "key": "db-password", "value": "z", "type": "text"},
    )
    assert clash.status_code == 409

    listed = client.get(f"{API}/vault", headers=as_admin).json()
    assert "meta" not in listed
    assert [e["id"] for e in listed["data"]] == sorted([first, second, third])
    assert set(listed["data"][0]) == {"id", "client_id", "created_by", "created_at", "key"}
    by_client = client.get(
        f"{API}/vault", headers=as_admin, params={"filter[client_id]": "c1,c2", "sort": "-client_id"}
    )
    assert [e["id"] for e in by_client.json()["data"]] == [second, first]
    wild = client.get(f"{API}/vault", headers=as_admin, params={"filter[key]": "read*"})
    assert [e["id"] for e in wild.json()["data"]] == [third]
    assert client.get(f"{API}/vault", headers=as_admin, params={"sort": "value"}).status_code == 400
    assert client.get(f"{API}/vault", headers=as_admin, params={"filter[value]": "uno"}).status_code == 400

    assert client.delete(f"{API}/vault/{first}", headers=as_admin).status_code == 204
    missing = client.get(f"{API}/vault/{first}", headers=as_admin)
    assert missing.status_code == 404
    assert client.delete(f"{API}/vault/{first}", headers=as_admin).status_code == 404
    assert (
        client.put(
            f"{API}/vault/{first}", headers=as_admin, json={"key": "k", "value": "v", "type": "text"}
        ).status_code
        == 404
    )


def test_values_are_not_in_the_database_in_clear(
    client: Any, as_admin: dict[str, str], runtime: Runtime, settings: Settings
) -> None:
    _init(client, as_admin)
    entry = _create(client, as_admin, key="api", value=SECRET_VALUE)
    with runtime.db.engine.connect() as conn:
        rows = [
            tuple(r)
            for t in ("vault_secret_entries", "vault_secret_state")
            for r in conn.execute(text(f"SELECT * FROM {t}"))
        ]
        audit = [tuple(r) for r in conn.execute(text("SELECT * FROM audit_log"))]
    assert len(rows) == 2
    raw = repr(rows).encode() + b"".join(c for r in rows for c in r if isinstance(c, bytes))
    for needle in (SECRET_VALUE, VAULT_PASSWORD):
        assert needle.encode() not in raw
        assert needle not in repr(audit)
    assert "api" in repr(rows)  # the key stays searchable
    if runtime.db.dialect == "sqlite":  # the file itself, and its write-ahead log
        path = Path(runtime.db.engine.url.database or "")
        for f in (path, path.with_name(path.name + "-wal")):
            if f.exists():
                assert SECRET_VALUE.encode() not in f.read_bytes()
    assert client.get(f"{API}/vault/{entry}", headers=as_admin).json()["data"]["value"] == SECRET_VALUE
    log = client.get(f"{API}/auditlog", headers=as_admin, params={"filter[application]": "vault"}).json()[
        "data"
    ]
    assert {e["action"] for e in log} == {"init", "create"}
    assert str(entry) in {e["affected_id"] for e in log}
    assert SECRET_VALUE not in repr(log)


def test_permissions(client: Any, as_admin: dict[str, str]) -> None:
    for name, perms in (("keepers", {"vault": True}), ("ops", {"vault": True}), ("none", {"commands": True})):
        assert (
            client.put(f"{API}/user-groups/{name}", headers=as_admin, json={"permissions": perms}).status_code
            == 200
        )
    keeper = _user(client, as_admin, "kim-keeper", ["keepers", "ops"])
    operator = _user(client, as_admin, "olaf-ops", ["ops"])
    outsider = _user(client, as_admin, "nina-none", ["none"])

    for method, path in (
        ("POST", "/vault-admin/init"),
        ("POST", "/vault-admin/sesame"),
        ("DELETE", "/vault-admin/sesame"),
    ):
        body = {"password": VAULT_PASSWORD} if method == "POST" else None
        r = client.request(method, API + path, headers=operator, json=body)
        assert r.status_code == 403, path
        assert "Administrators" in _title(r)
    _init(client, as_admin)
    for method, path in (("GET", "/vault-admin"), ("GET", "/vault"), ("GET", "/vault/1")):
        r = client.request(method, API + path, headers=outsider)
        assert (r.status_code, _title(r)) == (403, 'user does not have "vault" permission'), path

    guarded = _create(client, as_admin, key="root", value=SECRET_VALUE, required_group="keepers")
    open_entry = _create(client, operator, key="wiki", value="hello")
    assert client.get(f"{API}/vault/{open_entry}", headers=keeper).json()["data"]["value"] == "hello"
    assert client.get(f"{API}/vault/{guarded}", headers=keeper).json()["data"]["value"] == SECRET_VALUE
    body = {"key": "root", "value": "changed", "type": "secret", "required_group": "keepers"}
    for method, payload in (("GET", None), ("PUT", body), ("DELETE", None)):
        r = client.request(method, f"{API}/vault/{guarded}", headers=operator, json=payload)
        assert r.status_code == 403, method
        assert SECRET_VALUE not in r.text
    # storing into a group one is not in is refused too
    r = client.post(f"{API}/vault", headers=operator, json={**body, "key": "other"})
    assert r.status_code == 403
    assert client.put(f"{API}/vault/{guarded}", headers=keeper, json=body).status_code == 200
    assert client.delete(f"{API}/vault/{guarded}", headers=keeper).status_code == 204
    assert [e["key"] for e in client.get(f"{API}/vault", headers=operator).json()["data"]] == ["wiki"]


def test_bad_input(client: Any, as_admin: dict[str, str]) -> None:
    _init(client, as_admin)
    entry = _create(client, as_admin)
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/vault", {"key": "k2", "value": "v", "type": "binary"}),
        ("POST", "/vault", {"key": "", "value": "v", "type": "text"}),
        ("POST", "/vault", {"key": "k3", "value": "", "type": "text"}),
        ("POST", "/vault", {"key": "k4", "value": "v", "type": "text", "extra": 1}),
        ("POST", "/vault", {"key": 5, "value": "v", "type": "text"}),
        ("POST", "/vault", {"key": "k" * 300, "value": "v", "type": "text"}),
        ("POST", "/vault", {"key": "k\x00", "value": "v", "type": "text"}),
        ("POST", "/vault", None),
        ("PUT", f"/vault/{entry}", {"key": "k", "value": "v"}),
        ("GET", "/vault/abc", None),
        ("GET", "/vault/-1", None),
        ("GET", "/vault/99999999999999999999999", None),
        ("GET", "/vault?filter[id]=x*", None),
        ("POST", "/vault-admin/sesame", {"pass": "x"}),
        ("POST", "/vault-admin/init", "not json"),
    ]
    for method, path, body in cases:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
        r = client.request(method, API + path, headers=as_admin, **kwargs)
        assert r.status_code == 400, (method, path, body, r.text)
        assert set(r.json()["errors"][0]) == {"code", "title", "detail"}
    assert client.request("PATCH", f"{API}/vault/{entry}", headers=as_admin).status_code == 405
    assert client.get(f"{API}/vault").status_code == 401


def test_list_query_count_is_constant(client: Any, as_admin: dict[str, str], runtime: Runtime) -> None:
    _init(client, as_admin)

    def count() -> int:
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "vault_secret" in statement or "user_group_members" in statement:
                statements.append(statement)

        event.listen(runtime.db.engine, "before_cursor_execute", seen)
        try:
            assert client.get(f"{API}/vault", headers=as_admin, params={"sort": "-key"}).status_code == 200
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", seen)
        return len(statements)

    _create(client, as_admin, key="k0", required_group="g0")
    one = count()
    for i in range(1, 8):
        _create(client, as_admin, key=f"k{i}", client_id=f"c{i}", required_group=f"g{i}")
    assert count() == one == 1
