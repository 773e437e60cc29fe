"""Agent self-update: published agent releases, their rollout, each computer's update status,
and the server's release signing key (encrypted under the server key; a "secret" table)

Revision ID: 0040_update
Revises: 0039_tunnels
Create Date: 2026-12-03 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0040_update"
down_revision: str | None = "0039_tunnels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime
    op.create_table(
        "agent_releases",
        sa.Column("id", bigid, nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("rollout", sa.String(length=10), nullable=False),
        sa.Column("group_id", bigid, nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("rolled_out_at", when(), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_agent_releases_group_id_groups"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_releases")),
        sa.UniqueConstraint("version", name=op.f("uq_agent_releases_version")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "agent_update_status",
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("running", sa.String(length=50), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_agent_update_status_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("computer_id", name=op.f("pk_agent_update_status")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "agent_release_key_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("private_key_enc", sa.Text(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_release_key_secrets")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("agent_release_key_secrets")
    op.drop_table("agent_update_status")
    op.drop_table("agent_releases")
