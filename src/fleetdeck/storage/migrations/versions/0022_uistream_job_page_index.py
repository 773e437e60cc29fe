"""ix_jobs_batch_order: a deployment's jobs in its page's order

The deployment page reads its jobs 50 at a time ordered by computer, sequence and id
(``core.deployments.containers.deployment_jobs``). With only the single-column index on
``batch_id`` the database reads every job of the deployment and sorts them for each page; with
this index it walks the deployment's jobs in order and stops after the page.

Revision ID: 0022_uistream
Revises: 0021_opsimore
Create Date: 2026-12-03 08:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_uistream"
down_revision: str | None = "0021_opsimore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_batch_order", "jobs", ["batch_id", "computer_id", "sequence", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_batch_order", table_name="jobs")
