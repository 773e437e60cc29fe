"""dependency rules, package priority

Package dependencies carry the full rule (for which action, what the required package must be
or get, before or after), so that opsi's ProductDependency forms can be stored; packages get a
priority that orders independent actions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("packages") as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    # The primary key gains ``action``: SQLite rebuilds the table (batch mode), PostgreSQL alters
    # it in place (so the report role's grants on the table survive).
    with op.batch_alter_table("package_dependencies") as batch_op:
        batch_op.add_column(sa.Column("action", sa.String(length=16), server_default="setup", nullable=False))
        batch_op.add_column(sa.Column("required_action", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("required_status", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("requirement_type", sa.String(length=8), server_default="before", nullable=False)
        )
        batch_op.drop_constraint("pk_package_dependencies", type_="primary")
        batch_op.create_primary_key("pk_package_dependencies", ["package_id", "action", "requires_id"])
    # Every rule so far meant "install the other package first".
    op.execute(sa.text("UPDATE package_dependencies SET required_status = 'installed'"))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (action, required_action, required_status, requirement_type)"
                " ON TABLE package_dependencies TO fleetdeck_report"
            )
            bind.exec_driver_sql("GRANT SELECT (priority) ON TABLE packages TO fleetdeck_report")


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM package_dependencies WHERE action <> 'setup'"))
    with op.batch_alter_table("package_dependencies") as batch_op:
        batch_op.drop_constraint("pk_package_dependencies", type_="primary")
        batch_op.create_primary_key("pk_package_dependencies", ["package_id", "requires_id"])
        batch_op.drop_column("requirement_type")
        batch_op.drop_column("required_status")
        batch_op.drop_column("required_action")
        batch_op.drop_column("action")
    with op.batch_alter_table("packages") as batch_op:
        batch_op.drop_column("priority")
