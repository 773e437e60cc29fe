"""Report queries on SQLite: a separate read-only connection, guarded by an authorizer.

* The file is opened with ``mode=ro`` and ``PRAGMA query_only=1``: no write can succeed even if
  everything else failed.
* The authorizer allows only what a SELECT needs (SELECT, READ, FUNCTION, RECURSIVE) and denies
  every read of a secret column or table, also through ``*``, subqueries and views, since SQLite
  asks about each column actually read. PRAGMA, ATTACH, temp objects and writes are denied.
* A progress handler aborts the query at the deadline; ``fetchmany(max_rows + 1)`` bounds rows.
* ``sqlite3`` runs exactly one statement per ``execute`` (a second one is an error).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from fleetdeck.core.reports.policy import ReportFailed, ReportResult, is_secret_column, json_safe

_RECURSIVE = 33  # SQLITE_RECURSIVE (WITH RECURSIVE); not exported by every Python
_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, _RECURSIVE})
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
# Authorizer action codes 1..33 (sqlite3.h), for error messages.
_ACTION_NAMES = dict(
    enumerate(
        (
            "CREATE INDEX",
            "CREATE TABLE",
            "CREATE TEMP INDEX",
            "CREATE TEMP TABLE",
            "CREATE TEMP TRIGGER",
            "CREATE TEMP VIEW",
            "CREATE TRIGGER",
            "CREATE VIEW",
            "DELETE",
            "DROP INDEX",
            "DROP TABLE",
            "DROP TEMP INDEX",
            "DROP TEMP TABLE",
            "DROP TEMP TRIGGER",
            "DROP TEMP VIEW",
            "DROP TRIGGER",
            "DROP VIEW",
            "INSERT",
            "PRAGMA",
            "READ",
            "SELECT",
            "TRANSACTION",
            "UPDATE",
            "ATTACH",
            "DETACH",
            "ALTER TABLE",
            "REINDEX",
            "ANALYZE",
            "CREATE VTABLE",
            "DROP VTABLE",
            "FUNCTION",
            "SAVEPOINT",
            "RECURSIVE",
        ),
        start=1,
    )
)
_PROGRESS_STEPS = 1000


class SqliteRunner:
    def __init__(self, path: str) -> None:
        self._uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"

    def run(self, sql: str, max_rows: int, timeout_sec: float) -> ReportResult:
        started = time.monotonic()
        deadline = started + timeout_sec
        denied: list[str] = []
        timed_out = False

        def authorizer(
            action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
        ) -> int:
            if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
                # Asked while SQLite sets up an eponymous virtual table such as json_each();
                # the connection is read-only, so nothing can actually be written.
                return sqlite3.SQLITE_OK
            if action not in _ALLOWED:
                denied.append(
                    f"reports may only read data ({_ACTION_NAMES.get(action, action)} is not allowed)"
                )
                return sqlite3.SQLITE_DENY
            if action == sqlite3.SQLITE_READ and arg1 and is_secret_column(arg1, arg2 or ""):
                denied.append(f"report may not read {arg1}.{arg2}" if arg2 else f"report may not read {arg1}")
                return sqlite3.SQLITE_DENY
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
                denied.append(f"report may not call {arg2}()")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK

        def progress() -> int:
            nonlocal timed_out
            if time.monotonic() > deadline:
                timed_out = True
                return 1
            return 0

        try:
            conn = sqlite3.connect(self._uri, uri=True, timeout=max(timeout_sec, 0.1), isolation_level=None)
        except sqlite3.Error as exc:
            raise ReportFailed(f"cannot open the database read-only: {exc}", kind="sql_error") from exc
        try:
            conn.execute("PRAGMA query_only=1")
            conn.set_authorizer(authorizer)
            conn.set_progress_handler(progress, _PROGRESS_STEPS)
            cursor = conn.execute(sql)
            columns = [c[0] for c in cursor.description or ()]
            fetched = cursor.fetchmany(max_rows + 1)
        except sqlite3.Error as exc:
            raise _failure(exc, denied, timed_out, timeout_sec) from exc
        except (OverflowError, ValueError) as exc:  # e.g. a value Python cannot represent
            raise ReportFailed(f"SQL error: {exc}", kind="sql_error") from exc
        finally:
            conn.close()
        rows = [dict(zip(columns, (json_safe(v) for v in row), strict=True)) for row in fetched[:max_rows]]
        return ReportResult(
            columns=columns,
            rows=rows,
            truncated=len(fetched) > max_rows,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )


def _failure(exc: sqlite3.Error, denied: list[str], timed_out: bool, timeout_sec: float) -> ReportFailed:
    if timed_out:
        return ReportFailed(
            f"the report was stopped after {timeout_sec:g} s (setting reports.timeout_sec)", kind="timeout"
        )
    if denied:
        return ReportFailed(denied[0], kind="forbidden")
    return ReportFailed(f"SQL error: {exc}", kind="sql_error")
