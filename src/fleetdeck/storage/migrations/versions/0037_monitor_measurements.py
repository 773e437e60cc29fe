"""Monitoring measurements (rport's /clients/{id}/metrics and friends)

Revision ID: 0037_monitor
Revises: 0036_alert
Create Date: 2026-12-03 17:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037_monitor"
down_revision: str | None = "0036_alert"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "measurements",
        sa.Column("id", bigid, nullable=False),
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("taken_at", sa.BigInteger(), nullable=False),
        sa.Column("cpu_usage_percent", sa.Double(), nullable=False),
        sa.Column("memory_usage_percent", sa.Double(), nullable=False),
        sa.Column("io_usage_percent", sa.Double(), nullable=True),
        sa.Column("net_lan_in", sa.Double(), nullable=True),
        sa.Column("net_lan_out", sa.Double(), nullable=True),
        sa.Column("net_wan_in", sa.Double(), nullable=True),
        sa.Column("net_wan_out", sa.Double(), nullable=True),
        sa.Column("net_lan_mbit", sa.Double(), nullable=True),
        sa.Column("net_wan_mbit", sa.Double(), nullable=True),
        sa.Column("mountpoints", sa.JSON(), nullable=False),
        sa.Column("processes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_measurements_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_measurements_computer_taken", "measurements", ["computer_id", "taken_at"])
    op.create_index("ix_measurements_taken", "measurements", ["taken_at"])


def downgrade() -> None:
    op.drop_index("ix_measurements_taken", table_name="measurements")
    op.drop_index("ix_measurements_computer_taken", table_name="measurements")
    op.drop_table("measurements")
