"""Deployment rules: a computer group x a package group, kept installed by re-evaluation.

Job containers themselves are ``job_batches`` rows (kind ``deployment``); a rule owns one batch
of kind ``deployment_rule`` holding the jobs it produced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class DeploymentRule(Base):
    __tablename__ = "deployment_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    computer_group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    package_group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    priority: Mapped[int] = mapped_column(default=0)
    sequence_mode: Mapped[int] = mapped_column(default=0)
    post_action_timeout_min: Mapped[int] = mapped_column(default=5)
    batch_id: Mapped[int] = mapped_column(ForeignKey("job_batches.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime]
