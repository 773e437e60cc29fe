"""Saved reports (read-only SQL), report groups, and report results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from fleetdeck.api.v1.schemas.common import Id, RequestModel, ResponseModel, Str

Name = Annotated[Str, Field(min_length=1, max_length=255)]
Notes = Annotated[Str, Field(max_length=65_536)]
Sql = Annotated[Str, Field(min_length=1, max_length=100_000)]


class ReportOut(ResponseModel):
    id: int
    name: str
    notes: str
    query: str
    group_id: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime


class ReportCreate(RequestModel):
    name: Name
    query: Sql = Field(description="A single SELECT (or WITH ... SELECT) statement.")
    notes: Notes = ""
    group_id: Id | None = None


class ReportUpdate(RequestModel):
    """Absent fields are left unchanged; ``"group_id": null`` moves the report to the root."""

    name: Name | None = None
    query: Sql | None = None
    notes: Notes | None = None
    group_id: Id | None = None


class SqlRun(RequestModel):
    query: Sql


class ReportResultOut(ResponseModel):
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool = Field(description="More rows existed than the setting reports.max_rows allows.")
    elapsed_ms: int


class ReportGroupOut(ResponseModel):
    id: int
    name: str
    parent_id: int | None
    description: str
    created_at: datetime


class ReportGroupCreate(RequestModel):
    name: Name
    parent_id: Id | None = None
    description: Notes = ""


class ReportGroupUpdate(RequestModel):
    """Absent fields are left unchanged; ``"parent_id": null`` moves the group to the root."""

    name: Name | None = None
    description: Notes | None = None
    parent_id: Id | None = None
