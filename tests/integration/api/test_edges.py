"""Requests at the edges of /api/v1: every one gets a clear error in the JSON envelope, never a
500, and nothing half-done."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import Api, assert_error


def test_a_body_without_the_json_content_type_names_the_header(admin_api: Api) -> None:
    for headers in ({"content-type": "text/plain"}, {}):
        r = admin_api.post("/groups", content=b'{"name": "g"}', headers=headers)
        error = assert_error(r, 415, "unsupported_media_type")
        assert "Content-Type: application/json" in error["message"]
    assert admin_api.get("/groups").json()["meta"]["count"] == 0


@pytest.mark.parametrize(
    "body",
    [b'{"name": "\\ud800"}', b'{"name": "x", "description": NaN}', b'{"name": 1e400}', b'{"name": "x"'],
)
def test_json_fleetdeck_cannot_take_is_a_400(admin_api: Api, body: bytes) -> None:
    r = admin_api.post("/groups", content=body, headers={"content-type": "application/json"})
    assert_error(r, 400, "malformed_json")
    assert admin_api.get("/groups").json()["meta"]["count"] == 0


def test_a_body_over_the_limit_names_the_setting(admin_api: Api) -> None:
    r = admin_api.post(
        "/groups", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert "max_body_bytes" in assert_error(r, 413, "body_too_large")["message"]


def test_unknown_paths_answer_json(client: TestClient, admin_api: Api) -> None:
    assert (
        assert_error(client.get("/no/such/thing"), 404, "not_found")["message"]
        == "no such path: /no/such/thing"
    )
    assert_error(admin_api.get("/no-such-route"), 404, "not_found")
    assert_error(client.delete("/healthz"), 405, "method_not_allowed")


@pytest.mark.parametrize("value", ["-448532692209549508608", "9223372036854775808", "0", "abc"])
@pytest.mark.parametrize("name", ["computer_id", "package_id"])
def test_installation_filters_out_of_range_are_422(admin_api: Api, name: str, value: str) -> None:
    assert_error(admin_api.get(f"/installations?{name}={value}"), 422, "validation_failed")


@pytest.mark.parametrize("kind_path", ["/groups", "/package-groups"])
def test_group_names_are_unique_regardless_of_case_in_any_script(admin_api: Api, kind_path: str) -> None:
    first = admin_api.post(kind_path, json={"name": "Ú"})
    assert first.status_code == 201, first.text
    assert_error(admin_api.post(kind_path, json={"name": "ú"}), 409, "conflict")
    assert_error(admin_api.post(kind_path, json={"name": "Ú"}), 409, "conflict")  # top level too
    parent = first.json()["data"]["id"]
    assert admin_api.post(kind_path, json={"name": "Straße", "parent_id": parent}).status_code == 201
    assert_error(admin_api.post(kind_path, json={"name": "STRASSE", "parent_id": parent}), 409, "conflict")
    assert admin_api.get(kind_path).json()["meta"]["count"] == 2
