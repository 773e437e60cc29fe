from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class JobBatch(Base):
    """Jobs created together: a command to many computers, a deployment (job container), the jobs
    of a deployment rule; later rport multi-jobs.

    The delivery conditions below apply to every job of the batch: nothing is delivered before
    ``start_at``, queued jobs expire at ``end_at`` (copied into each job's ``expires_at``), and
    ``time_frames`` / ``agent_ip_ranges`` (see ``core/jobs/conditions.py``) are checked when the
    agent is online. ``enabled`` false (a disabled rule) holds every job back.
    """

    __tablename__ = "job_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    expires_at: Mapped[datetime | None]
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    priority: Mapped[int] = mapped_column(default=0)  # -100..100, higher is delivered first
    sequence_mode: Mapped[int] = mapped_column(default=0)  # 0 ignore failures, 1 abort after one
    use_wol: Mapped[bool] = mapped_column(default=False)
    wol_sent: Mapped[int] = mapped_column(default=-1)  # -1 not wanted, 0 due at start_at, 1 sent
    shutdown_waked_after_completion: Mapped[bool] = mapped_column(default=False)
    restart_timeout_min: Mapped[int] = mapped_column(default=5)
    force_same_version: Mapped[bool] = mapped_column(default=False)
    agent_ip_ranges: Mapped[list[Any]] = mapped_column(default=list)
    time_frames: Mapped[list[Any]] = mapped_column(default=list)
    # The schedule whose tick made the batch (``core.jobs.schedules``); kept when the schedule
    # is deleted, so a run still says where it came from. No foreign key for that reason.
    schedule_id: Mapped[int | None] = mapped_column(BigInteger, index=True, default=None)


class Job(Base):
    """One unit of work for one computer, with one state machine and one result."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_computer_status", "computer_id", "status"),
        # a deployment's job page: its jobs in the page's order (containers.deployment_jobs)
        Index("ix_jobs_batch_order", "batch_id", "computer_id", "sequence", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("job_batches.id", ondelete="CASCADE"), index=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    priority: Mapped[int] = mapped_column(default=0)
    sequence: Mapped[int] = mapped_column(default=0)
    exit_code: Mapped[int | None]
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    output_truncated: Mapped[bool] = mapped_column(default=False)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    sent_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # Package jobs (kinds package_install / package_uninstall); NULL for other kinds.
    package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    procedure: Mapped[str | None] = mapped_column(Text)
    success_codes: Mapped[str | None] = mapped_column(String(255))
    post_action: Mapped[int | None]
    post_action_timeout_min: Mapped[int | None]
    download: Mapped[bool | None]
    progress: Mapped[int | None]
    # Package jobs downloading their payload: bytes so far and in all (the agent's word; NULL
    # from agents that report only a percentage).
    progress_bytes: Mapped[int | None] = mapped_column(BigInteger)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(10), default="")  # download | unpack | execute | ""
    skip_reason: Mapped[str] = mapped_column(String(30), default="")  # see JobStatus.SKIPPED
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployment_rules.id", ondelete="CASCADE"), index=True
    )
    # A deployment with shutdown_waked_after_completion set post action 2 (shut down) on this job
    # when it woke the offline computer: when, and which post action that replaced. Both are
    # cleared once it is decided whether the wake worked (core/jobs/wol_shutdown.py).
    wol_shutdown_set: Mapped[datetime | None] = mapped_column(index=True)
    wol_shutdown_replaced: Mapped[int | None]


class SavedCommand(Base):
    """A saved command line (or a few, run in order): a library admins pick from; opsi's
    configed keeps its SSH commands here (``SSHCommand_*``)."""

    __tablename__ = "saved_commands"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    commands: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int | None] = mapped_column(nullable=True)
    need_sudo: Mapped[bool] = mapped_column(default=False)
    tooltip: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_menu: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LibraryEntry(Base):
    """A saved script or command (rportd's library, ``core/jobs/library.py``): picked by users to
    run on computers. Names are unique per kind, as rportd refuses a second script of a name. Kept
    apart from ``saved_commands`` (opsi's SSH command menu, keyed by name with lines and menu
    positions) because an entry here is one text run by an interpreter, with a stable uuid."""

    __tablename__ = "library_entries"
    __table_args__ = (UniqueConstraint("kind", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # script | command
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text, default="")
    interpreter: Mapped[str] = mapped_column(String(255), default="")
    cwd: Mapped[str] = mapped_column(Text, default="")
    is_sudo: Mapped[bool] = mapped_column(default=False)
    timeout_sec: Mapped[int] = mapped_column(default=0)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(150), default="")
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime | None]


class Schedule(Base):
    """A command or script run on a cron schedule (``core.jobs.schedules``; rportd's schedules).

    Targets: computer ids, rule group keys and people's tags (``tags`` with ``tag_operator``
    "and"/"or"), decided again at every tick. ``next_run_at`` is the next tick; the duty that
    fires it moves it on in the same statement that claims it, so a tick fires once. A run's
    jobs are a batch whose ``schedule_id`` is this row's id; ``last_batch_id`` is the latest."""

    __tablename__ = "schedules"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    cron: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # command | script
    content: Mapped[str] = mapped_column(Text, default="")
    interpreter: Mapped[str] = mapped_column(String(255), default="")
    cwd: Mapped[str] = mapped_column(Text, default="")
    is_sudo: Mapped[bool] = mapped_column(default=False)
    timeout_sec: Mapped[int] = mapped_column(default=0)
    concurrent: Mapped[bool] = mapped_column(default=False)
    abort_on_error: Mapped[bool] = mapped_column(default=False)
    overlaps: Mapped[bool] = mapped_column(default=False)
    catch_up: Mapped[bool] = mapped_column(default=False)
    computer_ids: Mapped[list[Any]] = mapped_column(default=list)
    group_keys: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    tag_operator: Mapped[str] = mapped_column(String(3), default="or")
    created_by: Mapped[str] = mapped_column(String(150), default="")
    creator_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # users.id at creation
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]
    last_batch_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
