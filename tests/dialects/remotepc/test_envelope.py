"""RemotePC's envelope: the switch, the IP allow-list, the Bearer key (rotated through the own
API and the CLI), bodies (trailing commas, GET parameters in the query string or the body),
unknown paths and methods, and every answer in RemotePC's shapes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fleetdeck.api.dialects.remotepc import settings as rpc_settings
from fleetdeck.api.dialects.remotepc.envelope import allowed
from fleetdeck.api.dialects.remotepc.schemas import without_trailing_commas
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import AuditEntry
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.remotepc import world
from tests.dialects.remotepc.conftest import API_KEY, RemotePc
from tests.integration.cli.run import fleetdeck
from tests.waiting import wait_for


def test_switched_off_by_default(client: TestClient, runtime: Runtime, admin: Actor) -> None:
    rpc = RemotePc(client)
    r = rpc.get("computer/list")
    assert rpc.error(r, 403) == ["Invalid user plan"]
    assert r.json()["status"] == "FORBIDDEN"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic " + API_KEY,
        "Bearer wrong",
        "Bearer " + API_KEY + "x",
        "Bearer " + "k" * 600,
    ],
)
def test_bad_key_is_401(rpc: RemotePc, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    r = rpc.client.get("/rpcnew/api/msp/computer/list", headers=headers)
    assert rpc.error(r, 401) == ["Invalid user"]
    assert r.json()["status"] == "UNAUTHORIZED"


def test_no_key_set_refuses_everyone(client: TestClient, runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, rpc_settings.ENABLED_KEY, True)
    rpc = RemotePc(client, key="")
    assert rpc.error(rpc.get("computer/list"), 401) == ["Invalid user"]


def test_refused_keys_are_audited(rpc: RemotePc, runtime: Runtime) -> None:
    RemotePc(rpc.client, key="guess").get("computer/list")
    with UnitOfWork(runtime.db, readonly=True) as uow:
        rows = uow.session.scalars(select(AuditEntry).where(AuditEntry.via == "remotepc")).all()
    assert [(r.action, r.result) for r in rows] == [("auth.login", "failed")]
    assert "guess" not in str(rows[0].detail)


def test_changes_are_audited_as_the_key(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    world.build(runtime, admin)
    rpc.ok(
        rpc.post("computer/comments/add", {"computer_name": "Computer A", "comment_desc": "checked today"})
    )
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "computer.comment")).one()
    assert (row.username, row.via, row.source, row.result) == (
        "remotepc api key",
        "remotepc",
        "testclient",
        "ok",
    )


def test_key_rotation_through_own_api(
    rpc: RemotePc, client: TestClient, runtime: Runtime, admin: Actor
) -> None:
    token = runtime.services.users.create_token(admin, "adm", "read+write", None).token
    r = client.put(
        f"/api/v1/settings/{rpc_settings.API_KEY}",
        json={"value": "the-new-key-0123456789"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["value"] != "the-new-key-0123456789"  # a secret is never shown
    assert rpc.error(rpc.get("computer/list"), 401) == ["Invalid user"]  # the old key stops
    rpc.ok(RemotePc(client, key="the-new-key-0123456789").get("computer/list"))


def test_key_rotation_through_cli(rpc: RemotePc, settings: Settings) -> None:
    done = fleetdeck(settings, "settings", "set", rpc_settings.API_KEY, "cli-key-0123456789")
    assert done.returncode == 0, done.stderr
    assert "cli-key-0123456789" not in done.stdout
    fresh = RemotePc(rpc.client, key="cli-key-0123456789")
    # this server reads the settings again within its cache time (2 s)
    wait_for(lambda: fresh.get("computer/list").status_code == 200, what="the new key to work")
    assert rpc.error(rpc.get("computer/list"), 401) == ["Invalid user"]


def test_ip_allow_list(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    store.set(admin, rpc_settings.ALLOWED_IPS_KEY, ["192.0.2.0/24"])
    r = rpc.get("computer/list")  # the test client's address is "testclient": not allowed
    assert rpc.error(r, 403) == ["Invalid user permission"]
    with pytest.raises(ValidationFailed):
        store.set(admin, rpc_settings.ALLOWED_IPS_KEY, ["not an address"])
    store.set(admin, rpc_settings.ALLOWED_IPS_KEY, [])
    rpc.ok(rpc.get("computer/list"))


def test_allowed_addresses() -> None:
    assert allowed("anything", [])
    assert allowed("192.0.2.7", ["192.0.2.7"])
    assert allowed("192.0.2.7", ["10.0.0.0/8", "192.0.2.0/24"])
    assert allowed("2001:db8::1", ["2001:db8::/32"])
    assert not allowed("192.0.2.7", ["192.0.3.0/24"])
    assert not allowed("testclient", ["192.0.2.7"])
    assert not allowed("192.0.2.7", ["bogus"])


def test_trailing_commas() -> None:
    assert without_trailing_commas('{"a": [1, 2,\n],\n}') == '{"a": [1, 2\n]\n}'
    assert without_trailing_commas('{"a": "x,]", "b": "\\",}"}') == '{"a": "x,]", "b": "\\",}"}'
    assert without_trailing_commas("[1,2]") == "[1,2]"


@pytest.mark.parametrize("raw", ["{", "[1, 2]", '"text"', '{"a": NaN}', "\xff"])
def test_bodies_that_are_no_object_are_400(rpc: RemotePc, raw: str) -> None:
    r = rpc.post("computer/remove", content=raw.encode("latin-1"))
    assert rpc.error(r) == ["Invalid parameters"]


def test_get_parameters_in_query_or_body(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    world.build(runtime, admin)
    by_query = rpc.ok(rpc.get("computer/list", {"recordPerPage": 1, "pageIndex": 2}))
    by_body = rpc.ok(rpc.get("computer/list", body={"recordPerPage": 1, "pageIndex": 2}))
    assert by_query == by_body
    assert [d["host_name"] for d in by_query["devices"]] == ["Computer B"]


def test_unknown_path_and_method(rpc: RemotePc) -> None:
    r = rpc.post("user/nothing", {})
    assert rpc.error(r, 404) == ["Not found"]
    assert r.json()["status"] == "NOT_FOUND"
    r = rpc.client.delete("/rpcnew/api/msp/user/list", headers=rpc.headers())
    assert rpc.error(r, 405) == ["Method not allowed"]
    assert rpc.error(rpc.get("user/invite"), 405) == ["Method not allowed"]


def test_wrong_types_are_400_never_500(rpc: RemotePc) -> None:
    for path, body in [
        ("user/create", {"firstname": 1, "lastname": [], "username": {}, "password": None}),
        ("computer/assign", {"username": 5, "computer_names": ["a"]}),
        ("computer/comments/add", {"computer_name": ["x"], "comment_desc": "long enough"}),
        ("computer/group/create", {"group_name": 3}),
        ("user/invite", {"email": ["a\u0000@b"]}),
    ]:
        assert rpc.error(rpc.post(path, body)) == ["Invalid parameters"], path
