"""opsiconfd's admin methods: the settings and the diagnostic record for administrators; the
two fleetdeck cannot honour answer why."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, enroll


def test_get_config_is_the_settings_with_secrets_masked(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, "oco.api_key", "very-secret-key")
    config = rpc.ok("service_getConfig")
    assert config == {s.key: s.value for s in runtime.services.settings.list(admin)}
    assert config["oco.api_key"] == "********" and config["oco.api_enabled"] is False


def test_diagnostic_data(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-1")
    rpc.ok(
        "product_createObjects",
        [
            {
                "type": "LocalbootProduct",
                "id": "app",
                "productVersion": "1",
                "packageVersion": "1",
                "setupScript": "x",
            }
        ],
    )
    data = rpc.ok("service_getDiagnosticData")
    assert {"system", "processor", "os_release", "config", "clients", "products", "health_check"} <= set(data)
    assert data["system"]["server"].startswith("fleetdeck ")
    assert data["clients"]["all"] == 1 and data["products"] == 1
    assert {c["check_id"] for c in data["health_check"]} == {"database", "agents"}


def test_for_administrators_only(client: TestClient, viewer_rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-1")
    me = Rpc(client, "pc-1.fleetdeck.local", key)
    for method in ("service_getConfig", "service_getDiagnosticData"):
        assert me.error(method)["class"] == "BackendPermissionDeniedError"
        assert viewer_rpc.error(method)["class"] == "BackendPermissionDeniedError"


def test_app_state_and_config_updates_say_why_not(rpc: Rpc) -> None:
    err = rpc.error("service_setAppState", {"type": "maintenance"})
    assert err["class"] == "BackendError" and "maintenance" in err["message"]
    err = rpc.error("service_updateConfig", {"log_level": 5}, "restart")
    assert err["class"] == "BackendError" and "/api/v1/settings" in err["message"]
    assert rpc.error("service_getConfig", 1)["class"] == "TypeError"
