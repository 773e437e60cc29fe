"""schedules: commands and scripts run on a cron schedule (rportd's schedules)

One row per schedule: the cron expression, what to run and how, the targets (computer ids,
rule group keys, tags), overlap control and catch-up, the creator it runs as, the next tick and
the latest run. ``job_batches.schedule_id`` names the schedule a batch was made for (no foreign
key: a deleted schedule's runs keep saying where they came from).

Revision ID: 0038_sched
Revises: 0037_monitor
Create Date: 2026-12-03 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0038_sched"
down_revision: str | None = "0037_monitor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime()
    op.create_table(
        "schedules",
        sa.Column("id", bigid, autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("interpreter", sa.String(length=255), nullable=False),
        sa.Column("cwd", sa.Text(), nullable=False),
        sa.Column("is_sudo", sa.Boolean(), nullable=False),
        sa.Column("timeout_sec", sa.Integer(), nullable=False),
        sa.Column("concurrent", sa.Boolean(), nullable=False),
        sa.Column("abort_on_error", sa.Boolean(), nullable=False),
        sa.Column("overlaps", sa.Boolean(), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.Column("computer_ids", sa.JSON(), nullable=False),
        sa.Column("group_keys", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("tag_operator", sa.String(length=3), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("creator_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=True),
        sa.Column("next_run_at", when, nullable=False),
        sa.Column("last_run_at", when, nullable=True),
        sa.Column("last_batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint("uid", name=op.f("uq_schedules_uid")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_schedules_next_run_at"), "schedules", ["next_run_at"], unique=False)
    op.add_column("job_batches", sa.Column("schedule_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_job_batches_schedule_id"), "job_batches", ["schedule_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_job_batches_schedule_id"), table_name="job_batches")
    with op.batch_alter_table("job_batches") as batch:
        batch.drop_column("schedule_id")
    op.drop_index(op.f("ix_schedules_next_run_at"), table_name="schedules")
    op.drop_table("schedules")
