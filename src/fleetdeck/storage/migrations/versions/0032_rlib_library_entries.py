"""library_entries: saved scripts and commands (rportd's library)

One row per saved script or command: a uuid that names it in URLs, a name unique per kind, the
text and how to run it (interpreter, cwd, sudo, timeout), tags, and who created and last changed
it. ``sqlite_autoincrement`` so a deleted entry's id is never reused.

Revision ID: 0032_rlib
Revises: 0031_idoit_persons
Create Date: 2026-12-03 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0032_rlib"
down_revision: str | None = "0031_idoit_persons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime()
    op.create_table(
        "library_entries",
        sa.Column("id", bigid, autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("interpreter", sa.String(length=255), nullable=False),
        sa.Column("cwd", sa.Text(), nullable=False),
        sa.Column("is_sudo", sa.Boolean(), nullable=False),
        sa.Column("timeout_sec", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=False),
        sa.Column("updated_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_entries")),
        sa.UniqueConstraint("uid", name=op.f("uq_library_entries_uid")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_library_entries_kind")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("library_entries")
