"""ids are never reused; failed logins kept in the database

SQLite gives a new row the largest id + 1, so the id of the newest row comes back after that row
is deleted: a deleted user's id went to the next user created. ``AUTOINCREMENT`` makes SQLite
remember the largest id ever given (``sqlite_sequence``), as PostgreSQL's sequences do. SQLite
cannot add it to an existing table, so each table whose ids leave the server (API objects, what
tokens and sessions name) is rebuilt with its rows. Not rebuilt: the inventory rows
(``computer_software``, ``computer_interfaces``, ...), which are rewritten per computer, can be
millions, and whose ids no client holds on to; and ``audit_log``, whose rows are never deleted
one by one.

``login_failures`` keeps failed logins for the throttling window, so every server process and
``fleetdeck user unlock`` see the same ones.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER_REUSED = (
    "users",
    "api_tokens",
    "enroll_tokens",
    "computers",
    "groups",
    "job_batches",
    "jobs",
    "package_families",
    "packages",
    "installations",
    "package_properties",
    "package_property_values",
    "deployment_rules",
    "reports",
    "config_entries",
    "config_overrides",
    "license_contracts",
    "license_pools",
    "software_licenses",
    "license_assignments",
    "license_pool_members",
    "license_pool_software",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # env.py runs SQLite migrations with foreign keys off: dropping the old table must not
        # cascade into the rows that refer to it. It checks the keys once the rebuild is done.
        for name in NEVER_REUSED:
            with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_login_failures_pair", "login_failures", ["username", "address", "at"])
    op.create_index("ix_login_failures_address", "login_failures", ["address", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_address", table_name="login_failures")
    op.drop_index("ix_login_failures_pair", table_name="login_failures")
    op.drop_table("login_failures")
