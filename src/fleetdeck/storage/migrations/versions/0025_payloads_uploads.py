"""payload_uploads; jobs.progress_bytes / progress_total

Streaming, resumable payload uploads (``core.packages.uploads``) keep one row per upload; the
bytes are a spool file. A package job's download progress is kept in bytes as well as percent,
so the API and the UI can say "1.2 GB of 2 GB".

Revision ID: 0025_payloads
Revises: 0024_rport
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fleetdeck.storage.tables.base import UTCDateTime

revision: str = "0025_payloads"
down_revision: str | None = "0024_rport"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payload_uploads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("package_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("expected_sha256", sa.String(length=64), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name=op.f("fk_payload_uploads_package_id_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payload_uploads")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_payload_uploads_package_id"), "payload_uploads", ["package_id"])
    op.create_index(op.f("ix_payload_uploads_user_id"), "payload_uploads", ["user_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("progress_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("progress_total", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("progress_total")
        batch.drop_column("progress_bytes")
    op.drop_index(op.f("ix_payload_uploads_user_id"), table_name="payload_uploads")
    op.drop_index(op.f("ix_payload_uploads_package_id"), table_name="payload_uploads")
    op.drop_table("payload_uploads")
