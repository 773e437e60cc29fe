"""Tunnels' HTTP reverse proxy: ``http_proxy``, ``host_header``, basic auth (its password hashed;
listed in reports' SECRET_COLUMNS and 0002/0011, never granted to the report role)

Revision ID: 0043_proxy
Revises: 0042_rclient
Create Date: 2026-12-03 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043_proxy"
down_revision: str | None = "0042_rclient"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch (table rebuild on SQLite) would lose the AUTOINCREMENT of the id.
    op.add_column("tunnels", sa.Column("http_proxy", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("tunnels", sa.Column("host_header", sa.String(255), server_default="", nullable=False))
    op.add_column("tunnels", sa.Column("auth_user", sa.String(150), server_default="", nullable=False))
    op.add_column(
        "tunnels", sa.Column("auth_password_hash", sa.String(255), server_default="", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("tunnels") as batch:
        for name in ("auth_password_hash", "auth_user", "host_header", "http_proxy"):
            batch.drop_column(name)
