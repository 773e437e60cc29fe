"""A report reads no more than its caller may read elsewhere: a viewer running an
administrator's saved report cannot reach the audit log (``/api/v1/audit`` needs read_audit),
failed logins, user accounts or tokens, however the query is written; an administrator can."""

from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import FleetdeckError
from fleetdeck.core.reports import ReportFailed, ReportService
from tests import factories
from tests.conftest import BACKEND

GATED = {
    "audit_log": "SELECT action, username FROM audit_log",
    "login_failures": "SELECT username, address FROM login_failures",
    "users": "SELECT username, role FROM users",
    "api_tokens": "SELECT name, scope FROM api_tokens",
    "enroll_tokens": "SELECT id, note FROM enroll_tokens",
}
SNEAKY = [
    "SELECT (SELECT count(*) FROM audit_log) AS n FROM computers",
    "WITH a AS (SELECT * FROM audit_log) SELECT count(*) AS n FROM a",
    "SELECT hostname FROM computers WHERE EXISTS (SELECT 1 FROM login_failures)",
    "SELECT c.hostname FROM computers c JOIN users u ON u.id = c.id",
]


@pytest.fixture
def saved(runtime: Runtime, reports: ReportService, world: Actor) -> dict[str, int]:
    """One saved report per gated table (and the sneaky ones), written by the administrator;
    a failed login so that login_failures has a row."""
    with pytest.raises(FleetdeckError):
        runtime.services.users.login("admin", "not-the-password", "10.9.8.7")
    queries = {**GATED, **{f"sneaky{i}": sql for i, sql in enumerate(SNEAKY)}}
    return {key: reports.create(world, key, sql).id for key, sql in queries.items()}


def _forbidden(reports: ReportService, actor: Actor, report_id: int, table: str) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.execute(actor, report_id)
    assert info.value.detail["kind"] == "forbidden"
    assert "may not read" in info.value.message
    assert table in info.value.message


@pytest.mark.parametrize("table", sorted(GATED))
def test_viewer_cannot_read_what_a_viewer_cannot_list(
    runtime: Runtime, reports: ReportService, world: Actor, saved: dict[str, int], table: str
) -> None:
    viewer = factories.user(runtime.services, Role.VIEWER)
    _forbidden(reports, viewer, saved[table], table)
    # The same saved report runs for its administrator.
    rows = reports.execute(world, saved[table]).rows
    if table == "audit_log":
        assert {"action": "report.create", "username": "admin"} in rows
    if table == "login_failures":
        assert rows == [{"username": "admin", "address": "10.9.8.7"}]
    if table == "users":
        assert {"username": "admin", "role": "admin"} in rows


@pytest.mark.parametrize("index", range(len(SNEAKY)))
def test_subqueries_joins_and_ctes_do_not_widen_it(
    runtime: Runtime, reports: ReportService, world: Actor, saved: dict[str, int], index: int
) -> None:
    viewer = factories.user(runtime.services, Role.VIEWER)
    table = next(t for t in GATED if t in SNEAKY[index])
    _forbidden(reports, viewer, saved[f"sneaky{index}"], table)
    reports.execute(world, saved[f"sneaky{index}"])


def test_viewer_still_reads_the_inventory(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    viewer = factories.user(runtime.services, Role.VIEWER)
    report = reports.create(world, "hosts", "SELECT hostname FROM computers")
    assert reports.execute(viewer, report.id).rows == [{"hostname": "web-1"}]


def test_operator_and_read_only_token(
    runtime: Runtime, reports: ReportService, world: Actor, saved: dict[str, int]
) -> None:
    """An operator lacks read_audit: no audit log. An administrator's read-only token keeps
    read_audit but not manage_users: the audit log, but no user accounts."""
    operator = factories.user(runtime.services, Role.OPERATOR)
    _forbidden(reports, operator, saved["audit_log"], "audit_log")
    _forbidden(reports, operator, saved["users"], "users")
    token = Actor(user_id=world.user_id, username=world.username, role=Role.ADMIN, read_only=True)
    assert reports.execute(token, saved["audit_log"]).rows
    assert reports.execute(token, saved["login_failures"]).rows
    _forbidden(reports, token, saved["users"], "users")


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL tier functions")
@pytest.mark.parametrize("function", ["run_admin", "run_audit"])
def test_higher_tier_functions_are_out_of_reach(
    runtime: Runtime, reports: ReportService, world: Actor, function: str
) -> None:
    viewer = factories.user(runtime.services, Role.VIEWER)
    sql = f"SELECT * FROM fleetdeck_report.{function}('SELECT action FROM audit_log', 10, 100000)"
    report = reports.create(world, "escape", sql)
    with pytest.raises(ReportFailed, match="permission denied for function") as info:
        reports.execute(viewer, report.id)
    assert info.value.detail["kind"] == "forbidden"
