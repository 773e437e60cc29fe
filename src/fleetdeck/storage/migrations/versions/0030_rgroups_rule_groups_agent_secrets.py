"""rule groups (computers matched by inventory rules) and agent secrets (agent credentials)

- ``rule_groups``: a group defined by patterns on computers' inventory fields, with the user
  groups allowed to reach its computers; members are computed when read.
- ``agent_secrets``: credentials (id + argon2 hash) agents may connect with.
- ``computer_tags``: tags and labels people give computers.

Revision ID: 0030_rgroups
Revises: 0029_totp
Create Date: 2026-12-03 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0030_rgroups"
down_revision: str | None = "0029_totp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "rule_groups",
        sa.Column("id", bigid, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("allowed_user_groups", sa.JSON(), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_groups")),
        sa.UniqueConstraint("key", name=op.f("uq_rule_groups_key")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "agent_secrets",
        sa.Column("id", bigid, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_secrets")),
        sa.UniqueConstraint("key", name=op.f("uq_agent_secrets_key")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "computer_tags",
        sa.Column("id", bigid, nullable=False),
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_computer_tags_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_computer_tags")),
        sa.UniqueConstraint("computer_id", "kind", "name", name="uq_computer_tags_computer_kind_name"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_computer_tags_computer_id"), "computer_tags", ["computer_id"])


def downgrade() -> None:
    op.drop_table("computer_tags")
    op.drop_table("agent_secrets")
    op.drop_table("rule_groups")
