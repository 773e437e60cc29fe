"""enroll attempt: a retried enrollment gets its computer back without using the token again

``computers.enroll_attempt_hash`` is a keyed hash of the enrollment token's id and the random
attempt id the agent kept on disk before its first try. An agent whose answer was lost (it timed
out, the connection was cut after the server committed) sends the same attempt again and gets
the same computer with a fresh key, without a second use of the token. Unique, so two copies of
one attempt racing each other cannot both create a computer. Secret (a hash of what only the
agent holds): listed in reports' SECRET_COLUMNS and 0002/0011, never granted to the report role.

Revision ID: 0027_enroll
Revises: 0026_remotepc
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_enroll"
down_revision: str | None = "0026_remotepc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild on SQLite, which would cost the AUTOINCREMENT of 0010).
    with op.batch_alter_table("computers") as batch_op:
        batch_op.add_column(sa.Column("enroll_attempt_hash", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_computers_enroll_attempt_hash"), "computers", ["enroll_attempt_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_computers_enroll_attempt_hash"), table_name="computers")
    with op.batch_alter_table("computers") as batch_op:
        batch_op.drop_column("enroll_attempt_hash")
