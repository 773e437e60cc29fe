"""rportd's client auth credentials (``/clients-auth``) over core's agent secrets: rportd's
statuses and error codes, passwords argon2-hashed at rest and never returned, audited writes,
Administrators (or a ``clients-auth`` token) only, constant statements per list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.storage.tables import AgentSecret, AuditEntry
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, PASSWORD, basic
from tests.integration.queries.test_list_query_counts import counting

ADMIN = basic("admin", ADMIN_PASSWORD)


def test_crud(client: Any, runtime: Runtime, admin: Actor) -> None:
    r = client.post(f"{API}/clients-auth", json={"id": "client-1", "password": "pass-123"}, headers=ADMIN)
    assert r.status_code == 201 and r.content == b""
    again = client.post(f"{API}/clients-auth", json={"id": "client-1", "password": "x12"}, headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "ERR_CODE_ALREADY_EXIST"
    assert client.get(f"{API}/clients-auth/client-1", headers=ADMIN).json() == {"data": {"id": "client-1"}}
    listed = client.get(f"{API}/clients-auth", headers=ADMIN, params={"filter[id]": "CLIENT*"}).json()
    assert listed == {"data": [{"id": "client-1"}], "meta": {"count": 1}}
    with UnitOfWork(runtime.db, readonly=True) as uow:
        stored = uow.session.scalar(select(AgentSecret.password_hash))
        actions = list(
            uow.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "agent_secret"))
        )
    assert stored is not None and stored.startswith("$argon2id$") and "pass-123" not in stored
    assert runtime.services.agent_secrets.verify("client-1", "pass-123")
    assert not runtime.services.agent_secrets.verify("client-1", "wrong")
    assert "agent_secret.create" in actions
    assert client.delete(f"{API}/clients-auth/client-1", headers=ADMIN).status_code == 204
    gone = client.get(f"{API}/clients-auth/client-1", headers=ADMIN)
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "ERR_CODE_CLIENT_AUTH_NOT_FOUND"
    assert client.delete(f"{API}/clients-auth/client-1", headers=ADMIN).status_code == 404


def test_bad_input_is_400(client: Any, admin: Actor) -> None:
    for body in ({"id": "ab", "password": "pass"}, {"id": "abc", "password": "p"}, {"id": "abc", "x": 1}, {}):
        r = client.post(f"{API}/clients-auth", json=body, headers=ADMIN)
        assert r.status_code == 400, (body, r.text)
    assert client.get(f"{API}/clients-auth", headers=ADMIN, params={"page[limit]": "501"}).status_code == 400
    assert (
        client.get(f"{API}/clients-auth", headers=ADMIN, params={"filter[password]": "x"}).status_code == 400
    )
    assert client.delete(f"{API}/clients-auth/x", headers=ADMIN, params={"force": "maybe"}).status_code == 400


def test_administrators_only(client: Any, runtime: Runtime, admin: Actor) -> None:
    runtime.services.users.create(admin, "bob", PASSWORD, Role.OPERATOR, groups=["devs"])
    bob = basic("bob", PASSWORD)
    assert client.get(f"{API}/clients-auth", headers=bob).status_code == 403
    assert (
        client.post(f"{API}/clients-auth", json={"id": "abc", "password": "abc"}, headers=bob).status_code
        == 403
    )
    assert client.get(f"{API}/clients-auth", headers={}).status_code == 401
    token = runtime.services.users.create_token(admin, "ca", "credentials", None).token
    scoped = basic("admin", token)
    assert client.get(f"{API}/clients-auth", headers=scoped).status_code == 200
    assert client.get(f"{API}/clients", headers=scoped).status_code == 401  # only clients-auth


def test_list_runs_constant_statements(client: Any, runtime: Runtime, admin: Actor) -> None:
    def statements() -> int:
        client.get(f"{API}/clients-auth", headers=ADMIN)
        with counting(runtime.db) as seen:
            assert client.get(f"{API}/clients-auth", headers=ADMIN).status_code == 200
        return len([s for s in seen if "agent_secrets" in s])

    runtime.services.agent_secrets.create(admin, "c-0", "secret")
    one = statements()
    for k in range(1, 12):
        runtime.services.agent_secrets.create(admin, f"c-{k}", "secret")
    assert statements() == one == 2  # the count and the page
