"""report sandbox (PostgreSQL): restricted role for report queries

Creates the NOLOGIN role ``fleetdeck_report`` with column-level ``SELECT`` grants on every
column of every table except the secret ones (and nothing on ``settings``), plus the schema
``fleetdeck_report`` holding the SECURITY DEFINER function ``run(query, limit)`` that report
execution calls (see ``core/reports/postgres_runner.py``). Nothing happens on SQLite, whose
sandbox is built per connection.

Without the CREATEROLE privilege the role cannot be created: the migration then logs a warning
and succeeds, and reports on this database refuse to run until the role exists.

The secret sets below are a frozen copy of ``fleetdeck.core.reports.policy`` (storage may not
import core); ``tests/integration/reports/test_sandbox_policy.py`` asserts that they agree. A
later migration that adds tables or columns must grant the new safe columns as well, with
``grant_columns`` from 0011 (which knows the per-permission tiers; this one would hand every
table to the base role).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
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

RUN_FUNCTION = """
CREATE OR REPLACE FUNCTION {role}.run(report_query text, row_limit integer)
RETURNS SETOF json
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = {schema}, pg_temp
AS $$
BEGIN
    -- No percent signs in this body: the DDL passes through the driver's placeholder syntax.
    RETURN QUERY EXECUTE 'SELECT row_to_json(r) FROM (' || chr(10) || report_query || chr(10)
        || ') r LIMIT ' || row_limit::text;
END
$$
"""


def _secret_table(name: str) -> bool:
    return name in SECRET_TABLES or any(marker in name.lower() for marker in SECRET_TABLE_MARKERS)


def _quote(bind: sa.Connection, name: str) -> str:
    return bind.dialect.identifier_preparer.quote_identifier(name)


def grant_columns(bind: sa.Connection) -> None:
    """GRANT SELECT on the safe columns of every table in the current schema to the role."""
    inspector = sa.inspect(bind)
    for table in inspector.get_table_names():
        if _secret_table(table):
            continue
        columns = [
            c["name"] for c in inspector.get_columns(table) if (table, c["name"]) not in SECRET_COLUMNS
        ]
        if columns:
            cols = ", ".join(_quote(bind, c) for c in columns)
            bind.exec_driver_sql(f"GRANT SELECT ({cols}) ON TABLE {_quote(bind, table)} TO {ROLE}")


def _create_role(bind: sa.Connection) -> None:
    # Roles are per cluster; another database (or a parallel test run) may have created it.
    bind.exec_driver_sql(
        f"DO $$ BEGIN CREATE ROLE {ROLE} NOLOGIN;"
        " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    member = bind.execute(
        sa.text("SELECT pg_has_role(current_user, :role, 'MEMBER')"), {"role": ROLE}
    ).scalar()
    if not member:
        bind.exec_driver_sql(f"GRANT {ROLE} TO CURRENT_USER")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            _create_role(bind)
    except sa.exc.DBAPIError as exc:
        log.warning(
            "could not create the PostgreSQL role %s for sandboxed reports (%s); reports will"
            " refuse to run on this database until it exists",
            ROLE,
            str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
        )
        return
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar()
    bind.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_quote(bind, str(schema))} TO {ROLE}")
    grant_columns(bind)
    bind.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {ROLE} AUTHORIZATION {ROLE}")
    bind.exec_driver_sql(RUN_FUNCTION.format(role=ROLE, schema=_quote(bind, str(schema))))
    bind.exec_driver_sql(f"ALTER FUNCTION {ROLE}.run(text, integer) OWNER TO {ROLE}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    exists = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": ROLE}).scalar()
    if not exists:
        return
    bind.exec_driver_sql(f"DROP SCHEMA IF EXISTS {ROLE} CASCADE")
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar()
    bind.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA {_quote(bind, str(schema))} FROM {ROLE}")
    bind.exec_driver_sql(f"REVOKE USAGE ON SCHEMA {_quote(bind, str(schema))} FROM {ROLE}")
