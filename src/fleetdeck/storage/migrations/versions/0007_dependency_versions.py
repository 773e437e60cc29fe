"""dependency rule versions

A dependency rule may pin the version of the required product (opsi's requiredProductVersion /
requiredPackageVersion). Until now the pin was lost: the rule pointed at one package and every
rule read back as pinned to it. Existing rules pin nothing (null), which is what almost every
opsi rule says.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("package_dependencies") as batch_op:
        batch_op.add_column(sa.Column("required_version", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("required_package_version", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (required_version, required_package_version)"
                " ON TABLE package_dependencies TO fleetdeck_report"
            )


def downgrade() -> None:
    with op.batch_alter_table("package_dependencies") as batch_op:
        batch_op.drop_column("required_package_version")
        batch_op.drop_column("required_version")
