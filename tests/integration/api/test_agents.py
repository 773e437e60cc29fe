"""``POST /computers/{id}/ping`` without an agent (the real agent: tests/e2e/test_gateway_e2e.py)."""

from __future__ import annotations

from tests.integration.api.conftest import Api, assert_error
from tests.integration.api.test_groups import computer


def test_ping_errors(admin_api: Api, viewer_api: Api) -> None:
    cid = computer(admin_api, "pc-1")
    error = assert_error(admin_api.post(f"/computers/{cid}/ping", params={"timeout": 60}), 503)
    assert error["code"] == "agent_unreachable"
    assert assert_error(viewer_api.post(f"/computers/{cid}/ping"), 503)["code"] == "agent_unreachable"
    assert_error(admin_api.post(f"/computers/{cid + 1}/ping"), 404, "not_found")
    for bad in ("0", "301", "soon"):
        assert_error(admin_api.post(f"/computers/{cid}/ping", params={"timeout": bad}), 422)
