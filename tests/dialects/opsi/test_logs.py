"""opsi's log_read / log_write: types, object ids, size rules, and who may write."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc, basic


def test_write_read_append_and_rotate(rpc: Rpc, runtime: Runtime) -> None:
    assert rpc.ok("log_read", "instlog", "pc-1.example.org") == ""
    rpc.ok("log_write", "instlog", "line 1\n", "pc-1.example.org")
    rpc.ok("log_write", "instlog", "line 2\n", "pc-1.example.org", True)
    assert rpc.ok("log_read", "instlog", "pc-1.example.org") == "line 1\nline 2\n"
    assert rpc.ok("log_read", "instlog", "pc-1.example.org", 9) == "line 2\n"
    rpc.ok("log_write", "instlog", "fresh\n", "pc-1.example.org")
    assert rpc.ok("log_read", "instlog", "pc-1.example.org") == "fresh\n"
    base = Path(runtime.settings.data_dir) / "logs" / "instlog"
    assert (base / "pc-1.example.org.log.1").read_text() == "line 1\nline 2\n"


@pytest.mark.parametrize(
    ("params", "cls"),
    [
        (["nolog", "x", "pc-1.example.org"], "BackendBadValueError"),
        (["instlog", "x"], "BackendBadValueError"),
        (["instlog", "x", "../../etc/passwd"], "ValueError"),
        (["instlog", "x", "a/b"], "ValueError"),
        (["instlog", "x", ".hidden"], "ValueError"),
    ],
)
def test_bad_log_writes(rpc: Rpc, params: list[str], cls: str) -> None:
    assert rpc.error("log_write", *params)["class"] == cls


def test_viewers_cannot_write(viewer_rpc: Rpc) -> None:
    assert (
        viewer_rpc.error("log_write", "instlog", "x", "pc-1.example.org")["class"]
        == "BackendPermissionDeniedError"
    )


def test_a_client_writes_only_its_own_logs(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    key = runtime.services.enrollment.enroll(
        token.token, hostname="pc-9", machine_id="m", agent_version="1", source="127.0.0.1"
    ).key
    me = "pc-9.fleetdeck.local"

    def as_client(method: str, *params: object) -> dict[str, object]:
        rpc.client.cookies.clear()
        r = rpc.client.post(
            "/rpc",
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            headers={"Authorization": basic(me, key)},
        )
        return dict(r.json())

    assert as_client("log_write", "clientconnect", "hello\n", me).get("error") is None
    assert rpc.ok("log_read", "clientconnect", me) == "hello\n"
    other = as_client("log_write", "clientconnect", "x", "pc-10.fleetdeck.local")
    assert other["error"]["data"]["class"] == "BackendPermissionDeniedError"  # type: ignore[index]
