"""Second-factor codes sent by e-mail (rport's two_fa_token_delivery)

``user_mail_code_secrets`` holds, per half login (a ``web_sessions`` row awaiting its second
factor), a keyed hash of the code mailed to the user, when it stops being valid and how many
wrong codes were tried. The table's name marks it secret for reports (core/reports/policy.py);
it is not granted to the report roles.

Revision ID: 0028_rport2
Revises: 0027_enroll
Create Date: 2026-12-03 11:58:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0028_rport2"
down_revision: str | None = "0027_enroll"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "user_mail_code_secrets",
        sa.Column("session_id", bigid, nullable=False),
        sa.Column("user_id", bigid, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", fleetdeck.storage.tables.base.UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["web_sessions.id"],
            name=op.f("fk_user_mail_code_secrets_session_id_web_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_mail_code_secrets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_user_mail_code_secrets")),
    )
    op.create_index(op.f("ix_user_mail_code_secrets_user_id"), "user_mail_code_secrets", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_mail_code_secrets_user_id"), table_name="user_mail_code_secrets")
    op.drop_table("user_mail_code_secrets")
