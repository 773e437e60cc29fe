"""``fleetdeck user unlock`` (another process than the server) and ``POST /login-failures/clear``
let a locked-out admin in again."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed, TooManyAttempts
from fleetdeck.settings import Settings
from tests.conftest import CHEAP_ARGON2_ENV, SECRET

PASSWORD = "admin-password-1"


def lock_out(runtime: Runtime) -> None:
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            runtime.services.users.authenticate_password("admin", "wrong", "192.0.2.1", "test")
    with pytest.raises(TooManyAttempts):
        runtime.services.users.authenticate_password("admin", PASSWORD, "192.0.2.1", "test")


def test_the_cli_unlocks_a_user(settings: Settings, runtime: Runtime, admin: Actor) -> None:
    lock_out(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
    env |= {
        "FLEETDECK_DATA_DIR": str(settings.data_dir),
        "FLEETDECK_DATABASE_URL": str(settings.database_url),
        "FLEETDECK_SECRET_KEY": SECRET,
        **CHEAP_ARGON2_ENV,
    }
    out = subprocess.run(
        [sys.executable, "-m", "fleetdeck", "user", "unlock", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5 failed logins forgotten"
    assert (
        runtime.services.users.authenticate_password("admin", PASSWORD, "192.0.2.1", "test").user_id
        == admin.user_id
    )


def test_the_api_unlocks_an_address(settings: Settings, runtime: Runtime, admin: Actor) -> None:
    lock_out(runtime)
    with TestClient(create_app(settings, runtime=runtime)) as client:
        token = runtime.services.users.create_token(admin, "t", "read+write", None).token
        headers = {"Authorization": f"Bearer {token}"}
        refused = client.post("/api/v1/login-failures/clear", json={}, headers=headers)
        assert refused.status_code == 422
        r = client.post("/api/v1/login-failures/clear", json={"address": "192.0.2.1"}, headers=headers)
        assert (r.status_code, r.json()) == (200, {"data": {"failures_cleared": 5}})
    assert (
        runtime.services.users.authenticate_password("admin", PASSWORD, "192.0.2.1", "test").user_id
        == admin.user_id
    )
