"""Report queries on PostgreSQL: a read-only transaction under a restricted role, on a
connection that is thrown away afterwards.

Migration 0002 created the NOLOGIN role ``fleetdeck_report`` with column-level SELECT grants on
every column except the secret ones (none on ``settings``); migration 0011 split off the tiers
of ``policy.TIERS`` (``fleetdeck_report_audit``, ``fleetdeck_report_admin``: the audit log,
user accounts and tokens) and gave each tier a SECURITY DEFINER function
``fleetdeck_report.run[_tier](query, row_limit, byte_limit)`` owned by its role, which wraps the
query as ``SELECT row_to_json(r) FROM (<query>) r LIMIT n`` and stops once the rows' JSON passes
the byte limit. Running the query inside that function matters: PostgreSQL refuses
``set_config('role', ...)`` within a security-definer function, so a query cannot switch back
to the connection's own (possibly superuser) role halfway, and the wrapper admits exactly one
statement. The caller's tier picks the function, so a viewer's run reads what a viewer may.

Around it: ``SET TRANSACTION READ ONLY``, ``SET LOCAL statement_timeout`` (the whole run: the
function produces every row before it returns) and ``SET LOCAL ROLE``; the transaction is
always rolled back. Whatever session state the query left behind (advisory locks, session
settings such as ``default_transaction_read_only``) must not reach the next fleetdeck write on
the same pooled connection: the runner releases advisory locks and then discards the
connection (0011 also revokes the lock functions from reports where it can). If the sandbox is
missing (the migrations lacked the CREATEROLE privilege), reports refuse to run rather than run
unsandboxed.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from sqlalchemy import Engine

from fleetdeck.core.reports.policy import (
    Limits,
    ReportFailed,
    ReportResult,
    Tier,
    hidden_message,
    hidden_tables,
    json_safe,
)

_DENIED_TABLE = re.compile(r"permission denied for table (\w+)")
SANDBOX_MISSING = (
    "reports are disabled on this PostgreSQL database: the sandbox role {role!r} or its function"
    " is not installed (migrations 0002 and 0011 need the CREATEROLE privilege; grant it, or"
    " create the roles as a superuser, and run `fleetdeck db upgrade` again)"
)


class PostgresRunner:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._installed: set[str] = set()

    def _check_installed(self, cursor: Any, tier: Tier) -> None:
        if tier.role in self._installed:
            return
        cursor.execute(
            "SELECT to_regprocedure(%s) IS NOT NULL AND pg_has_role(current_user, %s, 'MEMBER')"
            " FROM pg_roles WHERE rolname = %s",
            (f"{tier.function}(text,integer,bigint)", tier.role, tier.role),
        )
        row = cursor.fetchone()
        if not row or not row[0]:
            raise ReportFailed(SANDBOX_MISSING.format(role=tier.role), kind="sandbox_missing")
        self._installed.add(tier.role)

    def run(self, sql: str, limits: Limits, tier: Tier) -> ReportResult:
        import psycopg

        started = time.monotonic()
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute("SET TRANSACTION READ ONLY")
                self._check_installed(cursor, tier)
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(max(1, int(limits.timeout_sec * 1000))),),
                )
                cursor.execute(f"SET LOCAL ROLE {tier.role}")
                cursor.execute(
                    f"SELECT {tier.function}(%s, %s, %s)",
                    (_strip(sql), limits.max_rows + 1, limits.max_bytes),
                )
                fetched = [row[0] for row in cursor.fetchall()]
            except psycopg.errors.QueryCanceled as exc:
                raise limits.timed_out() from exc
            except psycopg.errors.ProgramLimitExceeded as exc:
                raise limits.too_large() from exc
            except psycopg.errors.InsufficientPrivilege as exc:
                raise _forbidden(exc, tier) from exc
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                raise ReportFailed(
                    f"reports may only read data: {_first_line(exc)}", kind="forbidden"
                ) from exc
            except psycopg.Error as exc:
                raise ReportFailed(f"SQL error: {_first_line(exc)}", kind="sql_error") from exc
            finally:
                cursor.close()
        finally:
            _discard(raw)
        rows = [_row(r) for r in fetched[: limits.max_rows]]
        return ReportResult(
            columns=list(rows[0]) if rows else [],
            rows=rows,
            truncated=len(fetched) > limits.max_rows,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )


def _discard(raw: Any) -> None:
    """Roll back, release any session advisory lock at once (closing alone releases them only
    when the server process has exited), and take the connection out of the pool for good."""
    with contextlib.suppress(Exception):
        raw.rollback()
        cursor = raw.cursor()
        cursor.execute("SELECT pg_advisory_unlock_all()")
        cursor.close()
        raw.rollback()
    raw.invalidate()
    raw.close()


def _forbidden(exc: Exception, tier: Tier) -> ReportFailed:
    """The same message as on SQLite for a table above the caller's tier."""
    table = _DENIED_TABLE.search(_first_line(exc))
    hidden = hidden_tables(tier)
    if table and table.group(1) in hidden:
        return ReportFailed(hidden_message(table.group(1), hidden[table.group(1)]), kind="forbidden")
    return ReportFailed(
        f"report may not read this: {_first_line(exc)} (secret columns such as users.password_hash"
        " and the settings table are not readable by reports, and a report reads only what its"
        " caller may read elsewhere)",
        kind="forbidden",
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
