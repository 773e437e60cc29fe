"""Schedules: a command or a script run on computers on a cron schedule (core.jobs.schedules)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from fleetdeck.api.v1.schemas.common import Bool, IdList, Int, RequestModel, ResponseModel, Str
from fleetdeck.core.jobs.schedules import MAX_TARGETS, ScheduleInput, ScheduleItem

Name = Annotated[Str, Field(min_length=1, max_length=255)]
Key = Annotated[Str, Field(min_length=1, max_length=255)]


class ScheduleWrite(RequestModel):
    """A whole schedule (PUT replaces every field)."""

    name: Name
    cron: Annotated[Str, Field(min_length=1, max_length=255)] = Field(
        description="Five fields (minute hour day month weekday) or @yearly, @annually, @monthly, "
        "@weekly, @daily, @midnight, @hourly; in UTC."
    )
    kind: Literal["command", "script"] = "command"
    content: Annotated[Str, Field(min_length=1, max_length=65_536)] = Field(description="What to run.")
    interpreter: Literal["", "sh", "bash", "zsh", "powershell", "cmd"] = ""
    cwd: Annotated[Str, Field(max_length=4096)] = ""
    timeout_sec: Int = Field(60, description="Seconds before the agent kills the command (1 - 7 days).")
    concurrent: Bool = Field(False, description="All computers at once; else one after the other.")
    abort_on_error: Bool = Field(False, description="One after the other: stop after a failure.")
    overlaps: Bool = Field(False, description="Start a run while the previous one is still going.")
    catch_up: Bool = Field(
        False,
        description="A computer offline at the tick runs the missed run when back (until the next tick).",
    )
    computer_ids: IdList = []
    group_keys: Annotated[list[Key], Field(max_length=MAX_TARGETS)] = Field(
        [], description="Keys of rule groups; their members at each tick."
    )
    tags: Annotated[list[Key], Field(max_length=MAX_TARGETS)] = Field(
        [], description="Computers with these tags at each tick."
    )
    tag_operator: Literal["and", "or"] = "or"

    def input(self) -> ScheduleInput:
        return ScheduleInput(
            name=self.name,
            cron=self.cron,
            kind=self.kind,
            content=self.content,
            interpreter=self.interpreter,
            cwd=self.cwd,
            timeout_sec=self.timeout_sec,
            concurrent=self.concurrent,
            abort_on_error=self.abort_on_error,
            overlaps=self.overlaps,
            catch_up=self.catch_up,
            computer_ids=list(self.computer_ids),
            group_keys=list(self.group_keys),
            tags=list(self.tags),
            tag_operator=self.tag_operator,
        )


class LastRunOut(ResponseModel):
    batch_id: int = Field(description="GET /commands/{batch_id}.")
    started_at: datetime
    counts: dict[str, int] = Field(description="Number of the run's jobs per status.")


class ScheduleOut(ResponseModel):
    id: int
    uid: str = Field(description="The schedule's uuid (its id in the rport dialect).")
    name: str
    cron: str
    kind: str
    content: str
    interpreter: str
    cwd: str
    timeout_sec: int
    concurrent: bool
    abort_on_error: bool
    overlaps: bool
    catch_up: bool
    computer_ids: list[int]
    group_keys: list[str]
    tags: list[str]
    tag_operator: str
    created_by: str = Field(description="The user the schedule runs as.")
    created_at: datetime
    updated_at: datetime | None
    next_run_at: datetime
    last_run: LastRunOut | None

    @classmethod
    def of(cls, item: ScheduleItem) -> ScheduleOut:
        d, last = item.data, item.last_run
        return cls(
            id=item.key,
            uid=item.id,
            name=d.name,
            cron=d.cron,
            kind=d.kind,
            content=d.content,
            interpreter=d.interpreter,
            cwd=d.cwd,
            timeout_sec=d.timeout_sec,
            concurrent=d.concurrent,
            abort_on_error=d.abort_on_error,
            overlaps=d.overlaps,
            catch_up=d.catch_up,
            computer_ids=d.computer_ids,
            group_keys=d.group_keys,
            tags=d.tags,
            tag_operator=d.tag_operator,
            created_by=item.created_by,
            created_at=item.created_at,
            updated_at=item.updated_at,
            next_run_at=item.next_run_at,
            last_run=None
            if last is None
            else LastRunOut(batch_id=last.batch_id, started_at=last.started_at, counts=last.statuses),
        )
