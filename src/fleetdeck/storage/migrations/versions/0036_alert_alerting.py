"""Alerting (rport's monitoring rules, problems, notification templates, notification log)

Revision ID: 0036_alert
Revises: 0035_oauth
Create Date: 2026-12-03 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fleetdeck.storage.tables.base

revision: str = "0036_alert"
down_revision: str | None = "0035_oauth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    when = fleetdeck.storage.tables.base.UTCDateTime
    op.create_table(
        "alert_rulesets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ruleset", sa.JSON(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rulesets")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "notification_templates",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("transport", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
    )
    op.create_table(
        "alert_problems",
        sa.Column("id", bigid, nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("computer_id", bigid, nullable=False),
        sa.Column("client_name", sa.String(length=255), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("resolved_at", when(), nullable=True),
        sa.Column("resolved_by", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["computer_id"],
            ["computers.id"],
            name=op.f("fk_alert_problems_computer_id_computers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_problems")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_problems_open", "alert_problems", ["computer_id", "active"])
    op.create_index(op.f("ix_alert_problems_rule_id"), "alert_problems", ["rule_id"])
    op.create_index(op.f("ix_alert_problems_created_at"), "alert_problems", ["created_at"])
    op.create_table(
        "alert_notifications",
        sa.Column("id", bigid, nullable=False),
        sa.Column("problem_id", bigid, nullable=True),
        sa.Column("template_id", sa.String(length=100), nullable=False),
        sa.Column("transport", sa.String(length=255), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("out", sa.Text(), nullable=False),
        sa.Column("err", sa.Text(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["alert_problems.id"],
            name=op.f("fk_alert_notifications_problem_id_alert_problems"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_alert_notifications_state"), "alert_notifications", ["state"])
    op.create_index(op.f("ix_alert_notifications_created_at"), "alert_notifications", ["created_at"])


def downgrade() -> None:
    op.drop_table("alert_notifications")
    op.drop_table("alert_problems")
    op.drop_table("notification_templates")
    op.drop_table("alert_rulesets")
