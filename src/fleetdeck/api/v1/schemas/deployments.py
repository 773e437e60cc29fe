"""Deployments (job containers), their jobs, uninstall requests and deployment rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from fleetdeck.api.v1.schemas.common import Bool, Id, IdList, Int, RequestModel, ResponseModel, Str, Str255
from fleetdeck.api.v1.schemas.users import UTCDateTime
from fleetdeck.core.deployments.entities import ContainerStatus
from fleetdeck.core.jobs.entities import JobStatus

Name = Annotated[Str255, Field(min_length=1)]
Notes = Annotated[Str, Field(max_length=65_536)]
Priority = Annotated[Int, Field(ge=-100, le=100)]
Mode = Annotated[Int, Field(ge=0, le=1, description="0 ignore failed jobs, 1 abort after a failed job")]
Conditions = Annotated[list[Annotated[Str, Field(max_length=100)]], Field(max_length=100)]


class _Schedule(RequestModel):
    name: Name
    description: Notes = ""
    start: UTCDateTime | None = Field(None, description="Absent: now.")
    end: UTCDateTime | None = Field(None, description="Jobs not started by then expire.")
    use_wol: Bool = False
    shutdown_waked_after_completion: Bool = False
    restart_timeout_min: Annotated[Int, Field(ge=1, le=10_080)] = 5
    sequence_mode: Mode = 0
    priority: Priority = 0
    agent_ip_ranges: Conditions = Field([], examples=[["10.0.0.0/8", "!10.9.0.0/16"]])


class DeploymentCreate(_Schedule):
    computer_ids: IdList = []
    computer_group_ids: IdList = []
    package_ids: IdList = []
    package_group_ids: IdList = []
    force_same_version: Bool = False
    time_frames: Conditions = Field([], examples=[["MON 08:00-12:00", "!12:00-13:00"]])


class UninstallCreate(_Schedule):
    installation_ids: Annotated[IdList, Field(min_length=1)]


class ContainerCreatedOut(ResponseModel):
    id: int
    job_ids: list[int]


class ContainerOut(ResponseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    created_by: str
    start_at: datetime | None
    end_at: datetime | None
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
    counts: dict[str, int]


class DeploymentJobOut(ResponseModel):
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
    progress: int | None = Field(description="Download progress in percent (phase download).")
    progress_bytes: int | None = Field(
        default=None,
        description="Payload bytes the agent has received (phase download); null from older agents.",
    )
    progress_total: int | None = Field(
        default=None, description="The payload's size in bytes, as the agent sees it."
    )
    sequence: int
    procedure: str
    success_codes: str
    upgrade_behavior: int
    download: bool
    post_action: int
    post_action_timeout_min: int
    wol_shutdown_set: datetime | None = Field(
        default=None,
        description="When the deployment's wake set post action 2 (shut down) on this job, while"
        " it is still open whether the computer woke (kept) or is switched on by hand (reverted).",
    )
    exit_code: int | None
    message: str
    stdout: str
    stderr: str
    created_at: datetime
    sent_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class ContainerDetailOut(ContainerOut):
    jobs: list[DeploymentJobOut]


class RuleCreate(RequestModel):
    name: Name
    notes: Notes = ""
    computer_group_id: Id
    package_group_id: Id
    enabled: Bool = True
    priority: Priority = 0
    sequence_mode: Mode = 0
    post_action_timeout_min: Annotated[Int, Field(ge=1, le=10_080)] = 5


class RuleUpdate(RequestModel):
    name: Name | None = None
    notes: Notes | None = None
    computer_group_id: Id | None = None
    package_group_id: Id | None = None
    enabled: Bool | None = None
    priority: Priority | None = None
    sequence_mode: Mode | None = None
    post_action_timeout_min: Annotated[Int, Field(ge=1, le=10_080)] | None = None


class RuleOut(ResponseModel):
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
    counts: dict[str, int]
