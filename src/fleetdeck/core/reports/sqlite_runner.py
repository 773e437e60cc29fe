"""Report queries on SQLite: a separate read-only connection, guarded by an authorizer.

* The file is opened with ``mode=ro`` and ``PRAGMA query_only=1``: no write can succeed even if
  everything else failed.
* The authorizer allows only what a SELECT needs (SELECT, READ, FUNCTION, RECURSIVE) and denies
  every read of a secret column or table, also through ``*``, subqueries and views, since SQLite
  asks about each column actually read. PRAGMA, ATTACH, temp objects and writes are denied.
* Tables above the caller's tier (``policy.TIERS``: the audit log, user accounts, tokens) are
  denied like secrets, so a report shows no more than the caller's permissions show elsewhere.
* Bounds: ``SQLITE_LIMIT_LENGTH`` = ``reports.max_bytes`` makes SQLite itself refuse any string
  or blob longer than the result may be (``zeroblob(300000000)`` is an error, not 300 MB
  materialised three times over in Python); rows are fetched one batch at a time and their
  JSON-ready size is counted, so the result stops at ``max_bytes`` too; ``max_rows + 1`` rows at
  most are fetched. The deadline holds for the whole run: a progress handler aborts SQLite's
  work, and the fetch loop checks it between batches.
* ``sqlite3`` runs exactly one statement per ``execute`` (a second one is an error).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fleetdeck.core.reports.policy import (
    Limits,
    ReportFailed,
    ReportResult,
    Tier,
    hidden_message,
    hidden_tables,
    is_secret_column,
    json_safe,
)

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
_BATCH = 100


class SqliteRunner:
    def __init__(self, path: str) -> None:
        self._uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"

    def run(self, sql: str, limits: Limits, tier: Tier) -> ReportResult:
        started = time.monotonic()
        deadline = started + limits.timeout_sec
        hidden = hidden_tables(tier)
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
            if action == sqlite3.SQLITE_READ and arg1 and arg1.lower() in hidden:
                denied.append(hidden_message(arg1.lower(), hidden[arg1.lower()]))
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
            conn = sqlite3.connect(
                self._uri, uri=True, timeout=max(limits.timeout_sec, 0.1), isolation_level=None
            )
        except sqlite3.Error as exc:
            raise ReportFailed(f"cannot open the database read-only: {exc}", kind="sql_error") from exc
        try:
            conn.execute("PRAGMA query_only=1")
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1, limits.max_bytes))
            conn.set_authorizer(authorizer)
            conn.set_progress_handler(progress, _PROGRESS_STEPS)
            cursor = conn.execute(sql)
            columns = [c[0] for c in cursor.description or ()]
            rows, truncated = _fetch(cursor, columns, limits, deadline)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_TOOBIG":  # a value over max_bytes
                raise limits.too_large() from exc
            if timed_out:
                raise limits.timed_out() from exc
            raise _failure(exc, denied) from exc
        except (OverflowError, ValueError) as exc:  # e.g. a value Python cannot represent
            raise ReportFailed(f"SQL error: {exc}", kind="sql_error") from exc
        finally:
            conn.close()
        return ReportResult(
            columns=columns,
            rows=rows,
            truncated=truncated,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )


def _fetch(
    cursor: sqlite3.Cursor, columns: list[str], limits: Limits, deadline: float
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``max_rows`` rows as JSON-ready dicts, and whether more existed; ReportFailed once
    their size passes ``max_bytes`` or the deadline passes."""
    rows: list[dict[str, Any]] = []
    used = 0
    while True:
        batch = cursor.fetchmany(min(_BATCH, limits.max_rows + 1 - len(rows)))
        if not batch:
            return rows, False
        for raw in batch:
            if len(rows) == limits.max_rows:
                return rows, True
            values = [json_safe(v) for v in raw]
            used += sum(_size(v) for v in values) + len(values)
            if used > limits.max_bytes:
                raise limits.too_large()
            rows.append(dict(zip(columns, values, strict=True)))
        if time.monotonic() > deadline:
            raise limits.timed_out()


def _size(value: Any) -> int:
    """Roughly the bytes a JSON value takes: its text length, 8 for a number."""
    return len(value) if isinstance(value, str) else 8


def _failure(exc: sqlite3.Error, denied: list[str]) -> ReportFailed:
    if denied:
        return ReportFailed(denied[0], kind="forbidden")
    return ReportFailed(f"SQL error: {exc}", kind="sql_error")
