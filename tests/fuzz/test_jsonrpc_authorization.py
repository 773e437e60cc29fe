"""Authorisation of every method of both JSON-RPC dialects, enumerated from their registries
(a new method is covered without editing this file).

* Every method, called without credentials and with wrong ones, gets the dialect's own
  authentication error: OCO's ``401 HTTP Basic Auth: ...`` (plain text), opsi's 401 with
  ``{"error": "Authentication error"}``; never a result.
* OCO: every method, called by a valid user with a wrong ``api_key``, gets OCO's -32002.
* opsi: the one permission rule its registry declares (``envelope.client_may_call``): an opsi
  client (a computer with its host key) calling any method outside it gets
  ``BackendPermissionDeniedError``; inside it, never that error for being a client.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleetdeck.api.dialects.oco import METHODS as OCO_METHODS
from fleetdeck.api.dialects.oco.errors import Code
from fleetdeck.api.dialects.opsi import envelope as opsi_envelope
from fleetdeck.api.dialects.opsi.registry import METHODS as OPSI_METHODS
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.oco.conftest import API_KEY, OcoSwitch
from tests.dialects.oco.conftest import PATH as OCO_PATH
from tests.dialects.oco.conftest import token_of as oco_token
from tests.dialects.opsi.conftest import basic, enroll
from tests.fuzz.conftest import SENT, tracebacks

OCO_NAMES = sorted(m.name for m in OCO_METHODS)
OPSI_NAMES = sorted(m.name for m in OPSI_METHODS)
NOBODY = basic("nobody-at-all", "not-a-password")  # a user that does not exist: no lockout of a real one


def post(client: Any, path: str, auth: str | None, body: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    SENT["JSON-RPC authorisation cells"] += 1 if not isinstance(body, list) else len(body)
    return client.post(path, headers=headers, content=json.dumps(body))


def test_oco_every_method_needs_credentials_and_the_api_key(
    client: Any, runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    switch = OcoSwitch(runtime, admin)
    switch.enable()
    switch.api_key(API_KEY)
    admin_auth = basic("admin", oco_token(runtime, admin))
    wrong: list[str] = []
    for name in OCO_NAMES:
        call = {"jsonrpc": "2.0", "id": 1, "method": name, "params": {"api_key": API_KEY, "data": {}}}
        for who, auth in (("no auth", None), ("bad credentials", NOBODY)):
            r = post(client, OCO_PATH, auth, call)
            if r.status_code != 401 or not r.text.startswith("HTTP Basic Auth: "):
                wrong.append(f"{name} {who}: {r.status_code} {r.text[:100]}")
        bad_key = {**call, "params": {"api_key": "not-the-key", "data": {}}}
        answer = post(client, OCO_PATH, admin_auth, bad_key).json()
        if answer.get("error", {}).get("code") != Code.PERMISSION_DENIED:
            wrong.append(f"{name} wrong api_key: {answer}")
    assert not wrong, "\n".join(wrong)
    assert tracebacks(caplog.records) == []


def test_opsi_every_method_needs_credentials(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # opsiconfd's 0.2 s pause before each 401 (kept in production) would make this test a
    # two-minute wait; the answer is the same without it.
    monkeypatch.setattr(opsi_envelope, "AUTH_DELAY_SEC", 0)
    wrong: list[str] = []
    for name in OPSI_NAMES:
        call = {"jsonrpc": "2.0", "id": 1, "method": name, "params": []}
        for who, auth in (("no auth", None), ("bad credentials", NOBODY)):
            r = post(client, "/rpc", auth, call)
            if r.status_code != 401 or r.json() != {
                "id": None,
                "result": None,
                "error": "Authentication error",
            }:
                wrong.append(f"{name} {who}: {r.status_code} {r.text[:100]}")
    assert not wrong, "\n".join(wrong)
    assert tracebacks(caplog.records) == []


def test_opsi_client_may_call_only_its_methods(
    client: Any, runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    _, key = enroll(runtime, admin, "pc-1")
    calls = [{"jsonrpc": "2.0", "id": i, "method": n, "params": []} for i, n in enumerate(OPSI_NAMES)]
    # one batch: the credentials are checked once, the rule once per element
    answers = post(client, "/rpc", basic("pc-1.fleetdeck.local", key), calls).json()
    assert [a["id"] for a in answers] == list(range(len(OPSI_NAMES)))
    wrong: list[str] = []
    for name, answer in zip(OPSI_NAMES, answers, strict=True):
        denied = answer.get("error", {}).get("data", {}).get("class") == "BackendPermissionDeniedError"
        client_denied = denied and "No permission for method" in answer["error"]["message"]
        if opsi_envelope.client_may_call(name) == client_denied:
            wrong.append(f"{name}: may call {opsi_envelope.client_may_call(name)}, answer {answer}")
    assert not wrong, "\n".join(wrong)
    assert tracebacks(caplog.records) == []
