"""Report queries on PostgreSQL: a read-only transaction under the restricted role.

Migration 0002 creates the NOLOGIN role ``fleetdeck_report`` with column-level SELECT grants on
every column except the secret ones (none on ``settings``), and a SECURITY DEFINER function
``fleetdeck_report.run(query, limit)`` owned by that role, which wraps the query as
``SELECT row_to_json(r) FROM (<query>) r LIMIT n``. Running the query inside that function
matters: PostgreSQL refuses ``set_config('role', ...)`` within a security-definer function, so a
query cannot switch back to the connection's own (possibly superuser) role halfway, and the
wrapper admits exactly one statement.

Around it: ``SET TRANSACTION READ ONLY``, ``SET LOCAL statement_timeout`` and ``SET LOCAL ROLE``;
the transaction is always rolled back. If the sandbox is missing (the migration lacked the
CREATEROLE privilege), reports refuse to run rather than run unsandboxed.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine

from fleetdeck.core.reports.policy import ROLE, RUN_FUNCTION, ReportFailed, ReportResult, json_safe

SANDBOX_MISSING = (
    f"reports are disabled on this PostgreSQL database: the sandbox role {ROLE!r} is not installed"
    " (migration 0002 needs the CREATEROLE privilege; grant it, or create the role as a superuser,"
    " and run `fleetdeck db upgrade` again)"
)


class PostgresRunner:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._installed = False

    def _check_installed(self, cursor: Any) -> None:
        if self._installed:
            return
        cursor.execute(
            "SELECT to_regprocedure(%s) IS NOT NULL AND pg_has_role(current_user, %s, 'MEMBER')"
            " FROM pg_roles WHERE rolname = %s",
            (f"{RUN_FUNCTION}(text,integer)", ROLE, ROLE),
        )
        row = cursor.fetchone()
        if not row or not row[0]:
            raise ReportFailed(SANDBOX_MISSING, kind="sandbox_missing")
        self._installed = True

    def run(self, sql: str, max_rows: int, timeout_sec: float) -> ReportResult:
        import psycopg

        started = time.monotonic()
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute("SET TRANSACTION READ ONLY")
                self._check_installed(cursor)
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(max(1, int(timeout_sec * 1000))),),
                )
                cursor.execute(f"SET LOCAL ROLE {ROLE}")
                cursor.execute(f"SELECT {RUN_FUNCTION}(%s, %s)", (_strip(sql), max_rows + 1))
                fetched = [row[0] for row in cursor.fetchall()]
            except psycopg.errors.QueryCanceled as exc:
                raise ReportFailed(
                    f"the report was stopped after {timeout_sec:g} s (setting reports.timeout_sec)",
                    kind="timeout",
                ) from exc
            except psycopg.errors.InsufficientPrivilege as exc:
                raise ReportFailed(
                    f"report may not read this: {_first_line(exc)} (secret columns such as"
                    " users.password_hash and the settings table are not readable by reports)",
                    kind="forbidden",
                ) from exc
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                raise ReportFailed(
                    f"reports may only read data: {_first_line(exc)}", kind="forbidden"
                ) from exc
            except psycopg.Error as exc:
                raise ReportFailed(f"SQL error: {_first_line(exc)}", kind="sql_error") from exc
            finally:
                cursor.close()
        finally:
            raw.rollback()
            raw.close()
        rows = [_row(r) for r in fetched[:max_rows]]
        return ReportResult(
            columns=list(rows[0]) if rows else [],
            rows=rows,
            truncated=len(fetched) > max_rows,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )


def _strip(sql: str) -> str:
    """Trailing semicolons would end the wrapped statement early."""
    return sql.rstrip().rstrip(";").rstrip()


def _row(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return {"value": json_safe(value)}


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
