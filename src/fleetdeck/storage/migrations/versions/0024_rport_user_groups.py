"""user groups, second factors, forced password change and renewing sessions

- ``user_groups`` (a group's permissions and restrictions) and ``user_group_members`` (a user's
  memberships, by group name); ``users.group_perms`` keeps what the groups grant and withhold.
- ``users.password_expired`` (the next login must set a new password) and
  ``users.two_fa_send_to``; ``user_totp_secrets`` (encrypted; a secret table by its name).
- ``web_sessions.renew_sec``, ``stage`` and ``user_agent``: sessions of API clients that live by
  use, and the half-logged-in stage between a password and its second factor.

Revision ID: 0024_rport
Revises: 0023_idoit
Create Date: 2026-12-03 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0024_rport"
down_revision: str | None = "0023_idoit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_expired", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("two_fa_send_to", sa.String(length=150), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("group_perms", sa.JSON(), nullable=True))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("renew_sec", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("stage", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("user_agent", sa.String(length=255), nullable=False, server_default=""))
    op.create_table(
        "user_groups",
        sa.Column("id", bigid, nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("restrictions", sa.JSON(), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_user_groups_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "user_group_members",
        sa.Column("id", bigid, nullable=False),
        sa.Column("user_id", bigid, nullable=False),
        sa.Column("group_name", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_group_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_group_members")),
        sa.UniqueConstraint("user_id", "group_name", name=op.f("uq_user_group_members_user_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_user_group_members_user_id"), "user_group_members", ["user_id"])
    op.create_index(op.f("ix_user_group_members_group_name"), "user_group_members", ["group_name"])
    op.create_table(
        "user_totp_secrets",
        sa.Column("user_id", bigid, nullable=False),
        sa.Column("secret_enc", sa.String(length=255), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_totp_secrets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_totp_secrets")),
    )


def downgrade() -> None:
    op.drop_table("user_totp_secrets")
    op.drop_table("user_group_members")
    op.drop_table("user_groups")
    with op.batch_alter_table("web_sessions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("user_agent")
        batch.drop_column("stage")
        batch.drop_column("renew_sec")
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("group_perms")
        batch.drop_column("two_fa_send_to")
        batch.drop_column("password_expired")
