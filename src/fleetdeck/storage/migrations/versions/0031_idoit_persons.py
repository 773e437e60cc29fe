"""Every user is a CMDB person object (i-doit's C__OBJTYPE__PERSON)

``cmdb_objects.user_id`` links an object to the fleetdeck user it shows, as ``computer_id``
does for computers (removed with the user). Existing users get their objects here; new ones
when they are inserted (``core.cmdb.link``).

Revision ID: 0031_idoit_persons
Revises: 0030_rgroups
Create Date: 2026-12-03 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_idoit_persons"
down_revision: str | None = "0030_rgroups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("cmdb_objects", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("user_id", bigid, nullable=True))
        batch.create_foreign_key(
            op.f("fk_cmdb_objects_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_unique_constraint(op.f("uq_cmdb_objects_user_id"), ["user_id"])
    # 53: C__OBJTYPE__PERSON
    op.execute(
        "INSERT INTO cmdb_objects (type_id, title, sysid, status, cmdb_status, description, attrs,"
        " user_id, created_at, created_by, updated_by)"
        " SELECT 53, '', '', 2, 6, '', '{}', id, created_at, '', '' FROM users ORDER BY id"
    )


def downgrade() -> None:
    op.execute("DELETE FROM cmdb_objects WHERE user_id IS NOT NULL")
    with op.batch_alter_table("cmdb_objects", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("uq_cmdb_objects_user_id"), type_="unique")
        batch.drop_constraint(op.f("fk_cmdb_objects_user_id_users"), type_="foreignkey")
        batch.drop_column("user_id")
