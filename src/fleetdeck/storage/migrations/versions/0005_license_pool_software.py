"""license pool software

Installed software that counts against a license pool (opsi's AuditSoftwareToLicensePool).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "license_pool_software",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pool_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("sub_version", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=False),
        sa.Column("architecture", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["license_pools.id"],
            name=op.f("fk_license_pool_software_pool_id_license_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_pool_software")),
        sa.UniqueConstraint(
            "pool_id",
            "name",
            "version",
            "sub_version",
            "language",
            "architecture",
            name=op.f("uq_license_pool_software_pool_id"),
        ),
    )
    with op.batch_alter_table("license_pool_software") as batch_op:
        batch_op.create_index(batch_op.f("ix_license_pool_software_pool_id"), ["pool_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql("GRANT SELECT ON TABLE license_pool_software TO fleetdeck_report")


def downgrade() -> None:
    with op.batch_alter_table("license_pool_software") as batch_op:
        batch_op.drop_index(batch_op.f("ix_license_pool_software_pool_id"))
    op.drop_table("license_pool_software")
