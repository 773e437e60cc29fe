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
    PACKAGE_CONFLICT = "package_conflict"  # core never produces it yet
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
    sequence_mode: int = 0  # JobBatch.sequence_mode (RunOrder.mode for commands)
    schedule_id: int | None = None  # the schedule whose tick made it (core.jobs.schedules)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """What to run; validated by the service."""

    command: str
    interpreter: str | None = None
    cwd: str | None = None
    timeout_sec: int = 300
    env: dict[str, str] | None = None
    # What the caller asked for in its own words (a script, who targeted what), kept with the
    # jobs so it can be shown back; never sent to the agent (claim builds a CommandSpec).
    origin: dict[str, Any] | None = None
    # A script rather than a command: the text is run by ``interpreter`` the same way, but
    # the caller needs the scripts permission (user groups grant it apart from commands).
    is_script: bool = False
    # the agent runs it through ``sudo -n`` (rportd's ``is_sudo``); a refusal fails the job
    sudo: bool = False


@dataclass(frozen=True, slots=True)
class RunOrder:
    """How a multi-computer command runs: all at once (the default), or one computer after
    the other in the order given, waiting for each result; with ``abort_on_error`` a failed
    (or timed-out) job ends the run and the computers not reached yet fail as aborted."""

    sequential: bool = False
    abort_on_error: bool = False

    @property
    def mode(self) -> int:
        """``JobBatch.sequence_mode``: bit 1 abort after a failure, bit 2 one at a time."""
        return (SEQUENTIAL if self.sequential else 0) | (ABORT_ON_ERROR if self.abort_on_error else 0)


@dataclass(frozen=True, slots=True)
class TagTarget:
    """Computers chosen by their tags (``core.computers.attributes``): those having every one
    of ``tags`` (``match_all``) or any of them; a tag matches only the very same text (case
    counts, no wildcards), as rportd's tag targeting. Decided in SQL when the jobs are made."""

    tags: tuple[str, ...]
    match_all: bool = False


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """Something the agent does to its computer rather than a command it runs: ``reboot`` or
    ``shutdown`` (after ``delay_min`` minutes), or ``message`` (shown to the logged-in users)."""

    action: str
    delay_min: int = 0
    message: str = ""


ABORT_ON_ERROR = 1  # JobBatch.sequence_mode bits (deployments use 0/1 with the same meaning)
SEQUENTIAL = 2
ACTION_KIND = "action"  # job kind; the spec says which action (see agent/actions.py)
FILE_PUT_KIND = "file_put"  # a file the agent fetches and writes (core/jobs/files.py, agent/files.py)
ACTIONS = ("reboot", "shutdown", "message")
PACKAGE_KINDS = ("package_install", "package_uninstall")
ABORTED_CODE = -8888  # exit code of jobs aborted because an earlier job of the container failed
AGENT_ERROR_CODE = -9999  # exit code when the agent itself failed (download, unpack, ...)
ABORTED_MESSAGE = "aborted after failed job"
