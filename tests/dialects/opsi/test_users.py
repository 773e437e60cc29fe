"""opsi User objects are fleetdeck accounts; a User made through opsi cannot log in until an
admin gives it a password and enables it."""

from __future__ import annotations

from fleetdeck.app import Runtime

from .conftest import Rpc


def test_users_are_fleetdeck_accounts(rpc: Rpc, runtime: Runtime) -> None:
    (admin,) = rpc.ok("user_getObjects", [], {"id": "admin"})
    assert admin["type"] == "User" and admin["ident"] == "admin"
    assert admin["mfaState"] == "inactive" and admin["otpSecret"] is None
    assert admin["created"] is not None and len(admin["created"]) == 19
    rpc.ok("user_createObjects", [{"id": "helpdesk", "type": "User"}])
    rpc.ok("user_insertObject", {"id": "helpdesk"})  # again: nothing changes
    made = runtime.services.users.get_by_name("helpdesk")
    assert made is not None and made.disabled and made.role.value == "viewer"
    assert "helpdesk" in rpc.ok("user_getIdents", "str")
    v1 = rpc.client.get("/api/v1/users", headers={"Authorization": rpc.auth}).json()["data"]
    assert any(u["username"] == "helpdesk" and u["disabled"] for u in v1)
    rpc.ok("user_delete", "helpdesk")
    assert runtime.services.users.get_by_name("helpdesk") is None


def test_users_are_for_admins_and_mfa_is_refused(rpc: Rpc, viewer_rpc: Rpc) -> None:
    assert viewer_rpc.error("user_getObjects")["class"] == "BackendPermissionDeniedError"
    assert viewer_rpc.error("user_insertObject", {"id": "x"})["class"] == "BackendPermissionDeniedError"
    assert rpc.error("user_insertObject", {"id": "bad user!"})["class"] == "ValueError"
    err = rpc.error("user_insertObject", {"id": "x", "mfaState": "totp_active"})
    assert err["class"] == "BackendError" and "second factor" in err["message"]
    err = rpc.error("user_updateMultiFactorAuth", "admin")
    assert "no second factor yet" in err["message"]
    assert "no depot share user" in rpc.error("user_getCredentials")["message"]
    assert rpc.error("user_delete", "admin")["class"] in ("BackendError", "BackendBadValueError")
