"""totp last step: the time step of a user's last accepted authenticator code, in the database

A code is accepted once. The step of the last accepted one was kept in the memory of the process
that accepted it, so with several server processes (scale-out) a code seen over someone's
shoulder could be replayed on another process within its 30 s. Now one conditional UPDATE
accepts a step only when it is newer than the stored one, whichever process asks.

Revision ID: 0029_totp
Revises: 0028_rport2
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_totp"
down_revision: str | None = "0028_rport2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_totp_secrets") as batch_op:
        batch_op.add_column(sa.Column("last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_totp_secrets") as batch_op:
        batch_op.drop_column("last_step")
