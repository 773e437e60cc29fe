"""report sandbox tiers and bounds (PostgreSQL): per-permission roles, byte cap, no advisory locks

What a report reads now follows its caller's permissions (``core/reports/policy.py``,
``TIERS``): the base role ``fleetdeck_report`` loses the audit log, failed logins, user
accounts and tokens; ``fleetdeck_report_audit`` (callers with ``read_audit``) adds
``audit_log`` and ``login_failures``; ``fleetdeck_report_admin`` (``read_audit``,
``manage_users`` and ``manage_enrollment``) adds ``users``, ``api_tokens`` and
``enroll_tokens``. Each tier role is a member of the one below and owns its own SECURITY
DEFINER function (``run``, ``run_audit``, ``run_admin``), since such a function runs with its
owner's rights whatever the caller does.

The functions take a byte limit: rows are counted as they are produced and the run stops with
``program_limit_exceeded`` once their JSON passes it, so an oversized result never reaches the
server process. The old two-argument ``run`` is dropped.

``EXECUTE`` on the advisory lock functions (``pg_advisory_lock`` and friends) is revoked from
``PUBLIC`` in this database and granted back to the migrating role: a report could otherwise
take 200,000 session locks, fill the cluster's shared lock table and keep them on a pooled
connection. fleetdeck itself takes none. Revoking needs the functions' owner (a superuser);
without it the migration logs a warning and reports still run on a connection that is
discarded afterwards (``core/reports/postgres_runner.py``), which releases such locks.

As in 0002, the table sets are a frozen copy of core's policy (storage may not import core);
``tests/integration/reports/test_sandbox_policy.py`` asserts that they agree. A later migration
that adds a table grants it with ``grant_columns`` from here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("fleetdeck.migrations")

ROLE = "fleetdeck_report"
SECRET_COLUMNS = frozenset(
    {
        ("users", "password_hash"),
        ("api_tokens", "secret_hash"),
        ("computers", "agent_key_enc"),
        ("computers", "agent_key_hash"),
        ("computers", "agent_server_key_enc"),  # added by 0018 (never granted: listed here too)
        ("computer_passwords", "password_enc"),  # added by 0019 (never granted: listed here too)
        ("computers", "host_key_enc"),  # added by 0016 (never granted: listed here too)
        ("computers", "one_time_password_enc"),  # added by 0016
        ("enroll_tokens", "secret_hash"),
        ("invitations", "token_hash"),  # added by 0023 (never granted: listed here too)
        ("computers", "enroll_attempt_hash"),  # added by 0027 (never granted: listed here too)
        ("tunnels", "auth_password_hash"),  # added by 0043 (never granted: listed here too)
        ("license_pool_members", "license_key_enc"),
        ("license_assignments", "license_key_enc"),
    }
)
SECRET_TABLES = frozenset({"settings", "web_sessions"})
SECRET_TABLE_MARKERS = ("secret", "vault")
# (role suffix, tables readable from this tier on), lowest first; "" is the base role.
TIERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("", frozenset()),
    ("audit", frozenset({"audit_log", "login_failures"})),
    ("admin", frozenset({"users", "api_tokens", "enroll_tokens"})),
)

RUN_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}(report_query text, row_limit integer, byte_limit bigint)
RETURNS SETOF json
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = {schema}, pg_temp
AS $$
DECLARE
    item json;
    used bigint := 0;
BEGIN
    -- No percent signs in this body: the DDL passes through the driver's placeholder syntax.
    FOR item IN EXECUTE 'SELECT row_to_json(r) FROM (' || chr(10) || report_query || chr(10)
        || ') r LIMIT ' || row_limit::text
    LOOP
        used := used + octet_length(item::text) + 1;
        IF used > byte_limit THEN
            RAISE EXCEPTION 'report result exceeds the byte limit' USING ERRCODE = 'program_limit_exceeded';
        END IF;
        RETURN NEXT item;
    END LOOP;
END
$$
"""


def role_name(suffix: str) -> str:
    return f"{ROLE}_{suffix}" if suffix else ROLE


def function_name(suffix: str) -> str:
    return f"{ROLE}.run_{suffix}" if suffix else f"{ROLE}.run"


def _tier_of(table: str) -> str:
    for suffix, tables in TIERS:
        if table in tables:
            return suffix
    return ""


def _secret_table(name: str) -> bool:
    return name in SECRET_TABLES or any(marker in name.lower() for marker in SECRET_TABLE_MARKERS)


def _quote(bind: sa.Connection, name: str) -> str:
    return bind.dialect.identifier_preparer.quote_identifier(name)


def _role_exists(bind: sa.Connection, role: str) -> bool:
    found = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    return bool(found)


