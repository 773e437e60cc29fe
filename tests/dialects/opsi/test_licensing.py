"""opsi's backend_getLicensingInfo: fleetdeck gates no opsi module, so every one is free."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, enroll


def test_every_module_is_free_in_opsis_shape(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    info = rpc.ok("backend_getLicensingInfo")
    assert set(info) == {
        "client_numbers",
        "known_modules",
        "obsolete_modules",
        "available_modules",
        "modules",
        "licenses_checksum",
        "config",
    }
    assert info["client_numbers"] == {"windows": 0, "linux": 2, "macos": 0, "all": 2}
    assert info["available_modules"] == info["known_modules"] == list(info["modules"])
    assert {"license_management", "userroles", "swondemand", "linux_agent"} <= set(info["available_modules"])
    assert set(info["obsolete_modules"]) <= set(info["known_modules"])
    assert info["modules"]["userroles"] == {
        "available": True,
        "state": "free",
        "license_ids": [],
        "client_number": 999999999,
    }
    assert info["licenses_checksum"] == "0"
    assert info["config"]["client_limit_warning_percent"] == 95


def test_the_optional_parts(rpc: Rpc) -> None:
    info = rpc.ok("backend_getLicensingInfo", True, True, True, False)
    assert (info["licenses"], info["legacy_modules"], info["dates"]) == ([], {}, {})
    named = rpc.ok("backend_getLicensingInfo", named={"licenses": True})
    assert named["licenses"] == [] and "dates" not in named
    assert rpc.error("backend_getLicensingInfo", named={"modules": True})["class"] == "TypeError"


def test_a_client_may_ask(client: TestClient, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-1")
    info = Rpc(client, "pc-1.fleetdeck.local", key).ok("backend_getLicensingInfo")
    assert "vpn" in info["available_modules"]
