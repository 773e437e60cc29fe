"""Report queries are read-only, bounded in rows and time, and cannot read secrets, on the
backend under test (SQLite: read-only connection + authorizer; PostgreSQL: restricted role)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import PermissionDenied, Reason, ValidationFailed
from fleetdeck.core.query import Query
from fleetdeck.core.reports import ONLY_SELECT, ReportFailed, ReportService
from fleetdeck.storage.tables import Computer, User
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import BACKEND

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"


def test_select_works(reports: ReportService, world: Actor) -> None:
    result = reports.run_sql(world, "SELECT id, hostname, created_at FROM computers ORDER BY id")
    assert result.columns == ["id", "hostname", "created_at"]
    assert [r["hostname"] for r in result.rows] == ["web-1"]
    assert isinstance(result.rows[0]["created_at"], str)
    assert not result.truncated
    json.dumps(result.rows)  # JSON-safe


def test_columns_added_by_later_migrations_are_readable(reports: ReportService, world: Actor) -> None:
    for sql in (
        "SELECT action, required_action, required_status, requirement_type FROM package_dependencies",
        "SELECT required_version, required_package_version FROM package_dependencies",
        "SELECT priority FROM packages",
        "SELECT pool_id, name, version, sub_version, language, architecture FROM license_pool_software",
    ):
        assert reports.run_sql(world, sql).rows == []


def test_with_and_leading_whitespace(reports: ReportService, world: Actor) -> None:
    result = reports.run_sql(world, "  \n with x AS (SELECT username FROM users) SELECT * FROM x")
    assert result.rows == [{"username": "admin"}]
    result = reports.run_sql(world, "select count(*) AS n from computers;")
    assert result.rows == [{"n": 1}]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO computers (uid, hostname) VALUES ('x', 'y')",
        "UPDATE users SET role = 'admin'",
        "DELETE FROM users",
        "DROP TABLE users",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA writable_schema = 1",
        "CREATE TABLE t (x int)",
        "  -- comment\nSELECT 1",
        "VACUUM",
    ],
)
def test_only_select(reports: ReportService, world: Actor, sql: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        reports.run_sql(world, sql)
    assert info.value.message == ONLY_SELECT
    assert info.value.detail["reason"] == Reason.NOT_A_SELECT


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DELETE FROM users",
        "SELECT 1; UPDATE users SET role = 'viewer'",
        "WITH d AS (DELETE FROM users RETURNING id) SELECT * FROM d",
        "SELECT * FROM users; DROP TABLE users",
    ],
)
def test_writes_behind_a_select_fail(
    runtime: Runtime, reports: ReportService, world: Actor, sql: str
) -> None:
    with pytest.raises(ReportFailed):
        reports.run_sql(world, sql)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(User)) == 1
        assert uow.session.scalar(select(User.role)) == "admin"


SECRET_QUERIES = [
    "SELECT password_hash FROM users",
    "SELECT * FROM users",
    "SELECT secret_hash FROM api_tokens",
    "SELECT agent_key_hash FROM computers",
    "SELECT agent_key_enc FROM computers",
    "SELECT agent_server_key_enc FROM computers",
    "SELECT * FROM computers",
    "SELECT secret_hash FROM enroll_tokens",
    "SELECT * FROM settings",
    "SELECT key FROM settings",
    "SELECT (SELECT password_hash FROM users LIMIT 1) AS x",
    "SELECT username FROM users WHERE password_hash LIKE '$argon2%'",
    "SELECT u.username FROM users u JOIN api_tokens t ON t.secret_hash <> '' AND t.user_id = u.id",
    "WITH s AS (SELECT * FROM users) SELECT username FROM s",
    "SELECT id FROM computers WHERE id IN (SELECT length(agent_key_hash) FROM computers)",
    "SELECT x FROM (SELECT password_hash AS x FROM users) sub",
]


@pytest.mark.parametrize("sql", SECRET_QUERIES)
def test_secrets_are_unreadable(reports: ReportService, world: Actor, sql: str) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, sql)
    assert info.value.detail["kind"] == "forbidden"
    assert "may not read" in info.value.message


def test_forbidden_message_names_the_column(reports: ReportService, world: Actor) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, "SELECT * FROM users")
    if BACKEND == "sqlite":
        assert info.value.message == "report may not read users.password_hash"
    else:
        assert "users" in info.value.message


def test_safe_columns_of_secret_tables_are_readable(reports: ReportService, world: Actor) -> None:
    rows = reports.run_sql(world, "SELECT username, role FROM users").rows
    assert rows == [{"username": "admin", "role": "admin"}]
    assert reports.run_sql(world, "SELECT count(*) AS n FROM users").rows == [{"n": 1}]
    assert reports.run_sql(world, "SELECT name, scope FROM api_tokens").rows == [
        {"name": "ci", "scope": "read"}
    ]


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite catalogue")
def test_sqlite_master_is_fine(reports: ReportService, world: Actor) -> None:
    names = {
        r["name"] for r in reports.run_sql(world, "SELECT name FROM sqlite_master WHERE type='table'").rows
    }
    assert {"users", "computers", "reports"} <= names


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite views")
def test_views_do_not_bypass(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    with runtime.db.engine.begin() as conn:  # a view an administrator created by other means
        conn.exec_driver_sql("CREATE VIEW logins AS SELECT username, password_hash FROM users")
    with pytest.raises(ReportFailed, match=r"users\.password_hash"):
        reports.run_sql(world, "SELECT * FROM logins")
    with pytest.raises(ReportFailed, match=r"users\.password_hash"):  # SQLite checks the whole view
        reports.run_sql(world, "SELECT username FROM logins")
    with pytest.raises(ReportFailed):
        reports.run_sql(
            world, "SELECT 1 AS x FROM (SELECT 1) WHERE 0 = (SELECT count(*) FROM pragma_table_info('x'))"
        )


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's authorizer; PostgreSQL has no pragma functions")
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM pragma_table_info('computers')",
        "SELECT 1 AS x FROM (SELECT 1) WHERE 0 = (SELECT count(*) FROM pragma_table_info('x'))",
    ],
)
def test_a_pragma_inside_a_select_is_refused_by_name(reports: ReportService, world: Actor, sql: str) -> None:
    """A SELECT that reaches a PRAGMA through a table-valued function is refused, and the refusal
    names the action SQLite's authorizer was asked about (not its number)."""
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, sql)
    assert (info.value.message, info.value.detail) == (
        "reports may only read data (PRAGMA is not allowed)",
        {"kind": "forbidden"},
    )


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL role switching")
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT set_config('role', 'none', true),"
        " query_to_xml('SELECT password_hash FROM users', true, false, '')",
        "SELECT set_config('session_authorization', 'postgres', true)",
        "SELECT query_to_xml('SELECT password_hash FROM users', true, false, '')",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT 1) r; SELECT password_hash FROM users; SELECT (1",
    ],
)
def test_postgres_role_cannot_be_escaped(reports: ReportService, world: Actor, sql: str) -> None:
    with pytest.raises(ReportFailed):
        reports.run_sql(world, sql)


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL sandbox")
def test_postgres_refuses_without_sandbox(runtime: Runtime, world: Actor) -> None:
    from fleetdeck.core.reports.policy import TIERS, Limits
    from fleetdeck.core.reports.postgres_runner import PostgresRunner

    rename = "ALTER FUNCTION fleetdeck_report.{}(text, integer, bigint) RENAME TO {}"
    with runtime.db.engine.begin() as conn:
        conn.exec_driver_sql(rename.format("run", "run_moved"))
    try:
        with pytest.raises(ReportFailed, match="not installed") as info:
            PostgresRunner(runtime.db.engine).run("SELECT 1", Limits(10, 10_000, 5), TIERS[0])
        assert info.value.detail["kind"] == "sandbox_missing"
    finally:
        with runtime.db.engine.begin() as conn:
            conn.exec_driver_sql(rename.format("run_moved", "run"))


