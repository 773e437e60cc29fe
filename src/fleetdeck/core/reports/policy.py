"""What a report may do, declared once: read-only SQL that never touches secrets.

The ``SELECT``/``WITH`` prefix check mirrors OCO and gives an early, friendly error; it is not
the protection. The protection is the database itself: on SQLite a read-only connection with an
authorizer (``sqlite_runner``), on PostgreSQL a read-only transaction under the restricted role
``fleetdeck_report`` that only has column grants on safe columns (``postgres_runner`` and
migration 0002, which carries a frozen copy of these sets; a test asserts they agree).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from fleetdeck.core.errors import FleetdeckError, Reason, ValidationFailed

# (table, column) pairs no report may read.
SECRET_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {
        ("users", "password_hash"),
        ("api_tokens", "secret_hash"),
        ("computers", "agent_key_enc"),
        ("computers", "agent_key_hash"),
        ("enroll_tokens", "secret_hash"),
        ("license_pool_members", "license_key_enc"),
        ("license_assignments", "license_key_enc"),
    }
)
# Tables no report may read at all (settings hold encrypted API keys and the like).
SECRET_TABLES: frozenset[str] = frozenset({"settings"})
# Any table whose name contains one of these is treated as secret too (future vaults).
SECRET_TABLE_MARKERS: tuple[str, ...] = ("secret", "vault")

ROLE = "fleetdeck_report"  # PostgreSQL role and schema of the sandbox (migration 0002)
RUN_FUNCTION = f"{ROLE}.run"

ONLY_SELECT = "Only SELECT queries are allowed in reports"
_SELECT = re.compile(r"^(select|with)\b", re.IGNORECASE)


def is_secret_table(table: str) -> bool:
    name = table.lower()
    return name in SECRET_TABLES or any(marker in name for marker in SECRET_TABLE_MARKERS)


def is_secret_column(table: str, column: str) -> bool:
    return is_secret_table(table) or (table.lower(), column.lower()) in SECRET_COLUMNS


class ReportFailed(FleetdeckError):
    """The query could not run: SQL error, forbidden read, time limit. ``detail["kind"]`` says
    which (``sql_error``, ``forbidden``, ``timeout``, ``sandbox_missing``)."""

    code = "report_failed"


def check_query(sql: str) -> str:
    """The query, left-trimmed; ValidationFailed unless it starts with SELECT or WITH."""
    text = sql.lstrip()
    if "\x00" in text:
        raise ValidationFailed("the query must not contain NUL characters", field="query")
    if not _SELECT.match(text):
        raise ValidationFailed(ONLY_SELECT, field="query", reason=Reason.NOT_A_SELECT)
    return text


@dataclass(frozen=True, slots=True)
class ReportResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool  # more rows than reports.max_rows existed; only the first ones are here
    elapsed_ms: int


def json_safe(value: Any) -> Any:
    """Database values as JSON values: times as ISO 8601, bytes as base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)
