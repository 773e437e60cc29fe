"""The secrets vault (rport's /vault)

``vault_secret_state`` holds, once the vault is initialised, the argon2id salt and parameters
and a random check value encrypted under the derived key (the password itself is never
stored); ``vault_secret_entries`` the entries, their values AES-256-GCM ciphertext. Both names
mark the tables secret for reports (core/reports/policy.py); they are not granted to the report
roles.

Revision ID: 0033_rvault
Revises: 0032_rlib
Create Date: 2026-12-03 14:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0033_rvault"
down_revision: str | None = "0032_rlib"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime
    op.create_table(
        "vault_secret_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kdf", sa.String(length=20), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("time_cost", sa.Integer(), nullable=False),
        sa.Column("memory_kib", sa.Integer(), nullable=False),
        sa.Column("parallelism", sa.Integer(), nullable=False),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_secret_state")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "vault_secret_entries",
        sa.Column("id", bigid, nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("required_group", sa.String(length=150), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_secret_entries")),
        sa.UniqueConstraint("client_id", "key", name=op.f("uq_vault_secret_entries_client_id")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("vault_secret_entries")
    op.drop_table("vault_secret_state")
