"""OCO's envelope: order of checks, batches, api_key, error codes and texts, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fleetdeck.api.dialects.oco import METHODS, PATHS
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from tests.dialects.oco.conftest import ADMIN_PASSWORD, PASSWORD, PATH, Oco, OcoSwitch, basic

PERMISSION_DENIED = "Permission denied. You do not have the necessary rights."


def test_disabled_api_is_405_with_empty_body(client: TestClient, switch: OcoSwitch) -> None:
    switch.enable(False)
    r = client.post(PATH, content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 405
    assert r.content == b""


def test_disabled_is_checked_before_anything_else(client: TestClient, switch: OcoSwitch) -> None:
    r = client.post(PATH, content=b"not json", headers={"Content-Type": "text/plain"})
    assert r.status_code == 405


@pytest.mark.parametrize("ctype", ["text/plain", "application/json; charset=utf-8", None])
def test_content_type_must_be_exactly_json(oco: Oco, ctype: str | None) -> None:
    headers = {"Authorization": oco.auth}
    if ctype:
        headers["Content-Type"] = ctype
    r = oco.client.post(PATH, content=json.dumps(oco.request("oco.info")), headers=headers)
    assert r.status_code == 400
    assert r.content == b""


def test_content_type_is_checked_before_auth(oco: Oco) -> None:
    r = oco.client.post(PATH, content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("auth", "lang", "text"),
    [
        (basic("admin", "wrong-password"), None, "HTTP Basic Auth: Login failed"),
        (basic("nobody", "whatever-pass"), "de-DE,de;q=0.9", "HTTP Basic Auth: Anmeldung fehlgeschlagen"),
        (None, None, "HTTP Basic Auth: Login failed"),
        ("Basic !!!", None, "HTTP Basic Auth: Login failed"),
        (basic("", "x"), "de", "HTTP Basic Auth: Der Benutzername darf nicht leer sein"),
        ("Bearer abc", None, "HTTP Basic Auth: Login failed"),
    ],
)
def test_bad_basic_auth_is_401_plain_text(oco: Oco, auth: str | None, lang: str | None, text: str) -> None:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    if lang:
        headers["Accept-Language"] = lang
    r = oco.client.post(PATH, content=json.dumps(oco.request("oco.info")), headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == text


def test_throttled_login_is_401_with_a_reason(oco: Oco) -> None:
    bad = {"Content-Type": "application/json", "Authorization": basic("admin", "wrong-password")}
    body = json.dumps(oco.request("oco.info"))
    for _ in range(5):
        assert oco.client.post(PATH, content=body, headers=bad).status_code == 401
    good = basic("admin", ADMIN_PASSWORD)
    r = oco.client.post(PATH, content=body, headers={**bad, "Authorization": good})
    assert r.status_code == 401
    assert r.text.startswith("HTTP Basic Auth: Too many failed logins")
    assert int(r.headers["Retry-After"]) >= 1


def test_password_and_api_token_both_work(oco: Oco) -> None:
    assert Oco(oco.client, "admin", ADMIN_PASSWORD).ok("oco.info")["version"]
    assert oco.auth != basic("admin", ADMIN_PASSWORD)  # the fixture authenticates with a token
    assert oco.ok("oco.info")["version"]


@pytest.mark.parametrize("body", [b"", b"{", b"nope", b"[]", b"42", b'"x"', b"\xff\xfe", b"NaN"])
def test_corrupt_payload_is_400_empty(oco: Oco, body: bytes) -> None:
    r = oco.post(None, content=body)
    assert r.status_code == 400
    assert r.content == b""


@pytest.mark.parametrize(
    "bad",
    [
        {"id": 1, "method": "oco.info"},  # no jsonrpc
        {"jsonrpc": "1.0", "id": 1, "method": "oco.info"},
        {"jsonrpc": "2.0", "method": "oco.info"},  # notification: no id
        {"jsonrpc": "2.0", "id": None, "method": "oco.info"},
        {"jsonrpc": "2.0", "id": 1},  # no method
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        "oco.info",
    ],
)
def test_a_malformed_element_fails_the_whole_batch(oco: Oco, bad: object) -> None:
    r = oco.post([oco.request("oco.info"), bad])
    assert r.status_code == 400
    assert r.content == b""
    assert oco.post(bad).status_code == 400


def test_batch_answers_in_order(oco: Oco) -> None:
    reqs = [
        oco.request("oco.computer.create", {"hostname": "B1"}),
        oco.request("oco.nope"),
        {**oco.request("oco.info"), "id": "text-id"},
        oco.request("oco.computer.get", {"id": 999999}),
    ]
    r = oco.post(reqs)
    assert r.status_code == 200
    answers = r.json()
    assert [a["id"] for a in answers] == [q["id"] for q in reqs]
    assert "result" in answers[0]
    assert answers[1]["error"]["code"] == -32001
    assert "result" in answers[2]
    assert answers[3]["error"]["code"] == -32003


def test_single_object_answers_an_object(oco: Oco) -> None:
    r = oco.post(oco.request("oco.info"))
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["jsonrpc"] == "2.0"
    assert body["result"]["success"] is True


def test_both_paths_answer(oco: Oco) -> None:
    for path in PATHS:
        r = oco.post(oco.request("oco.info"), path=path)
        assert r.status_code == 200, path


def test_wrong_api_key_is_permission_denied(oco: Oco) -> None:
    for key in ("wrong", None, 123, ["x"]):
        body = oco.post({**oco.request("oco.info"), "params": {"api_key": key}}).json()
        assert body["error"] == {"code": -32002, "message": PERMISSION_DENIED, "data": None}
    body = oco.post(
        {**oco.request("oco.info"), "params": {"api_key": "x"}}, headers={"Accept-Language": "de"}
    )
    assert body.json()["error"]["message"] == "Zugriff verweigert. Sie besitzen nicht die notwendigen Rechte."


def test_no_api_key_configured_means_none_is_needed(client: TestClient, switch: OcoSwitch) -> None:
    switch.enable()
    switch.api_key("")
    anyone = Oco(client, "admin", ADMIN_PASSWORD, api_key=None)
    assert anyone.ok("oco.info")["extensions"] == []


def test_unknown_method(oco: Oco) -> None:
    assert oco.error("oco.nothing") == {"code": -32001, "message": "Unknown Method", "data": None}
    assert oco.error("oco.nothing", lang="de")["message"] == "Unbekannte Methode"


def test_not_found_is_32003_localized(oco: Oco) -> None:
    assert oco.error("oco.computer.get", {"id": 424242}) == {
        "code": -32003,
        "message": "Not found",
        "data": None,
    }
    assert oco.error("oco.computer.get", {"id": 424242}, lang="de")["message"] == "Nicht gefunden"
    assert oco.error("oco.computer.get")["code"] == -32003  # id defaults to 0


def test_computer_create_empty_and_duplicate_hostname(oco: Oco) -> None:
    assert oco.error("oco.computer.create", {"hostname": "  "}) == {
        "code": -32001,
        "message": "The host name cannot be empty",
        "data": None,
    }
    assert oco.error("oco.computer.create", {}, lang="de")["message"] == "Der Hostname darf nicht leer sein"
    assert oco.ok("oco.computer.create", {"hostname": "PC01"})["id"].isdigit()
    assert oco.error("oco.computer.create", {"hostname": " pc01 "}) == {
        "code": -32001,
        "message": "This hostname already exists",
        "data": None,
    }
    assert (
        oco.error("oco.computer.create", {"hostname": "PC01"}, lang="de")["message"]
        == "Der angegebene Hostname existiert bereits"
    )


def test_package_list_needs_family_or_group(oco: Oco) -> None:
    err = oco.error("oco.package.list", {})
    assert err == {
        "code": -32001,
        "message": "package_family_id or package_group_id is required",
        "data": None,
    }
    assert oco.error("oco.package.list", {}, lang="de")["message"] == err["message"]  # not localized


NOT_FOUND = -32003
INVALID = -32001


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        # an id that names no row is OCO's "Not found" (issue #14; more in test_loose_input.py)
        ("oco.computer.get", {"data": {"id": "abc"}}, NOT_FOUND),
        ("oco.computer.get", {"data": {"id": [1]}}, NOT_FOUND),
        ("oco.computer.get", {"data": {"id": {"x": 1}}}, NOT_FOUND),
        ("oco.computer.get", {"data": {"id": 2**70}}, NOT_FOUND),
        ("oco.computer.get", {"data": {"id": 1.5}}, NOT_FOUND),
        ("oco.computer.list", {"data": {"computer_group_id": "x"}}, NOT_FOUND),
        ("oco.computer.remove", {"data": {"id": 1, "force": "perhaps"}}, NOT_FOUND),  # "perhaps" is true
        ("oco.computer.get", {"data": [1, 2]}, INVALID),
        ("oco.computer.get", {"data": "x"}, INVALID),
        ("oco.computer.create", {"data": {"hostname": ["a"]}}, INVALID),
        ("oco.package.create", {"data": {"files": "x"}}, INVALID),
        ("oco.info", "params-as-string", INVALID),
        ("oco.info", [1], INVALID),
    ],
)
def test_wrong_types_are_clean_errors(oco: Oco, method: str, params: object, code: int) -> None:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    if isinstance(params, dict):
        body["params"] = {"api_key": oco.api_key, **params}
    r = oco.post(body)
    assert r.status_code == 200, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    assert error["data"] is None
    if code == INVALID:
        assert error["message"].startswith("Invalid Value"), error
    else:
        assert error["message"] == "Not found"


def test_empty_params_and_php_empty_array_data(oco: Oco) -> None:
    for params in (None, [], {"api_key": oco.api_key, "data": []}, {"api_key": oco.api_key, "data": None}):
        body = {"jsonrpc": "2.0", "id": 1, "method": "oco.computer.list"}
        if params is not None:
            body["params"] = params
        answer = oco.post(body).json()
        if params in (None, []):
            assert answer["error"]["code"] == -32002  # the API key is missing
        else:
            assert answer["result"]["data"] == {"computers": [], "groups": []}


def test_permission_denied_for_a_viewer(viewer_oco: Oco) -> None:
    assert viewer_oco.ok("oco.computer.list") == {"computers": [], "groups": []}
    assert viewer_oco.error("oco.computer.create", {"hostname": "X"}) == {
        "code": -32002,
        "message": PERMISSION_DENIED,
        "data": None,
    }


def test_every_method_is_registered_once_with_its_defaults() -> None:
    names = METHODS.names()
    assert len(names) == len(set(names)) == 26
    remove = METHODS.get("oco.computer.remove")
    assert remove is not None
    assert {p.name: p.default for p in remove.params}["force"] is True
    package_remove = METHODS.get("oco.package.remove")
    assert package_remove is not None
    assert {p.name: p.default for p in package_remove.params}["force"] is True
    deploy = METHODS.get("oco.job_container.deploy")
    assert deploy is not None
    defaults = {p.name: p.default for p in deploy.params}
    assert defaults["use_wol"] is True
    assert defaults["restart_timeout"] == 5
    assert defaults["sequence_mode"] == 0


def test_docs_list_every_method() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "dialects" / "oco.md").read_text()
    for name in METHODS.names():
        assert f"| `{name}` |" in docs, name


def test_a_password_is_verified_once_then_served_from_the_cache(
    client: TestClient, oco: Oco, runtime: Runtime, admin: Actor
) -> None:
    """OCO clients send their password on every call; the first call verifies it, later ones
    cost what a token costs, and a password change ends that at once."""
    users = runtime.services.users
    alice = users.create(admin, "alice", PASSWORD, Role.OPERATOR)
    as_alice = Oco(client, "alice", PASSWORD)
    assert as_alice.ok("oco.info")["version"]
    verified_at = users.get(admin, alice.id).last_login_at
    assert verified_at is not None
    for _ in range(3):
        assert as_alice.ok("oco.info")["version"]
    assert users.get(admin, alice.id).last_login_at == verified_at  # not verified again
    users.set_password(admin, alice.id, "a-new-password-2")
    assert as_alice.post(as_alice.request("oco.info")).status_code == 401
    assert Oco(client, "alice", "a-new-password-2").ok("oco.info")["version"]
    users.update(admin, alice.id, disabled=True)
    assert Oco(client, "alice", "a-new-password-2").post(as_alice.request("oco.info")).status_code == 401
