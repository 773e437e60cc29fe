"""web sessions in the database

The web UI's browser sessions move from one server process's memory into ``web_sessions``, so
a restart does not log browsers out and several server processes share them. The cookie's
secret is stored only as a keyed hash. No report may read the table (``SECRET_TABLES``): no
grant to the report roles.

Revision ID: 0019_uiauth
Revises: 0018_oco_agent
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0019_uiauth"
down_revision: str | None = "0018_oco_agent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "web_sessions",
        sa.Column("id", bigid, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", bigid, nullable=False),
        sa.Column("credential_version", sa.Integer(), nullable=False),
        sa.Column("user_born", sa.BigInteger(), nullable=False),
        sa.Column("token_id", bigid, nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_web_sessions_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_web_sessions_secret_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])
    op.create_index(op.f("ix_web_sessions_token_id"), "web_sessions", ["token_id"])
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])
    op.create_index(op.f("ix_web_sessions_last_used_at"), "web_sessions", ["last_used_at"])


def downgrade() -> None:
    op.drop_table("web_sessions")
