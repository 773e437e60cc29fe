"""Computer groups and package families are CMDB objects (object groups and applications)

``cmdb_objects.group_id`` and ``family_id`` link an object to the computer group or package
family it shows, as ``user_id`` does for users (removed with it). Existing computer groups and
families get their objects here; new ones when they are inserted (``core.cmdb.link``).

Revision ID: 0034_idoit_groups
Revises: 0033_rvault
Create Date: 2026-12-03 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_idoit_groups"
down_revision: str | None = "0033_rvault"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = (("group_id", "groups"), ("family_id", "package_families"))


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("cmdb_objects", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for column, table in LINKS:
            batch.add_column(sa.Column(column, bigid, nullable=True))
            batch.create_foreign_key(
                op.f(f"fk_cmdb_objects_{column}_{table}"), table, [column], ["id"], ondelete="CASCADE"
            )
            batch.create_unique_constraint(op.f(f"uq_cmdb_objects_{column}"), [column])
    # 36: C__OBJECT_TYPE__GROUP (computer groups only), 2: C__OBJTYPE__APPLICATION
    op.execute(
        "INSERT INTO cmdb_objects (type_id, title, sysid, status, cmdb_status, description, attrs,"
        " group_id, created_at, created_by, updated_by)"
        " SELECT 36, '', '', 2, 6, '', '{}', id, created_at, '', '' FROM groups"
        " WHERE kind = 'computer' ORDER BY id"
    )
    op.execute(
        "INSERT INTO cmdb_objects (type_id, title, sysid, status, cmdb_status, description, attrs,"
        " family_id, created_at, created_by, updated_by)"
        " SELECT 2, '', '', 2, 6, '', '{}', id, created_at, created_by, '' FROM package_families ORDER BY id"
    )


def downgrade() -> None:
    op.execute("DELETE FROM cmdb_objects WHERE group_id IS NOT NULL OR family_id IS NOT NULL")
    with op.batch_alter_table("cmdb_objects", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for column, table in reversed(LINKS):
            batch.drop_constraint(op.f(f"uq_cmdb_objects_{column}"), type_="unique")
            batch.drop_constraint(op.f(f"fk_cmdb_objects_{column}_{table}"), type_="foreignkey")
            batch.drop_column(column)
