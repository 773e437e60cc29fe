"""host record: what an admin records about a computer (description, inventory number, addresses);
package family names no longer unique

description, inventory number, the addresses given for a machine without an agent, and two
encrypted secrets: a one-time password and the host key of a computer pre-registered without
an agent. The report role may read the plain columns, never the secrets.

A package family's name is a display name, not an identity (the key is): two families may share
one, as two opsi products may. The unique constraint becomes a plain index.

Revision ID: 0016_opsi_hosts
Revises: 0015_opsi_poc
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016_opsi_hosts"
down_revision: str | None = "0015_opsi_poc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _families(dialect: str) -> Any:
    """Batch changes of package_families; SQLite rebuilds the table to change a constraint and
    must keep its AUTOINCREMENT (0010)."""
    if dialect == "sqlite":
        return op.batch_alter_table(
            "package_families", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        )
    return op.batch_alter_table("package_families")


def upgrade() -> None:
    # Plain ADD COLUMNs (no table rebuild on SQLite); the server default fills existing rows.
    with op.batch_alter_table("computers") as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("inventory_number", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("given_mac", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("given_ip", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("one_time_password_enc", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("host_key_enc", sa.String(length=255), nullable=True))
    bind = op.get_bind()
    with _families(bind.dialect.name) as b:
        b.drop_constraint("uq_package_families_name", type_="unique")
        b.create_index("ix_package_families_name", ["name"])
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT (description, inventory_number, given_mac, given_ip)"
                " ON TABLE computers TO fleetdeck_report"
            )


def downgrade() -> None:
    with _families(op.get_bind().dialect.name) as b:
        b.drop_index("ix_package_families_name")
        b.create_unique_constraint("uq_package_families_name", ["name"])
    with op.batch_alter_table("computers") as batch_op:
        for column in (
            "host_key_enc",
            "one_time_password_enc",
            "given_ip",
            "given_mac",
            "inventory_number",
            "description",
        ):
            batch_op.drop_column(column)
