"""cmdb_objects, cmdb_entries, cmdb_dialog_items: the CMDB (issue #15)

Every computer is a CMDB object: existing computers get their object row here, new ones when
they are created (``core.cmdb.link``).

Revision ID: 0023_idoit
Revises: 0022_uistream
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0023_idoit"
down_revision: str | None = "0022_uistream"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    utc = fleetdeck.storage.tables.base.UTCDateTime
    op.create_table(
        "cmdb_objects",
        sa.Column("id", bigid, nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("sysid", sa.String(length=100), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("cmdb_status", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("attrs", sa.JSON(), nullable=False),
        sa.Column("computer_id", bigid, nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("updated_at", utc(), nullable=True),
        sa.Column("updated_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_cmdb_objects_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmdb_objects")),
        sa.UniqueConstraint("computer_id", name=op.f("uq_cmdb_objects_computer_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_cmdb_objects_title"), "cmdb_objects", ["title"])
    op.create_index("ix_cmdb_objects_status_type", "cmdb_objects", ["status", "type_id"])
    op.create_table(
        "cmdb_entries",
        sa.Column("id", bigid, nullable=False),
        sa.Column("object_id", bigid, nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["cmdb_objects.id"],
            name=op.f("fk_cmdb_entries_object_id_cmdb_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmdb_entries")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_cmdb_entries_object_category", "cmdb_entries", ["object_id", "category"])
    op.create_table(
        "cmdb_dialog_items",
        sa.Column("id", bigid, nullable=False),
        sa.Column("table_name", sa.String(length=100), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("const", sa.String(length=255), nullable=False),
        sa.Column("parent_item_id", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmdb_dialog_items")),
        sa.UniqueConstraint("table_name", "item_id", name=op.f("uq_cmdb_dialog_items_table_name")),
        sqlite_autoincrement=True,
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # reports may read the CMDB (no secrets in it)
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql(
                "GRANT SELECT ON TABLE cmdb_objects, cmdb_entries, cmdb_dialog_items TO fleetdeck_report"
            )
    # Every existing computer is an object (type chosen from its facts: type_id NULL).
    op.execute(
        "INSERT INTO cmdb_objects (type_id, title, sysid, status, cmdb_status, description, attrs,"
        " computer_id, created_at, created_by, updated_by)"
        " SELECT NULL, '', '', 2, 6, '', '{}', id, created_at, created_by, '' FROM computers ORDER BY id"
    )


def downgrade() -> None:
    op.drop_table("cmdb_dialog_items")
    op.drop_table("cmdb_entries")
    op.drop_table("cmdb_objects")
