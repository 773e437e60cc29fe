"""Saved read-only SQL reports, report groups and their sandboxed execution."""

from fleetdeck.core.reports.entities import ReportGroupInfo, ReportInfo, ReportListing
from fleetdeck.core.reports.policy import (
    ONLY_SELECT,
    SECRET_COLUMNS,
    SECRET_TABLES,
    ReportFailed,
    ReportResult,
    is_secret_column,
)
from fleetdeck.core.reports.service import ReportService

__all__ = [
    "ONLY_SELECT",
    "SECRET_COLUMNS",
    "SECRET_TABLES",
    "ReportFailed",
    "ReportGroupInfo",
    "ReportInfo",
    "ReportListing",
    "ReportResult",
    "ReportService",
    "is_secret_column",
]
