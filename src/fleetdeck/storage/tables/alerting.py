"""Alerting (``core.alerting``): the ruleset, notification templates, problems and the
notification log.

The ruleset is one row (id 1) holding the whole ruleset as JSON, as rport keeps it: rules are
replaced together, never one by one. A problem is one rule holding for one computer, open
(``active``) until the rule stops holding or an admin closes it. A notification is one message
for one template, queued by the evaluation and sent by the ``notifications.send`` duty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class AlertRuleset(Base):
    __tablename__ = "alert_rulesets"
    __table_args__ = {"sqlite_autoincrement": True}  # the id is always 1; this keeps the rule

    id: Mapped[int] = mapped_column(primary_key=True)
    ruleset: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(150))


class NotificationTemplate(Base):
    __tablename__ = "notification_templates"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    transport: Mapped[str] = mapped_column(String(255))  # "smtp" or a script's name
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150))


class AlertProblem(Base):
    __tablename__ = "alert_problems"
    __table_args__ = (
        Index("ix_alert_problems_open", "computer_id", "active"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    severity: Mapped[str] = mapped_column(String(20))
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"))
    client_name: Mapped[str] = mapped_column(String(255), default="")
    actions: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str] = mapped_column(String(150), default="")  # "" = the rule stopped holding


class AlertNotification(Base):
    __tablename__ = "alert_notifications"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("alert_problems.id", ondelete="SET NULL"))
    template_id: Mapped[str] = mapped_column(String(100))
    transport: Mapped[str] = mapped_column(String(255))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(30), default="text/plain")
    state: Mapped[str] = mapped_column(String(20), index=True)  # queued|dispatching|done|error
    out: Mapped[str] = mapped_column(Text, default="")
    err: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
