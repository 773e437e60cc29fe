"""Remote commands (batches of jobs) and jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from fleetdeck.api.v1.schemas.common import MAX_EXPIRY_SEC, IdList, Int, RequestModel, ResponseModel, Str
from fleetdeck.core.jobs.entities import BatchInfo, JobInfo, JobStatus

EnvName = Annotated[Str, Field(min_length=1, max_length=1024)]
EnvValue = Annotated[Str, Field(max_length=32_768)]


class CommandCreate(RequestModel):
    computer_ids: IdList = []
    group_ids: IdList = []
    command: Annotated[Str, Field(min_length=1, max_length=65_536)]
    interpreter: Literal["sh", "bash", "zsh", "powershell", "cmd"] | None = Field(
        None, description="Absent: the platform's default shell."
    )
    cwd: Annotated[Str, Field(max_length=4096)] | None = None
    timeout_sec: Int = Field(300, description="Seconds before the agent kills the command (1 - 7 days).")
    env: Annotated[dict[EnvName, EnvValue], Field(max_length=1000)] | None = None
    expires_in_sec: Annotated[Int, Field(ge=1, le=MAX_EXPIRY_SEC)] | None = Field(
        None, description="Jobs not delivered within this many seconds expire. Absent: never."
    )


class ActionCreate(RequestModel):
    computer_ids: IdList = []
    group_ids: IdList = []
    action: Literal["reboot", "shutdown", "message"]
    delay_min: Annotated[Int, Field(ge=0, le=1440)] = Field(
        0, description="reboot/shutdown: minutes to wait."
    )
    message: Annotated[Str, Field(max_length=4096)] = Field(
        "", description="message: the text shown to the logged-in users."
    )
    expires_in_sec: Annotated[Int, Field(ge=1, le=MAX_EXPIRY_SEC)] | None = Field(
        300,
        description="Jobs not delivered within this many seconds expire (5 min: no surprise reboots).",
    )


class CommandCreated(ResponseModel):
    id: int = Field(description="The batch id: GET /commands/{id}.")
    job_ids: list[int]


class BatchOut(ResponseModel):
    id: int
    kind: str
    name: str
    command: dict[str, Any]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    counts: dict[str, int] = Field(description="Number of jobs per status.")
    job_ids: list[int]

    @classmethod
    def of(cls, b: BatchInfo) -> BatchOut:
        return cls(
            id=b.id,
            kind=b.kind,
            name=b.name,
            command=b.spec,
            created_at=b.created_at,
            created_by=b.created_by,
            expires_at=b.expires_at,
            counts=b.counts,
            job_ids=b.job_ids,
        )


class JobOut(ResponseModel):
    id: int
    batch_id: int
    computer_id: int
    kind: str
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
    command: dict[str, Any] = Field(
        description="What the job runs: command, interpreter, cwd, env, timeout_sec."
    )

    @classmethod
    def of(cls, j: JobInfo) -> JobOut:
        return cls(
            id=j.id,
            batch_id=j.batch_id,
            computer_id=j.computer_id,
            kind=j.kind,
            status=j.status,
            exit_code=j.exit_code,
            stdout=j.stdout,
            stderr=j.stderr,
            message=j.message,
            output_truncated=j.output_truncated,
            cancel_requested=j.cancel_requested,
            created_at=j.created_at,
            created_by=j.created_by,
            sent_at=j.sent_at,
            started_at=j.started_at,
            finished_at=j.finished_at,
            expires_at=j.expires_at,
            command=j.spec,
        )
