"""What a report may do, declared once: read-only SQL that never touches secrets.

The ``SELECT``/``WITH`` prefix check mirrors OCO and gives an early, friendly error; it is not
the protection. The protection is the database itself: on SQLite a read-only connection with an
authorizer (``sqlite_runner``), on PostgreSQL a read-only transaction under the restricted role
``fleetdeck_report`` (or a tier above it, by the caller's permissions) that only has column
grants on safe columns (``postgres_runner`` and migrations 0002 and 0011, which carry frozen
copies of these sets; a test asserts they agree).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FleetdeckError, Reason, ValidationFailed

# (table, column) pairs no report may read.
SECRET_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {
        ("users", "password_hash"),
        ("api_tokens", "secret_hash"),
        ("computers", "agent_key_enc"),
        ("computers", "agent_key_hash"),
        ("computers", "agent_server_key_enc"),
        ("computer_passwords", "password_enc"),
        ("computers", "host_key_enc"),
        ("computers", "one_time_password_enc"),
        ("enroll_tokens", "secret_hash"),
        ("invitations", "token_hash"),  # added by 0023 (never granted: listed here too)
        ("computers", "enroll_attempt_hash"),  # added by 0027 (never granted: listed here too)
        ("tunnels", "auth_password_hash"),  # added by 0043 (never granted: listed here too)
        ("license_pool_members", "license_key_enc"),
        ("license_assignments", "license_key_enc"),
    }
)
# Tables no report may read at all (settings hold encrypted API keys and the like).
SECRET_TABLES: frozenset[str] = frozenset({"settings", "web_sessions"})
# Any table whose name contains one of these is treated as secret too (future vaults).
SECRET_TABLE_MARKERS: tuple[str, ...] = ("secret", "vault")

ROLE = "fleetdeck_report"  # PostgreSQL role and schema of the sandbox (migrations 0002, 0011)


@dataclass(frozen=True, slots=True)
class Tier:
    """What a report may read follows what its caller may read elsewhere: the audit log only
    with ``read_audit`` (as ``/api/v1/audit``), user accounts and tokens only with the
    permissions that list them. Tiers are nested (each adds tables to the one before) because
    PostgreSQL needs one role and one SECURITY DEFINER function per tier (migration 0011); a
    caller gets the highest tier whose permissions it holds all of."""

    name: str  # "" for the base tier
    perms: frozenset[Perm]  # needed for this tier
    tables: frozenset[str]  # readable from this tier on

    @property
    def role(self) -> str:
        return f"{ROLE}_{self.name}" if self.name else ROLE

    @property
    def function(self) -> str:
        return f"{ROLE}.run_{self.name}" if self.name else f"{ROLE}.run"


TIERS: tuple[Tier, ...] = (
    Tier("", frozenset(), frozenset()),
    Tier("audit", frozenset({Perm.READ_AUDIT}), frozenset({"audit_log", "login_failures"})),
    Tier(
        "admin",
        frozenset({Perm.READ_AUDIT, Perm.MANAGE_USERS, Perm.MANAGE_ENROLLMENT}),
        frozenset({"users", "api_tokens", "enroll_tokens"}),
    ),
)


def tier_of(actor: Actor) -> Tier:
    """The highest tier the actor holds every permission of."""
    chosen = TIERS[0]
    for tier in TIERS[1:]:
        if not all(actor.can(p) for p in tier.perms):
            break
        chosen = tier
    return chosen


def hidden_tables(tier: Tier) -> dict[str, Tier]:
    """Tables above ``tier``, each with the tier that could read it (for error messages)."""
    above = TIERS[TIERS.index(tier) + 1 :]
    return {table: t for t in above for table in t.tables}


def hidden_message(table: str, needed: Tier) -> str:
    perms = ", ".join(sorted(p.value for p in needed.perms))
    return f"report may not read {table}: it needs the permissions {perms}, as elsewhere in fleetdeck"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one report run, from the settings ``reports.max_rows``, ``reports.max_bytes``
    and ``reports.timeout_sec``. The time limit covers the whole run, fetching included."""

    max_rows: int
    max_bytes: int
    timeout_sec: float

    def too_large(self) -> ReportFailed:
        return ReportFailed(
            f"the report result is larger than {self.max_bytes} bytes (setting reports.max_bytes);"
            " select fewer or smaller columns, or fewer rows",
            kind="too_large",
        )

    def timed_out(self) -> ReportFailed:
        return ReportFailed(
            f"the report was stopped after {self.timeout_sec:g} s (setting reports.timeout_sec)",
            kind="timeout",
        )


ONLY_SELECT = "Only SELECT queries are allowed in reports"
_SELECT = re.compile(r"^(select|with)\b", re.IGNORECASE)


def is_secret_table(table: str) -> bool:
    name = table.lower()
    return name in SECRET_TABLES or any(marker in name for marker in SECRET_TABLE_MARKERS)


def is_secret_column(table: str, column: str) -> bool:
    return is_secret_table(table) or (table.lower(), column.lower()) in SECRET_COLUMNS


class ReportFailed(FleetdeckError):
    """The query could not run: SQL error, forbidden read, time limit. ``detail["kind"]`` says
    which (``sql_error``, ``forbidden``, ``timeout``, ``too_large``, ``sandbox_missing``)."""

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
