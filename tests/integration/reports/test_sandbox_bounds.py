"""A report cannot exhaust the server: results are capped in bytes and rows, the time limit
covers the whole run, and on PostgreSQL nothing a report does to its session (advisory locks,
session settings) outlives the report."""

from __future__ import annotations

import resource

import pytest
from sqlalchemy import text

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query
from fleetdeck.core.reports import ReportFailed, ReportService
from tests.conftest import BACKEND

if BACKEND == "sqlite":
    HUGE = [
        "SELECT zeroblob(300000000) AS b",
        "SELECT hex(zeroblob(150000000)) AS s",
        "SELECT length(group_concat(hex(zeroblob(1000000)))) AS n FROM"
        " (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 300) SELECT x FROM c)",
    ]
    MANY = "SELECT hex(zeroblob(5000)) AS s FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000) SELECT x FROM c)"  # noqa: E501
else:
    # The server builds a value before the function can measure it; one far larger than
    # these is stopped by reports.timeout_sec instead (and PostgreSQL caps values at 1 GB).
    HUGE = [
        "SELECT repeat('x', 30000000) AS s",
        "SELECT decode(repeat('00', 15000000), 'hex') AS b",
    ]
    MANY = "SELECT repeat('x', 10000) AS s FROM generate_series(1, 1000)"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


@pytest.mark.parametrize("sql", HUGE)
def test_huge_values_are_refused_without_materialising(
    reports: ReportService, world: Actor, sql: str
) -> None:
    before = _peak_rss_mb()
    with pytest.raises(
        ReportFailed, match=r"larger than 20000000 bytes \(setting reports\.max_bytes\)"
    ) as info:
        reports.run_sql(world, sql)
    assert info.value.detail["kind"] == "too_large"
    # Loose: the value itself (300 MB, more as base64) never reached this process. The peak
    # only moves if this run set a new high-water mark.
    assert _peak_rss_mb() - before < 150


def test_many_rows_stop_at_the_byte_limit(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    runtime.services.settings.set(world, "reports.max_bytes", 100_000)
    with pytest.raises(ReportFailed, match=r"larger than 100000 bytes") as info:
        reports.run_sql(world, MANY)
    assert info.value.detail["kind"] == "too_large"
    # Under the limit the same shape runs, and the row cap still cuts it.
    runtime.services.settings.set(world, "reports.max_rows", 5)
    result = reports.run_sql(world, MANY)
    assert result.truncated
    assert len(result.rows) == 5


def test_failed_runs_are_audited_with_the_reason(
    runtime: Runtime, reports: ReportService, world: Actor
) -> None:
    with pytest.raises(ReportFailed):
        reports.run_sql(world, HUGE[0])
    records = [r for r in runtime.services.audit.find(world, Query()).items if r.action == "report.run_sql"]
    assert records[0].result == "failed"
    assert "reports.max_bytes" in str(records[0].detail)


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite fetch loop")
def test_time_limit_covers_fetching(runtime: Runtime, reports: ReportService, world: Actor) -> None:
    """Endless rows, with limits on rows and bytes too high to stop them first: the deadline
    holds while rows are fetched and converted, not only while SQLite computes."""
    runtime.services.settings.set(world, "reports.timeout_sec", 0.3)
    runtime.services.settings.set(world, "reports.max_rows", 1_000_000)
    runtime.services.settings.set(world, "reports.max_bytes", 1_000_000_000)
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x, x, x, x FROM c"
    with pytest.raises(ReportFailed, match=r"stopped after 0\.3 s") as info:
        reports.run_sql(world, sql)
    assert info.value.detail["kind"] == "timeout"


# ------------------------------------------------------------------ PostgreSQL session state


def _advisory_locks(runtime: Runtime) -> int:
    with runtime.db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar_one()
        )


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL advisory locks")
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(pg_advisory_lock(x)) AS n FROM generate_series(1, 1000) x",
        "SELECT pg_try_advisory_lock(1) AS ok",
        "SELECT pg_advisory_lock_shared(1, 2) AS ok",
        "SELECT pg_advisory_xact_lock(1) AS ok",
        "SELECT pg_try_advisory_xact_lock_shared(1) AS ok",
    ],
)
def test_reports_cannot_take_advisory_locks(
    runtime: Runtime, reports: ReportService, world: Actor, sql: str
) -> None:
    with pytest.raises(ReportFailed, match="permission denied for function pg_") as info:
        reports.run_sql(world, sql)
    assert info.value.detail["kind"] == "forbidden"
    assert _advisory_locks(runtime) == 0


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL pooled connections")
def test_nothing_a_report_does_to_its_session_outlives_it(
    runtime: Runtime, reports: ReportService, world: Actor
) -> None:
    """Even where the lock functions could not be revoked (a migration without superuser
    rights, simulated here by granting one back), the session locks a report took (which a
    rollback keeps) go with its connection, and the next writes on the pool succeed."""
    grant = "{} EXECUTE ON FUNCTION pg_advisory_lock(bigint) {} fleetdeck_report"
    with runtime.db.engine.begin() as conn:
        conn.exec_driver_sql(grant.format("GRANT", "TO"))
    try:
        result = reports.run_sql(
            world,
            "SELECT count(pg_advisory_lock(x)) AS n FROM generate_series(1, 1000) x",
        )
    finally:
        with runtime.db.engine.begin() as conn:
            conn.exec_driver_sql(grant.format("REVOKE", "FROM"))
    assert result.rows == [{"n": 1000}]
    assert _advisory_locks(runtime) == 0
    # Writes go through, on as many pooled connections as there are.
    names = [f"after-report-{i}" for i in range(runtime.db.engine.pool.size() + 2)]
    for name in names:
        runtime.services.computers.create(world, name)
    found = {r["hostname"] for r in reports.run_sql(world, "SELECT hostname FROM computers").rows}
    assert set(names) <= found
