"""reported audit and saved commands

``reported_audit``: hardware and software a client reported itself (opsi's hwaudit/swaudit),
stored beside the agent's inventory, which stays the source for a computer that has one.
``saved_commands``: a library of saved command lines (opsi configed's SSH commands).

Revision ID: 0017_opsi_pkg
Revises: 0016_opsi_hosts
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0017_opsi_pkg"
down_revision: str | None = "0016_opsi_hosts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reported_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("computer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("computer_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ident", sa.String(length=1024), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("first_seen", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("last_seen", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_reported_audit_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reported_audit")),
        sa.UniqueConstraint("kind", "computer_key", "ident", name=op.f("uq_reported_audit_kind")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_reported_audit_computer_id"), "reported_audit", ["computer_id"], unique=False)
    op.create_table(
        "saved_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("commands", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("need_sudo", sa.Boolean(), nullable=False),
        sa.Column("tooltip", sa.Text(), nullable=True),
        sa.Column("parent_menu", sa.String(length=255), nullable=True),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_commands")),
        sa.UniqueConstraint("name", name=op.f("uq_saved_commands_name")),
        sqlite_autoincrement=True,
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        role = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'fleetdeck_report'")).scalar()
        if role:
            bind.exec_driver_sql("GRANT SELECT ON TABLE reported_audit, saved_commands TO fleetdeck_report")


def downgrade() -> None:
    op.drop_table("saved_commands")
    op.drop_index(op.f("ix_reported_audit_computer_id"), table_name="reported_audit")
    op.drop_table("reported_audit")
