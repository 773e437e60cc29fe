from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for the agent to be reachable
    SENT = "sent"  # handed to the agent's connection; redelivered if the agent did not get it
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # created but never to run (package jobs; the reason is in ``skip_reason``)


class SkipReason(enum.StrEnum):
    OS_INCOMPATIBLE = "os_incompatible"
    PACKAGE_CONFLICT = "package_conflict"  # kept for the numeric mapping; core never produces it yet
    ALREADY_INSTALLED = "already_installed"


FINAL = frozenset(
    {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.TIMEOUT,
        JobStatus.CANCELLED,
        JobStatus.EXPIRED,
        JobStatus.SKIPPED,
    }
)
PENDING = frozenset({JobStatus.QUEUED, JobStatus.SENT, JobStatus.RUNNING})


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    batch_id: int
    computer_id: int
    kind: str
    spec: dict[str, Any]
    status: JobStatus
    exit_code: int | None
    stdout: str
    stderr: str
    message: str
    output_truncated: bool
    cancel_requested: bool
    created_at: datetime
    created_by: str
    sent_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class BatchCreated:
    batch_id: int
    job_ids: list[int]


@dataclass(frozen=True, slots=True)
class BatchInfo:
    id: int
    kind: str
    name: str
    spec: dict[str, Any]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    counts: dict[str, int]
    job_ids: list[int]


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """What to run; validated by the service."""

    command: str
    interpreter: str | None = None
    cwd: str | None = None
    timeout_sec: int = 300
    env: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """Something the agent does to its computer rather than a command it runs: ``reboot`` or
    ``shutdown`` (after ``delay_min`` minutes), or ``message`` (shown to the logged-in users)."""

    action: str
    delay_min: int = 0
    message: str = ""


ACTION_KIND = "action"  # job kind; the spec says which action (see agent/actions.py)
ACTIONS = ("reboot", "shutdown", "message")
PACKAGE_KINDS = ("package_install", "package_uninstall")
ABORTED_CODE = -8888  # exit code of jobs aborted because an earlier job of the container failed
AGENT_ERROR_CODE = -9999  # exit code when the agent itself failed (download, unpack, ...)
ABORTED_MESSAGE = "aborted after failed job"


def numeric_state(status: JobStatus, phase: str = "", skip_reason: str = "") -> int:
    """The numeric job state of the deployment protocol some dialects speak (OCO's):

    =====  ===========================================  ==================================
    state  meaning                                      fleetdeck
    =====  ===========================================  ==================================
      0    waiting for the agent                        queued, sent
      1    download started (progress 0..100, >100      running, phase download / unpack
           = unpacking)
      2    execution started                            running, phase execute (or none)
      3    succeeded                                    succeeded
     -1    failed (return code -8888 = aborted after    failed, timeout, cancelled
           a failed job, -9999 = agent-side error)
     -2    expired                                      expired
     -3    OS incompatible                              skipped, skip_reason os_incompatible
     -4    package conflict                             skipped, skip_reason package_conflict
     -5    already installed                            skipped, skip_reason already_installed
    =====  ===========================================  ==================================
    """
    if status in (JobStatus.QUEUED, JobStatus.SENT):
        return 0
    if status is JobStatus.RUNNING:
        return 1 if phase in ("download", "unpack") else 2
    if status is JobStatus.SUCCEEDED:
        return 3
    if status is JobStatus.EXPIRED:
        return -2
    if status is JobStatus.SKIPPED:
        return {"os_incompatible": -3, "package_conflict": -4, "already_installed": -5}.get(skip_reason, -3)
    return -1
