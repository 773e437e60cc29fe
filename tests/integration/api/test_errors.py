"""The error envelope outside the core errors: routing, content types and unexpected failures."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from tests.integration.api.conftest import API, Api, assert_error


def test_unknown_route_is_404_json(admin_api: Api, anon: Api) -> None:
    assert_error(admin_api.get("/no/such/thing"), 404, "not_found")
    assert_error(anon.get("/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_json(admin_api: Api) -> None:
    response = admin_api.put("/computers")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]  # Starlette names the first matching route's methods


def test_body_without_json_content_type_is_415_and_creates_nothing(admin_api: Api) -> None:
    response = admin_api.post(
        "/computers", content=b'{"hostname": "x"}', headers={"content-type": "text/plain"}
    )
    error = assert_error(response, 415, "unsupported_media_type")
    assert "Content-Type: application/json" in error["message"]
    assert admin_api.get("/computers").json()["meta"]["count"] == 0


def test_empty_body_is_422(admin_api: Api) -> None:
    response = admin_api.post("/computers", headers={"content-type": "application/json"})
    error = assert_error(response, 422, "validation_failed")
    assert error["detail"]["errors"][0]["field"] == "body"


def test_core_validation_error_names_the_field(admin_api: Api) -> None:
    error = assert_error(
        admin_api.post("/users", json={"username": "ok", "password": "short", "role": "viewer"}),
        422,
        "validation_failed",
    )
    assert error["detail"] == {"field": "password"}
    assert "8 characters" in error["message"]


def test_unexpected_error_is_a_bare_500(
    admin_api: Api, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(runtime.services.computers, "find", boom)
    with caplog.at_level(logging.ERROR, logger="fleetdeck.api"):
        response = admin_api.get("/computers")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal server error"}}
    assert "secret internals" not in response.text
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)
    # The server keeps serving.
    assert admin_api.get("/groups").status_code == 200


def test_healthz_is_not_affected(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get(f"{API}/openapi.json").json()["openapi"].startswith("3.")
