"""OCO's vocabulary lives in the OCO dialect: its numeric job states, derived from core's status,
phase and skip reason, and its message key for every reason core reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fleetdeck.api.dialects.oco.errors import REASON_KEYS, TEXTS, error_object
from fleetdeck.api.dialects.oco.render import DATE_FORMAT, ts
from fleetdeck.api.dialects.oco.render_jobs import job_state
from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.jobs.entities import JobStatus


@pytest.mark.parametrize(
    ("status", "phase", "reason", "state"),
    [
        (JobStatus.QUEUED, "", "", 0),
        (JobStatus.SENT, "", "", 0),
        (JobStatus.RUNNING, "download", "", 1),
        (JobStatus.RUNNING, "unpack", "", 1),
        (JobStatus.RUNNING, "execute", "", 2),
        (JobStatus.SUCCEEDED, "", "", 3),
        (JobStatus.FAILED, "", "", -1),
        (JobStatus.TIMEOUT, "", "", -1),
        (JobStatus.EXPIRED, "", "", -2),
        (JobStatus.SKIPPED, "", "os_incompatible", -3),
        (JobStatus.SKIPPED, "", "package_conflict", -4),
        (JobStatus.SKIPPED, "", "already_installed", -5),
    ],
)
def test_oco_numeric_job_states(status: JobStatus, phase: str, reason: str, state: int) -> None:
    assert job_state(status, phase, reason) == state


def test_every_core_reason_has_an_oco_text() -> None:
    assert set(REASON_KEYS) == set(Reason)
    assert all(key in TEXTS for key in REASON_KEYS.values())


@pytest.mark.parametrize(
    ("reason", "code", "message"),
    [
        (Reason.NAME_EMPTY, -32001, "The name cannot be empty"),
        (Reason.INVALID, -32001, "Invalid Value. Please check your input."),
        (
            Reason.NO_MAC_ADDRESS,
            -32000,
            "No WOL packet could be sent because no MAC address of this computer is known.",
        ),
        (Reason.NOT_A_SELECT, -32001, "Only SELECT queries are allowed in reports"),
    ],
)
def test_core_reasons_render_as_oco_texts(reason: Reason, code: int, message: str) -> None:
    assert error_object(ValidationFailed("core's own words", reason=reason), "en") == {
        "code": code,
        "message": message,
        "data": None,
    }


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 2, 15, 4, 5, tzinfo=UTC),
        datetime(2026, 12, 2, 15, 4, 5, 999_999, tzinfo=UTC),  # microseconds are cut, not rounded
        datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),  # another zone: as UTC
        datetime(2026, 7, 9, 8, 7, 6),  # naive: taken as it is
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    ],
)
def test_oco_dates_are_strftime_of_utc(value: datetime) -> None:
    """``ts`` takes a faster path than ``strftime``; the text must stay OCO's."""
    expected = (value.astimezone(UTC) if value.tzinfo else value).strftime(DATE_FORMAT)
    assert ts(value) == expected
