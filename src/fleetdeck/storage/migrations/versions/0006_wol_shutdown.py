"""wol shutdown

Jobs remember when a deployment's wake set post action "shut down" on them, and which post
action that replaced, so the shutdown can be kept (the wake worked) or reverted (the computer
did not come up, so whoever switches it on later does so by hand).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(
            sa.Column("wol_shutdown_set", fleetdeck.storage.tables.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("wol_shutdown_replaced", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_wol_shutdown_set"), ["wol_shutdown_set"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (wol_shutdown_set, wol_shutdown_replaced) ON TABLE jobs TO fleetdeck_report"
            )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_wol_shutdown_set"))
        batch_op.drop_column("wol_shutdown_replaced")
        batch_op.drop_column("wol_shutdown_set")
