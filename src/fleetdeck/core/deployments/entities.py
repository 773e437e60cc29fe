"""Values the deployment service returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from fleetdeck.core.jobs.entities import JobStatus


class ContainerStatus(enum.StrEnum):
    """Aggregate of a deployment's jobs: any pending -> in progress (waiting for start while
    ``start_at`` is ahead); else any failed, expired or skipped as incompatible / conflicting
    -> failed; else succeeded (skipped as already installed counts as success)."""

    WAITING_FOR_START = "waiting_for_start"
    IN_PROGRESS = "in_progress"
    FAILED = "failed"
    SUCCEEDED = "succeeded"


class PackageAction(enum.StrEnum):
    """What a client-centred request asks for one package family on one computer (opsi's
    actionRequest, in core's words)."""

    INSTALL = "install"  # the family's newest package, unless an install is pending already
    UNINSTALL = "uninstall"  # every installed package of the family, unless pending already
    WITHDRAW = "withdraw"  # remove the family's jobs that have not started (queued or sent)
    FORGET = "forget"  # withdraw, and forget the family's installation records (nothing runs)


@dataclass(frozen=True, slots=True)
class ActionsApplied:
    """What ``DeploymentService.apply_package_actions`` did."""

    container_ids: tuple[int, ...] = ()
    job_ids: tuple[int, ...] = ()
    withdrawn: tuple[int, ...] = ()  # job ids removed
    forgotten: tuple[int, ...] = ()  # installation ids removed
    unchanged: tuple[str, ...] = ()  # family keys whose request was pending already


@dataclass(frozen=True, slots=True)
class ContainerCreated:
    id: int
    job_ids: list[int]


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: int
    kind: str
    name: str
    description: str
    created_at: datetime
    created_by: str
    start_at: datetime | None
    end_at: datetime | None
    enabled: bool
    priority: int
    sequence_mode: int
    use_wol: bool
    wol_sent: int
    shutdown_waked_after_completion: bool
    restart_timeout_min: int
    force_same_version: bool
    agent_ip_ranges: list[str]
    time_frames: list[str]
    status: ContainerStatus
    execution_finished: datetime | None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeploymentJob:
    """A package job with what lists show beside it (hostname, family, version)."""

    id: int
    container_id: int
    rule_id: int | None
    computer_id: int
    hostname: str
    package_id: int | None
    family_id: int | None
    family_name: str
    version: str
    kind: str
    is_uninstall: bool
    status: JobStatus
    skip_reason: str
    phase: str
    progress: int | None
    sequence: int
    procedure: str
    success_codes: str
    upgrade_behavior: int
    download: bool
    post_action: int
    post_action_timeout_min: int
    exit_code: int | None
    message: str
    stdout: str
    stderr: str
    created_at: datetime
    sent_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    container_start: datetime | None
    container_priority: int
    # Set while a wake's shutdown waits to be kept or reverted (core/jobs/wol_shutdown.py).
    wol_shutdown_set: datetime | None = None
    # Downloading the payload: bytes so far and in all (None from agents that send only percent).
    progress_bytes: int | None = None
    progress_total: int | None = None


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: int
    name: str
    notes: str
    computer_group_id: int
    computer_group_name: str
    package_group_id: int
    package_group_name: str
    enabled: bool
    priority: int
    sequence_mode: int
    post_action_timeout_min: int
    container_id: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
