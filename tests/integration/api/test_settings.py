"""/settings: typed values, secrets never shown, permissions, CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fleetdeck.app import Runtime
from fleetdeck.core.query import Query
from fleetdeck.settings import Settings
from tests.integration.api.conftest import Api, assert_error


def test_list_get_set_reset(admin_api: Api) -> None:
    r = admin_api.get("/settings")
    assert r.status_code == 200
    by_key = {s["key"]: s for s in r.json()["data"]}
    assert by_key["oco.api_enabled"]["value"] is False
    assert by_key["wol.port"] == by_key["wol.port"] | {"value": 9, "type": "int", "is_default": True}
    r = admin_api.put("/settings/wol.port", json={"value": 4000})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["value"] == 4000
    assert r.json()["data"]["updated_by"] == "admin"
    assert admin_api.get("/settings/wol.port").json()["data"]["value"] == 4000
    r = admin_api.delete("/settings/wol.port")
    assert r.json()["data"]["value"] == 9
    assert r.json()["data"]["is_default"] is True
    read = admin_api.get("/settings/wol.port").json()["data"]
    assert (read["value"], read["is_default"]) == (9, True)


def test_errors(admin_api: Api, viewer_api: Api) -> None:
    assert_error(admin_api.put("/settings/wol.port", json={"value": "nine"}), 422, "validation_failed")
    assert_error(admin_api.put("/settings/wol.port", json={"value": 0}), 422)
    assert_error(admin_api.put("/settings/no.such", json={"value": 1}), 404, "not_found")
    assert_error(admin_api.get("/settings/no.such"), 404)
    assert_error(admin_api.put("/settings/wol.port", json={}), 422)
    assert admin_api.get("/settings/wol.port").json()["data"]["value"] == 9  # no bad value stored
    by_key = {s["key"]: s for s in viewer_api.get("/settings").json()["data"]}
    assert by_key["wol.port"]["value"] == 9
    assert_error(viewer_api.put("/settings/wol.port", json={"value": 7}), 403, "permission_denied")
    assert_error(viewer_api.delete("/settings/wol.port"), 403)
    assert admin_api.get("/settings/wol.port").json()["data"]["value"] == 9


def test_secret_never_returned(admin_api: Api, runtime: Runtime) -> None:
    secret = "very-secret-api-key"
    r = admin_api.put("/settings/oco.api_key", json={"value": secret})
    assert r.status_code == 200
    assert secret not in r.text
    assert r.json()["data"]["value"] == "********"
    assert r.json()["data"]["secret"] is True
    for response in (
        admin_api.get("/settings"),
        admin_api.get("/settings/oco.api_key"),
        admin_api.get("/audit"),
    ):
        assert response.status_code == 200, response.text
        assert secret not in response.text
    assert runtime.services.settings.matches_secret("oco.api_key", secret)


def test_cli_set_get_list_reset(settings: Settings, runtime: Runtime, admin_api: Api) -> None:
    from fleetdeck.cli.main import app

    cli = CliRunner()
    opts = ["--data-dir", str(settings.data_dir), "--database-url", str(settings.database_url)]
    env = {"FLEETDECK_SECRET_KEY": str(settings.secret_key)}
    r = cli.invoke(app, ["settings", "set", "oco.api_enabled", "true", *opts], env=env)
    assert r.exit_code == 0, r.output
    assert "oco.api_enabled = true" in r.output
    # the server reads what the CLI stored (``value()`` may serve its cache for a few seconds)
    assert admin_api.get("/settings/oco.api_enabled").json()["data"]["value"] is True
    r = cli.invoke(
        app, ["settings", "set", "wol.broadcast_addresses", "10.0.0.255,10.1.255.255", *opts], env=env
    )
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["settings", "get", "wol.broadcast_addresses", *opts], env=env)
    assert json.loads(r.output) == ["10.0.0.255", "10.1.255.255"]
    r = cli.invoke(app, ["settings", "set", "oco.api_key", "cli-secret", *opts], env=env)
    assert r.exit_code == 0
    assert "cli-secret" not in r.output
    r = cli.invoke(app, ["settings", "list", *opts], env=env)
    assert r.exit_code == 0
    assert "cli-secret" not in r.output
    assert "oco.api_enabled" in r.output
    r = cli.invoke(app, ["settings", "set", "wol.port", "nine", *opts], env=env)
    assert r.exit_code == 1
    r = cli.invoke(app, ["settings", "reset", "oco.api_enabled", *opts], env=env)
    assert r.exit_code == 0
    assert "oco.api_enabled = false" in r.output
    records = runtime.services.audit.find(
        runtime.services.users.authenticate_basic("admin", "admin-password-1", "127.0.0.1", via="test"),
        Query(),
    ).items
    assert any(rec.via == "cli" and rec.action == "setting.set" for rec in records)


def test_malformed_key_is_422(admin_api: Api) -> None:
    for bad in ("UPPER.case", "sp ace", "x" * 201):
        assert_error(admin_api.get(f"/settings/{bad}"), 422, "validation_failed")
