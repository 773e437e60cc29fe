"""Tunnels (remote_port's /clients/{id}/tunnels): ``tunnels`` and ``tunnel_counters``

Revision ID: 0039_tunnels
Revises: 0038_sched
Create Date: 2026-12-04 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0039_tunnels"
down_revision: str | None = "0038_sched"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime
    op.create_table(
        "tunnels",
        sa.Column("id", bigid, nullable=False),
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("short_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("protocol", sa.String(length=10), nullable=False),
        sa.Column("local_host", sa.String(length=64), nullable=False),
        sa.Column("local_port", sa.Integer(), nullable=False),
        sa.Column("local_port_random", sa.Boolean(), nullable=False),
        sa.Column("remote_host", sa.String(length=255), nullable=False),
        sa.Column("remote_port", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=15), nullable=False),
        sa.Column("acl", sa.String(length=2000), nullable=False),
        sa.Column("idle_timeout_minutes", sa.Integer(), nullable=False),
        sa.Column("auto_close_sec", sa.Integer(), nullable=False),
        sa.Column("expires_at", when(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("owner", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_tunnels_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tunnels")),
        sa.UniqueConstraint("computer_id", "short_id", name=op.f("uq_tunnels_computer_id")),
        sa.UniqueConstraint("local_port", name=op.f("uq_tunnels_local_port")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tunnel_counters",
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_tunnel_counters_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("computer_id", name=op.f("pk_tunnel_counters")),
    )


def downgrade() -> None:
    op.drop_table("tunnel_counters")
    op.drop_table("tunnels")
