"""packages.server_files_sha256: what an imported package keeps for the server but never runs

An opsi package may bring SERVER_DATA (files opsi copies into the server's file system) and
preinst/postinst scripts (opsi runs them as root on the server). fleetdeck runs no package code
on the server; it keeps those files as a ZIP in the payload store, beside the package, so an
admin can inspect them and nothing of the package is lost. Never sent to agents.

Revision ID: 0021_opsimore
Revises: 0020_ocorest
Create Date: 2026-12-03 07:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_opsimore"
down_revision: str | None = "0020_ocorest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("packages") as batch_op:
        batch_op.add_column(sa.Column("server_files_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_packages_server_files_sha256"), ["server_files_sha256"], unique=False
        )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # reports may read it, as the payload's hash
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql("GRANT SELECT (server_files_sha256) ON TABLE packages TO fleetdeck_report")


def downgrade() -> None:
    with op.batch_alter_table("packages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_packages_server_files_sha256"))
        batch_op.drop_column("server_files_sha256")
