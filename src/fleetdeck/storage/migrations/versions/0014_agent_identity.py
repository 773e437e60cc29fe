"""agent identity: hardware UUID and the admin's permission to re-enroll

A computer remembers the firmware UUID its agent reported at enrollment, and until when an admin
allows a new agent on the same machine to replace the enrolled one. Without that permission a
second agent presenting the same machine id becomes a computer of its own (a clone) instead of
silently taking the existing one over (docs/operations.md, "Clones and re-installs").

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no table rebuild on SQLite, which would cost the AUTOINCREMENT of 0010);
    # the server default fills the rows that exist.
    with op.batch_alter_table("computers") as batch_op:
        batch_op.add_column(
            sa.Column("hardware_uuid", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("reenroll_until", fleetdeck.storage.tables.base.UTCDateTime(), nullable=True)
        )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (hardware_uuid, reenroll_until) ON TABLE computers TO fleetdeck_report"
            )


def downgrade() -> None:
    with op.batch_alter_table("computers") as batch_op:
        batch_op.drop_column("reenroll_until")
        batch_op.drop_column("hardware_uuid")
