"""Stored tunnels (rportd's /clients/{id}/stored-tunnels): ``stored_tunnels``

Revision ID: 0041_stored
Revises: 0040_update
Create Date: 2026-12-05 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0041_stored"
down_revision: str | None = "0040_update"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime
    op.create_table(
        "stored_tunnels",
        sa.Column("id", bigid, nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scheme", sa.String(length=15), nullable=False),
        sa.Column("remote_ip", sa.String(length=255), nullable=False),
        sa.Column("remote_port", sa.Integer(), nullable=False),
        sa.Column("public_port", sa.Integer(), nullable=True),
        sa.Column("acl", sa.String(length=2000), nullable=False),
        sa.Column("further_options", sa.JSON(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_stored_tunnels_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_tunnels")),
        sa.UniqueConstraint("computer_id", "name", name=op.f("uq_stored_tunnels_computer_id")),
        sa.UniqueConstraint("uid", name=op.f("uq_stored_tunnels_uid")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("stored_tunnels")
