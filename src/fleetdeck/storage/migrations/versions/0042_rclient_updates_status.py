"""Computers' pending-updates summary (rportd's ``updates_status``), as JSON text

Revision ID: 0042_rclient
Revises: 0041_stored
Create Date: 2026-12-04 18:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042_rclient"
down_revision: str | None = "0041_stored"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("computers", sa.Column("updates_status", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("computers") as batch:
        batch.drop_column("updates_status")