def test_time_limit(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    runtime.services.settings.set(world, "reports.timeout_sec", 0.5)
    with pytest.raises(ReportFailed, match=r"stopped after 0\.5 s") as info:
        reports.run_sql(world, ENDLESS)
    assert info.value.detail["kind"] == "timeout"
    # The connection is usable afterwards.
    assert reports.run_sql(world, "SELECT 1 AS one").rows == [{"one": 1}]


def test_row_limit(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    runtime.services.settings.set(world, "reports.max_rows", 5)
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20) SELECT x FROM c"
    result = reports.run_sql(world, sql)
    assert result.truncated
    assert [r["x"] for r in result.rows] == [1, 2, 3, 4, 5]
    exact = reports.run_sql(world, sql.replace("x < 20", "x < 5"))
    assert not exact.truncated
    assert len(exact.rows) == 5


@pytest.mark.parametrize("sql", ["SELECT * FROM no_such_table", "SELECT FROM WHERE", "SELECT 1/"])
def test_bad_sql_is_a_clear_error(reports: ReportService, world: Actor, sql: str) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, sql)
    assert info.value.message.startswith("SQL error: ")
    assert info.value.detail["kind"] == "sql_error"


def test_saved_reports_and_targets(
    runtime: Runtime, reports: ReportService, world: Actor, system: Actor
) -> None:
    second = runtime.services.computers.create(world, "web-2")
    report = reports.create(world, "All computers", "SELECT id AS computer_id, hostname FROM computers")
    assert reports.execute(world, report.id).columns == ["computer_id", "hostname"]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        ids = sorted(uow.session.scalars(select(Computer.id)))
    assert reports.target_ids(world, report.id, "computer_id") == ids
    assert second.id in ids
    with pytest.raises(ValidationFailed):
        reports.target_ids(world, report.id, "package_id")
    with pytest.raises(ValidationFailed):
        reports.target_ids(world, report.id, "hostname")
    # A viewer may run a saved report but not write one or run ad-hoc SQL.
    runtime.services.users.create(system, "victor", "victor-password-1", Role.VIEWER)
    viewer = Actor(user_id=None, username="victor", role=Role.VIEWER)
    assert len(reports.execute(viewer, report.id).rows) == 2
    with pytest.raises(PermissionDenied):
        reports.run_sql(viewer, "SELECT 1")
    with pytest.raises(PermissionDenied):
        reports.create(viewer, "x", "SELECT 1")
    with pytest.raises(ValidationFailed):
        reports.create(world, "bad", "DELETE FROM users")


def test_execution_is_audited(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    reports.run_sql(world, "SELECT 1 AS one")
    with pytest.raises(ReportFailed):
        reports.run_sql(world, "SELECT password_hash FROM users")
    records = [r for r in runtime.services.audit.find(world, Query()).items if r.action == "report.run_sql"]
    assert [r.result for r in records] == ["failed", "ok"]
    assert records[1].detail["query"] == "SELECT 1 AS one"
    assert records[0].detail["query"] == "SELECT password_hash FROM users"


def test_listing_by_group(reports: ReportService, world: Actor) -> None:
    top = reports.groups.create(world, "Security")
    sub = reports.groups.create(world, "Secure Boot", parent_id=top.id)
    root_report = reports.create(world, "Everything", "SELECT 1")
    in_top = reports.create(world, "No antivirus", "SELECT 2", group_id=top.id)
    listing = reports.list_reports(world)
    assert [g.name for g in listing.groups] == ["Security"]
    assert {r.id for r in listing.reports} == {root_report.id, in_top.id}
    listing = reports.list_reports(world, top.id)
    assert [g.id for g in listing.groups] == [sub.id]
    assert [r.id for r in listing.reports] == [in_top.id]
