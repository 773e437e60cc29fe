"""i-doit's envelope: every rule of idoit-notes §1-§3 and the error code of each path."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.idoit.conftest import API_KEY, PATH, Idoit, switch_on


def test_switched_off_by_default(client: Any) -> None:
    r = client.post(
        PATH, json={"version": "2.0", "method": "idoit.version", "params": {"apikey": "x"}, "id": 1}
    )
    assert r.status_code == 200
    assert r.json()["error"]["code"] == -32099
    assert "idoit.api_enabled" in r.json()["error"]["data"]["error"]


def test_no_key_configured_refuses_every_key(client: Any, runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, "idoit.api_enabled", True)
    err = Idoit(client, "").error("idoit.version")
    assert err["code"] == -32604


def test_success_has_no_error_key_and_echoes_id_type(idoit: Idoit) -> None:
    for rpc_id in (7, "7", "0", -3, "abc"):
        r = idoit.post(
            {"jsonrpc": "2.0", "method": "idoit.version", "params": {"apikey": API_KEY}, "id": rpc_id}
        )
        body = r.json()
        assert body["id"] == rpc_id and type(body["id"]) is type(rpc_id)
        assert "error" not in body and body["jsonrpc"] == "2.0"


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (b"", {}, -32600),  # empty body
        (b"{nope", {}, -32700),  # not JSON
        (b'{"version": "2.0", "method": "idoit.version", "id": 1}', {"Content-Type": "text/plain"}, -32600),
        (b'{"version": "1.0", "method": "idoit.version", "params": {}, "id": 1}', {}, -32600),
        (b'{"method": "idoit.version", "params": {}, "id": 1}', {}, -32600),
        (b'{"version": "2.0", "params": {}, "id": 1}', {}, -32600),
        (b'{"version": "2.0", "method": "", "params": {}, "id": 1}', {}, -32600),
        (b'{"version": "2.0", "method": 5, "params": {}, "id": 1}', {}, -32600),
        (b"[]", {}, -32600),
    ],
)
def test_invalid_requests(idoit: Idoit, body: bytes, headers: dict[str, str], code: int) -> None:
    r = idoit.post(None, content=body, headers=headers)
    assert r.status_code == 200
    answer = r.json()
    assert answer["error"]["code"] == code, answer
    assert answer["id"] is None
    assert "result" not in answer
    assert answer["error"]["message"] and answer["error"]["data"]["error"]


def test_get_is_invalid(idoit: Idoit) -> None:
    r = idoit.client.get(PATH)
    assert r.status_code == 200 and r.json()["error"]["code"] == -32600


@pytest.mark.parametrize("bad_id", [None, 1.5, True, {}, [], ""])
def test_invalid_id_types(idoit: Idoit, bad_id: Any) -> None:
    body = {"version": "2.0", "method": "idoit.version", "params": {"apikey": API_KEY}, "id": bad_id}
    answer = idoit.post(body).json()
    assert answer["error"]["code"] == -32603 and answer["id"] is None


@pytest.mark.parametrize("params", [None, 5, "x", True, [API_KEY]])
def test_params_must_be_an_object(idoit: Idoit, params: Any) -> None:
    body = {"version": "2.0", "method": "idoit.version", "params": params, "id": 1}
    assert idoit.post(body).json()["error"]["code"] == -32604


def test_missing_and_wrong_api_key(idoit: Idoit) -> None:
    assert Idoit(idoit.client, "wrong").error("idoit.version")["code"] == -32604
    body = {"version": "2.0", "method": "idoit.version", "params": {}, "id": 1}
    assert idoit.post(body).json()["error"]["code"] == -32604


def test_unknown_methods_and_aliases(idoit: Idoit) -> None:
    assert idoit.error("cmdb.nope")["code"] == -32601
    assert idoit.error("random")["code"] == -32601
    assert idoit.error("cmdb.location_tree.read")["code"] == -32601  # declared, not built: says so
    assert idoit.ok("cmdb.object_types", {"filter": {"const": "C__OBJTYPE__SERVER"}})[0]["id"] == "5"


def test_notifications_get_no_body(idoit: Idoit) -> None:
    single = {"version": "2.0", "method": "idoit.version", "params": {"apikey": API_KEY}}
    r = idoit.post(single)
    assert r.status_code == 200 and r.content == b""
    r = idoit.post([single, {**single, "method": "cmdb.nope"}])
    assert r.content == b""
    answer = idoit.post([single, {**single, "method": "cmdb.nope"}, {**single, "id": 9}]).json()
    assert [a["id"] for a in answer] == [9]


def test_batch_rules(idoit: Idoit) -> None:
    one = idoit.request("idoit.version")
    two = idoit.request("cmdb.nope")
    answer = idoit.post([one, two]).json()
    assert [a["id"] for a in answer] == [one["id"], two["id"]]
    assert "result" in answer[0] and answer[1]["error"]["code"] == -32601
    members = idoit.post([1, 2, 3]).json()
    assert [(a["error"]["code"], a["id"]) for a in members] == [(-32604, None)] * 3
    dup = idoit.post([one, {**two, "id": one["id"]}]).json()
    assert isinstance(dup, dict) and dup["error"]["code"] == -32603 and dup["id"] is None
    mixed = idoit.post([one, {**two, "params": {"apikey": "other"}}]).json()
    assert isinstance(mixed, dict) and mixed["error"]["code"] == -32602


def test_mandatory_parameter_missing(idoit: Idoit) -> None:
    err = idoit.error("cmdb.object.read")
    assert err["code"] == -32602
    assert err["data"]["error"] == "Mandatory parameter 'id' not found in your request."
    assert idoit.error("cmdb.object.read", {"id": "abc"})["code"] == -32602


def test_cors(idoit: Idoit) -> None:
    r = idoit.client.options(PATH)
    assert r.headers["access-control-allow-origin"] == "*"
    assert "X-RPC-Auth-Session" in r.headers["access-control-expose-headers"]


def test_language_changes_titles(idoit: Idoit) -> None:
    en = idoit.ok("cmdb.object_types.read", {"filter": {"const": "C__OBJTYPE__PERSON"}})
    de = idoit.ok("cmdb.object_types.read", {"filter": {"const": "C__OBJTYPE__PERSON"}, "language": "de"})
    assert (en[0]["title"], de[0]["title"]) == ("Persons", "Personen")


def test_internal_rules_reach_no_500(client: Any, runtime: Runtime, admin: Actor) -> None:
    switch_on(runtime, admin)
    r = client.post(
        PATH,
        content=b'{"version":"2.0","method":"idoit.version","params":{"apikey":NaN},"id":1}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200 and "error" in r.json()
