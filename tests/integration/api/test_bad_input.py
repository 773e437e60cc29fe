"""Bad input on every endpoint of the OpenAPI document: always a JSON error envelope, never a 500.

The operations are read from the OpenAPI document, so a new endpoint is covered the day it is
added; a body endpoint without an entry in VALID_BODIES fails ``test_every_body_has_a_sample``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from fleetdeck.api.v1 import create_v1
from fleetdeck.app import Runtime, create_app
from fleetdeck.bus import LocalBus
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests.integration.api.conftest import ADMIN_PASSWORD, API, Api, assert_error, bearer, login

SPEC: dict[str, Any] = create_v1(cast(Any, None), LocalBus()).openapi()
Operation = tuple[str, str]  # (METHOD, /path/{param})
OPERATIONS: list[Operation] = [(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops]
PUBLIC = {("POST", "/auth/login"), ("POST", "/invitations/{token}/accept")}
BODY_OPS = [o for o in OPERATIONS if "requestBody" in SPEC["paths"][o[1]][o[0].lower()]]
# Numeric ids only; named keys (``/settings/{key}``) are covered by their own tests.
ID_OPS = [o for o in OPERATIONS if re.search(r"\{\w+_id\}", o[1])]
LIST_OPS = [
    o
    for o in OPERATIONS
    if any(p["name"] == "page[limit]" for p in SPEC["paths"][o[1]][o[0].lower()].get("parameters", []))
]

VALID_BODIES: dict[Operation, dict[str, Any]] = {
    ("POST", "/auth/login"): {"username": "admin", "password": ADMIN_PASSWORD},
    ("PUT", "/me/password"): {"current_password": ADMIN_PASSWORD, "new_password": "new-password-1"},
    ("POST", "/me/tokens"): {"name": "t", "scope": "read", "expires_at": "2999-01-01T00:00:00Z"},
    ("POST", "/users"): {
        "username": "u",
        "password": "password-1",
        "role": "viewer",
        "full_name": "U",
        "email": "u@example.org",
    },
    ("PATCH", "/users/{user_id}"): {"role": "viewer", "full_name": "U", "email": "e", "disabled": False},
    ("PUT", "/users/{user_id}/password"): {"password": "password-1"},
    ("POST", "/login-failures/clear"): {"username": "admin"},
    ("POST", "/invitations/{token}/accept"): {"password": "secret1"},
    ("POST", "/computers"): {"hostname": "h", "notes": "n"},
    ("PATCH", "/computers/{computer_id}"): {"notes": "n", "fqdn": "h.example.org"},
    ("POST", "/computers/{computer_id}/allow-reenroll"): {"within_sec": 60},
    ("POST", "/groups"): {"name": "g", "parent_id": 1, "description": "d"},
    ("PATCH", "/groups/{group_id}"): {"name": "g", "parent_id": 1, "description": "d"},
    ("POST", "/groups/{group_id}/members"): {"computer_ids": [1]},
    ("DELETE", "/groups/{group_id}/members"): {"computer_ids": [1]},
    ("POST", "/commands"): {
        "computer_ids": [1],
        "group_ids": [1],
        "command": "id",
        "interpreter": "sh",
        "cwd": "/",
        "timeout_sec": 10,
        "env": {"A": "b"},
        "expires_in_sec": 60,
    },
    ("POST", "/actions"): {
        "computer_ids": [1],
        "group_ids": [1],
        "action": "message",
        "delay_min": 0,
        "message": "m",
        "expires_in_sec": 60,
    },
    ("POST", "/enroll-tokens"): {"expires_in_sec": 60, "max_uses": 1, "note": "n"},
    ("POST", "/agent-releases/{version}/rollout"): {"rollout": "all"},
    # packages and deployments
    ("POST", "/packages"): {
        "family_name": "f",
        "version": "1",
        "install_procedure": "x",
        "files": [{"name": "a", "content": "eA=="}],
    },
    # not an opsi archive: the under-limit answer is the refusal (real imports: test_opsi_import.py)
    ("POST", "/packages/import-opsi"): {"file": {"name": "p.opsi", "content": "eA=="}},
    ("POST", "/uploads"): {"package_id": 1, "length": 5, "filename": "f.zip", "sha256": "0" * 64},
    ("PATCH", "/packages/{package_id}"): {"description": "d", "install_post_action": 1},
    ("PATCH", "/package-families/{family_id}"): {"notes": "n"},
    ("POST", "/package-groups"): {"name": "g", "description": "d"},
    ("PATCH", "/package-groups/{group_id}"): {"name": "g"},
    ("POST", "/package-groups/{group_id}/members"): {"package_id": 1, "sequence": 1},
    ("POST", "/installations"): {"computer_id": 1, "package_id": 1},
    ("POST", "/deployments"): {
        "name": "d",
        "computer_ids": [1],
        "package_ids": [1],
        "start": "2024-01-01T00:00:00Z",
        "use_wol": False,
        "priority": 0,
    },
    ("POST", "/deployments/uninstall"): {"name": "d", "installation_ids": [1], "sequence_mode": 0},
    # computer and package groups share one id space: the test world's package group is 2
    ("POST", "/deployment-rules"): {"name": "r", "computer_group_id": 1, "package_group_id": 2},
    ("PATCH", "/deployment-rules/{rule_id}"): {"enabled": True, "priority": 1},
    # settings and reports
    ("PUT", "/settings/{key}"): {"value": 9},
    # report groups share the group ids too: the test world's report group is 3
    ("POST", "/reports"): {"name": "r", "query": "SELECT 1", "notes": "n", "group_id": 3},
    ("PATCH", "/reports/{report_id}"): {"name": "r", "query": "SELECT 1", "notes": "n", "group_id": 3},
    ("POST", "/reports/query"): {"query": "SELECT 1"},
    ("POST", "/report-groups"): {"name": "g", "parent_id": 3, "description": "d"},
    # schedules
    ("POST", "/schedules"): {"name": "s", "cron": "*/5 * * * *", "content": "true", "computer_ids": [1]},
    ("PUT", "/schedules/{schedule_id}"): {
        "name": "s",
        "cron": "@daily",
        "content": "true",
        "computer_ids": [1],
    },
    ("PATCH", "/report-groups/{group_id}"): {"name": "g", "parent_id": 3, "description": "d"},
}


def ids(op: Operation) -> str:
    return f"{op[0]} {op[1]}"


def fill(path: str, value: object) -> str:
    return re.sub(r"\{[^}]+\}", str(value), path)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return resolve(option)
    return schema


def body_schema(op: Operation) -> dict[str, Any]:
    content = SPEC["paths"][op[1]][op[0].lower()]["requestBody"]["content"]["application/json"]
    return resolve(content["schema"])


def wrong_value(schema: dict[str, Any]) -> Any:
    kind = resolve(schema).get("type")
    return {"integer": "1", "string": 12345, "boolean": "yes", "array": {"a": 1}, "object": [1]}[kind]


@pytest.fixture
def admin_client(client: TestClient, admin: Actor) -> Api:
    return Api(client, bearer(login(client, "admin", ADMIN_PASSWORD)))


def test_the_document_lists_the_endpoints() -> None:
    assert len(OPERATIONS) >= 30
    assert ("GET", "/computers") in OPERATIONS
    assert len(LIST_OPS) >= 6
    assert ("GET", "/audit") in LIST_OPS


def test_every_body_has_a_sample() -> None:
    assert set(BODY_OPS) == set(VALID_BODIES)


@pytest.mark.parametrize("op", [o for o in OPERATIONS if o not in PUBLIC], ids=ids)
def test_without_auth_is_401(anon: Api, op: Operation) -> None:
    method, path = op
    response = anon.request(method, fill(path, 1), json=VALID_BODIES.get(op))
    assert "bearer" in response.headers["www-authenticate"].lower()
    if method == "HEAD":  # an answer to HEAD has no body: the status says it
        assert response.status_code == 401
        return
    assert_error(response, 401, "authentication_failed")


@pytest.mark.parametrize("op", BODY_OPS, ids=ids)
def test_malformed_json_is_400(admin_client: Api, op: Operation) -> None:
    method, path = op
    for raw in (b'{"name": ', b"{'single': 'quotes'}", b"\xff\xfe", b"[1, 2,]"):
        response = admin_client.request(
            method, fill(path, 1), content=raw, headers={"content-type": "application/json"}
        )
        assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("op", BODY_OPS, ids=ids)
def test_wrong_types_are_422(admin_client: Api, op: Operation) -> None:
    method, path = op
    url = fill(path, 1)
    for whole in ([1, 2], "text", 5, None):
        response = admin_client.request(
            method, url, content=json.dumps(whole), headers={"content-type": "application/json"}
        )
        assert_error(response, 422, "validation_failed")
    schema = body_schema(op)
    for name, prop in schema["properties"].items():
        if "type" not in resolve(prop):
            continue  # any JSON value (a setting's value is checked against its declared type)
        body = {**VALID_BODIES[op], name: wrong_value(prop)}
        error = assert_error(admin_client.request(method, url, json=body), 422, "validation_failed")
        assert f"body.{name}" in [e["field"] for e in error["detail"]["errors"]], (name, error)
    for name, prop in schema["properties"].items():
        if resolve(prop).get("type") == "string" and "format" not in resolve(prop):
            body = {**VALID_BODIES[op], name: "nul\x00byte"}  # PostgreSQL cannot store NUL
            assert_error(admin_client.request(method, url, json=body), 422, "validation_failed")
    error = assert_error(
        admin_client.request(method, url, json={**VALID_BODIES[op], "bogus": 1}), 422, "validation_failed"
    )
    assert "body.bogus" in [e["field"] for e in error["detail"]["errors"]]
    for name in schema.get("required", []):
        body = {k: v for k, v in VALID_BODIES[op].items() if k != name}
        error = assert_error(admin_client.request(method, url, json=body), 422, "validation_failed")
        assert f"body.{name}" in [e["field"] for e in error["detail"]["errors"]]


@pytest.fixture
def small_client(settings: Settings, runtime: Runtime, admin: Actor) -> Iterator[TestClient]:
    small = settings.model_copy(update={"max_body_bytes": 4096})
    with TestClient(create_app(small, runtime=runtime)) as client:
        yield client


def world(client: TestClient, headers: dict[str, str]) -> None:
    """Object 1 of every kind VALID_BODIES names, so that each sample body can succeed."""

    def post(path: str, body: dict[str, Any]) -> None:
        r = client.post(API + path, json=body, headers=headers)
        assert r.status_code in (200, 201), (path, r.text)

    post(
        "/users", {"username": "admin2", "password": "password-2", "role": "admin"}
    )  # admin 1 may be demoted
    post("/computers", {"hostname": "pc-1"})
    post("/computers", {"hostname": "pc-2"})
    post("/groups", {"name": "top"})
    post("/groups/1/members", {"computer_ids": [1]})
    post("/packages", {"family_name": "tool", "version": "1", "install_procedure": "x"})
    post("/package-groups", {"name": "pg"})  # id 2: groups of both kinds share the ids
    post("/package-groups/2/members", {"package_id": 1})
    post("/installations", {"computer_id": 2, "package_id": 1})
    post("/deployment-rules", {"name": "rule", "computer_group_id": 1, "package_group_id": 2})
    post("/report-groups", {"name": "rg"})  # id 3
    post("/reports", {"name": "rep", "query": "SELECT 1"})
    post("/schedules", VALID_BODIES[("POST", "/schedules")])


# What each sample body gets on ``world`` (``fill_world``'s ids): success, or the one error the
# sample must give.
UNDER_LIMIT: dict[Operation, int | tuple[int, str]] = {op: 200 for op in BODY_OPS} | {
    ("POST", "/me/tokens"): 201,
    ("POST", "/users"): 201,
    ("POST", "/computers"): 201,
    ("POST", "/groups"): 201,
    ("POST", "/commands"): 201,
    ("POST", "/actions"): 201,
    ("POST", "/enroll-tokens"): 201,
    ("POST", "/packages"): 201,
    ("POST", "/uploads"): 201,
    ("POST", "/package-groups"): 201,
    ("POST", "/installations"): 201,
    ("POST", "/deployments"): 201,
    ("POST", "/deployments/uninstall"): 201,
    ("POST", "/deployment-rules"): 201,
    ("POST", "/reports"): 201,
    ("POST", "/report-groups"): 201,
    ("POST", "/schedules"): 201,
    ("PUT", "/me/password"): 204,
    ("PUT", "/users/{user_id}/password"): 204,
    ("POST", "/login-failures/clear"): 200,
    ("DELETE", "/groups/{group_id}/members"): 204,
    # the samples name the group as its own parent: refused as a cycle
    ("PATCH", "/groups/{group_id}"): (422, "validation_failed"),
    ("PATCH", "/report-groups/{group_id}"): (422, "validation_failed"),
    ("POST", "/packages/import-opsi"): (422, "validation_failed"),
    # no agent release "1" was published
    ("POST", "/agent-releases/{version}/rollout"): (404, "not_found"),
    # the sample names no invitation that was sent
    ("POST", "/invitations/{token}/accept"): (404, "not_found"),
}


def fill_world(path: str) -> str:
    """``path`` with the ids of ``world``'s objects (package group 2, report group 3, a setting's key)."""
    if path.startswith("/package-groups/"):
        return fill(path, 2)
    if path.startswith("/report-groups/"):
        return fill(path, 3)
    return fill(path, "wol.port" if "{key}" in path else 1)


@pytest.mark.parametrize("op", BODY_OPS, ids=ids)
def test_oversized_body_is_413(small_client: TestClient, op: Operation) -> None:
    method, path = op
    headers = {**bearer(login(small_client, "admin", ADMIN_PASSWORD)), "content-type": "application/json"}
    world(small_client, headers)
    payload = json.dumps({**VALID_BODIES[op], "padding": "x" * 5000}).encode()
    url = API + fill_world(path)
    assert_error(small_client.request(method, url, content=payload, headers=headers), 413, "body_too_large")
    # Without Content-Length (chunked): counted while the body is read.
    chunks = iter([payload[:2000], payload[2000:]])
    assert_error(small_client.request(method, url, content=chunks, headers=headers), 413, "body_too_large")
    # Under the limit the same route answers as it always does.
    ok = small_client.request(method, url, json=VALID_BODIES[op], headers=headers)
    expected = UNDER_LIMIT[op]
    if isinstance(expected, tuple):
        assert_error(ok, *expected)
    else:
        assert ok.status_code == expected, ok.text


@pytest.mark.parametrize("op", ID_OPS, ids=ids)
def test_bad_id_is_422(admin_client: Api, op: Operation) -> None:
    method, path = op
    for bad_id in ("abc", "1.5", "0", "-1", "99999999999999999999999", "1e3"):
        response = admin_client.request(method, fill(path, bad_id), json=VALID_BODIES.get(op))
        if method == "HEAD":  # no body to say more
            assert response.status_code == 422
            continue
        error = assert_error(response, 422, "validation_failed")
        assert error["detail"]["errors"][0]["field"].startswith("path."), (bad_id, error)


@pytest.mark.parametrize("op", ID_OPS, ids=ids)
def test_unknown_id_is_404(admin_client: Api, op: Operation) -> None:
    method, path = op
    response = admin_client.request(method, fill(path, 999999), json=VALID_BODIES.get(op))
    if method == "HEAD":  # no body to say more
        assert response.status_code == 404
        return
    assert_error(response, 404, "not_found")


BAD_LIST_PARAMS: list[dict[str, str]] = [
    {"page[limit]": "abc"},
    {"page[limit]": "5000"},
    {"page[offset]": "-1"},
    {"filter[no_such_field]": "1"},
    {"filter[id][xor]": "1"},
    {"filter[id]": "not-a-number"},
    {"filter[id]": "1*"},
    {"filter[id][gt]": "99999999999999999999999"},
    {"filter[]": "1"},
    {"sort": "nope"},
    {"surprise": "1"},
]


@pytest.mark.parametrize("op", LIST_OPS, ids=ids)
def test_bad_list_parameters_are_422(admin_client: Api, op: Operation) -> None:
    method, path = op
    admin_client.post("/groups", json={"name": "g"})  # so that /groups/1/members exists
    admin_client.post("/computers", json={"hostname": "h"})  # and /computers/1/jobs
    admin_client.post("/schedules", json=VALID_BODIES[("POST", "/schedules")])  # and /schedules/1/runs
    for params in BAD_LIST_PARAMS:
        response = admin_client.request(method, fill(path, 1), params=params)
        assert_error(response, 422, "validation_failed")
    assert admin_client.request(method, fill(path, 1), params={"page[limit]": "0"}).json()["data"] == []
