"""End users, invitations, computer assignments and comments; flat (exclusive) groups

``end_users`` holds what an end user (a ``users`` row with role ``end_user``) has besides the
account; ``invitations`` pending invitations by e-mail (the token only as a keyed hash, listed as
secret in 0002/0011 and in reports' policy); ``computer_assignments`` which computers each user
is given (many to many); ``computer_comments`` comments with author and time;
``groups.exclusive`` marks the flat groups a computer is in at most one of. None of the new tables
is granted to the report roles.

Revision ID: 0026_remotepc
Revises: 0025_payloads
Create Date: 2026-12-03 10:18:36.984325
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0026_remotepc"
down_revision: str | None = "0025_payloads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=150), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("two_factor", sa.Boolean(), nullable=False),
        sa.Column("invited_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("email", name=op.f("uq_invitations_email")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitations_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "computer_assignments",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("computer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("assigned_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_computer_assignments_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_computer_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "computer_id", name=op.f("pk_computer_assignments")),
    )
    with op.batch_alter_table("computer_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_computer_assignments_computer_id"), ["computer_id"], unique=False
        )

    op.create_table(
        "computer_comments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("computer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("text", sa.String(length=250), nullable=False),
        sa.Column("author", sa.String(length=150), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_computer_comments_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_computer_comments_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_computer_comments")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("computer_comments", schema=None) as batch_op:
        batch_op.create_index("ix_computer_comments_computer", ["computer_id", "id"], unique=False)

    op.create_table(
        "end_users",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("two_factor", sa.Boolean(), nullable=False),
        sa.Column("invited_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_end_users_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_end_users")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exclusive", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("exclusive")

    op.drop_table("end_users")
    with op.batch_alter_table("computer_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_computer_comments_computer")

    op.drop_table("computer_comments")
    with op.batch_alter_table("computer_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_computer_assignments_computer_id"))

    op.drop_table("computer_assignments")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitations_expires_at"))

    op.drop_table("invitations")
