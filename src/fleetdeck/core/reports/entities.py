from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ReportInfo:
    id: int
    name: str
    notes: str
    query: str
    group_id: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReportGroupInfo:
    id: int
    name: str
    parent_id: int | None
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReportListing:
    """OCO ``report.list``: without a group all reports and the root groups; with a group that
    group's reports and subgroups."""

    groups: list[ReportGroupInfo]
    reports: list[ReportInfo]