def grant_columns(bind: sa.Connection, tables: Sequence[str] | None = None) -> None:
    """GRANT SELECT on the safe columns of ``tables`` (default: every table of the current
    schema) to the lowest tier role that may read each."""
    inspector = sa.inspect(bind)
    for table in tables if tables is not None else inspector.get_table_names():
        if _secret_table(table):
            continue
        role = role_name(_tier_of(table))
        if not _role_exists(bind, role):
            continue
        columns = [
            c["name"] for c in inspector.get_columns(table) if (table, c["name"]) not in SECRET_COLUMNS
        ]
        if columns:
            cols = ", ".join(_quote(bind, c) for c in columns)
            bind.exec_driver_sql(f"GRANT SELECT ({cols}) ON TABLE {_quote(bind, table)} TO {role}")


def _create_tier_roles(bind: sa.Connection) -> None:
    below = ROLE
    for suffix, _tables in TIERS[1:]:
        role = role_name(suffix)
        # Roles are per cluster; another database (or a parallel test run) may have made it.
        bind.exec_driver_sql(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN;"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        for member, group in ((role, below), ("CURRENT_USER", role)):
            try:
                with bind.begin_nested():
                    bind.exec_driver_sql(f"GRANT {group} TO {member}")
            except sa.exc.DBAPIError:
                pass  # already granted concurrently, or circular: membership is what matters
        below = role


def _advisory_functions(bind: sa.Connection) -> list[str]:
    rows = bind.exec_driver_sql(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_.*advisory'"
        " ORDER BY 1"
    )
    return [str(r[0]) for r in rows]


def _revoke_advisory_locks(bind: sa.Connection) -> None:
    try:
        with bind.begin_nested():
            for function in _advisory_functions(bind):
                bind.exec_driver_sql(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
                bind.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {function} TO CURRENT_USER")
    except sa.exc.DBAPIError as exc:
        log.warning(
            "could not revoke the advisory lock functions from reports (%s); run this migration"
            " as a superuser to close that hole (each report's connection is discarded anyway)",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _role_exists(bind, ROLE):
        return  # SQLite builds its sandbox per connection; without 0002's role reports refuse
    try:
        with bind.begin_nested():
            _create_tier_roles(bind)
    except sa.exc.DBAPIError as exc:
        log.warning(
            "could not create the PostgreSQL report roles (%s); reports will refuse to run on this"
            " database until they exist",
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return
    schema = _quote(bind, str(bind.exec_driver_sql("SELECT current_schema()").scalar()))
    for suffix, tables in TIERS[1:]:
        for table in sorted(tables):
            bind.exec_driver_sql(f"REVOKE ALL ON TABLE {_quote(bind, table)} FROM {ROLE}")
        grant_columns(bind, sorted(tables))
        bind.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role_name(suffix)}")
    bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {ROLE}.run(text, integer)")
    for suffix, _tables in TIERS:
        function = function_name(suffix)
        bind.exec_driver_sql(RUN_FUNCTION.format(function=function, schema=schema))
        bind.exec_driver_sql(f"ALTER FUNCTION {function}(text, integer, bigint) OWNER TO {role_name(suffix)}")
        bind.exec_driver_sql(f"REVOKE EXECUTE ON FUNCTION {function}(text, integer, bigint) FROM PUBLIC")
        bind.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {function}(text, integer, bigint) TO CURRENT_USER")
    _revoke_advisory_locks(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _role_exists(bind, ROLE):
        return
    for function in _advisory_functions(bind):
        bind.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")
    for suffix, tables in reversed(TIERS[1:]):
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function_name(suffix)}(text, integer, bigint)")
        for table in sorted(tables):
            if _role_exists(bind, role_name(suffix)):
                bind.exec_driver_sql(f"REVOKE ALL ON TABLE {_quote(bind, table)} FROM {role_name(suffix)}")
    bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {ROLE}.run(text, integer, bigint)")
    schema = _quote(bind, str(bind.exec_driver_sql("SELECT current_schema()").scalar()))
    old = (
        "CREATE OR REPLACE FUNCTION {role}.run(report_query text, row_limit integer) RETURNS SETOF json"
        " LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$ BEGIN"
        " RETURN QUERY EXECUTE 'SELECT row_to_json(r) FROM (' || chr(10) || report_query || chr(10)"
        " || ') r LIMIT ' || row_limit::text; END $$"
    )
    bind.exec_driver_sql(old.format(role=ROLE, schema=schema))
    bind.exec_driver_sql(f"ALTER FUNCTION {ROLE}.run(text, integer) OWNER TO {ROLE}")
    # The base role reads what it read before 0011 (login_failures was never granted).
    for _suffix, tables in TIERS[1:]:
        for table in sorted(tables - {"login_failures"}):
            cols = [
                c["name"]
                for c in sa.inspect(bind).get_columns(table)
                if (table, c["name"]) not in SECRET_COLUMNS
            ]
            names = ", ".join(_quote(bind, c) for c in cols)
            bind.exec_driver_sql(f"GRANT SELECT ({names}) ON TABLE {_quote(bind, table)} TO {ROLE}")
