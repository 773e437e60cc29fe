"""OCO agents, the rest: battery, forced inventory, event log entries, rotated passwords

``computers.battery_level`` (0..1) / ``battery_status`` (1 mains, 2 discharging) as the agent
last saw them, ``force_update`` (an admin asked for the inventory at the next poll);
``computer_events`` holds the event log entries agents were asked for (bounded, purged by
age); ``computer_passwords`` the local account passwords agents rotated, encrypted at rest.
Reports may read the new computer columns and the events, never the passwords (the table is
not granted; ``password_enc`` is listed as secret in 0002/0011 and in reports' policy).

Revision ID: 0020_ocorest
Revises: 0019_uiauth
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0020_ocorest"
down_revision: str | None = "0019_uiauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("computers") as batch_op:
        batch_op.add_column(sa.Column("battery_level", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("battery_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("force_update", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "computer_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("computer_id", _ID, nullable=False),
        sa.Column("log", sa.String(length=255), nullable=False),
        sa.Column("at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("received_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_computer_events_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_computer_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_computer_events_computer_at", "computer_events", ["computer_id", "at"], unique=False)
    op.create_table(
        "computer_passwords",
        sa.Column("id", _ID, nullable=False),
        sa.Column("computer_id", _ID, nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_computer_passwords_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_computer_passwords")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_computer_passwords_computer_user", "computer_passwords", ["computer_id", "username"], unique=False
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (battery_level, battery_status, force_update)"
                " ON TABLE computers TO fleetdeck_report"
            )
            bind.exec_driver_sql("GRANT SELECT ON TABLE computer_events TO fleetdeck_report")


def downgrade() -> None:
    op.drop_index("ix_computer_passwords_computer_user", table_name="computer_passwords")
    op.drop_table("computer_passwords")
    op.drop_index("ix_computer_events_computer_at", table_name="computer_events")
    op.drop_table("computer_events")
    with op.batch_alter_table("computers") as batch_op:
        batch_op.drop_column("force_update")
        batch_op.drop_column("battery_status")
        batch_op.drop_column("battery_level")
