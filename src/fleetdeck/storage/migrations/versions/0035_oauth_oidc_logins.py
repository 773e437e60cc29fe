"""OpenID Connect logins under way (rport's OAuth login, core/users/oidc.py)

``oidc_login_secrets`` holds, per login begun and not yet finished, the keyed hashes of its
``state`` and ``nonce``, its PKCE verifier (encrypted) and when it expires. The table's name
marks it secret for reports (core/reports/policy.py); it is not granted to the report roles.

Revision ID: 0035_oauth
Revises: 0034_idoit_groups
Create Date: 2026-12-03 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0035_oauth"
down_revision: str | None = "0034_idoit_groups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "oidc_login_secrets",
        sa.Column("id", bigid, autoincrement=True, nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("verifier_enc", sa.String(length=255), nullable=False),
        sa.Column("created_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_login_secrets")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oidc_login_secrets_state_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_oidc_login_secrets_expires_at"), "oidc_login_secrets", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_login_secrets_expires_at"), table_name="oidc_login_secrets")
    op.drop_table("oidc_login_secrets")
