"""Deployment input checks; reasons are core's ``Reason``s, which each transport maps to its own texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.jobs.conditions import parse_ip_ranges, parse_time_frames


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    start: datetime
    end: datetime | None
    restart_timeout_min: int
    sequence_mode: int
    priority: int
    agent_ip_ranges: list[str]
    time_frames: list[str]


def check_priority(priority: int) -> None:
    if not -100 <= priority <= 100:
        raise ValidationFailed(
            "priority must be between -100 and 100", field="priority", reason=Reason.INVALID
        )


def check_sequence_mode(mode: int) -> None:
    if mode not in (0, 1):
        raise ValidationFailed("sequence_mode must be 0 or 1", field="sequence_mode", reason=Reason.INVALID)


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("the name cannot be empty", field="name", reason=Reason.NAME_EMPTY)
    if len(name) > 255:
        raise ValidationFailed("the name is longer than 255 characters", field="name", reason=Reason.INVALID)
    return name


def schedule(
    name: str,
    start: datetime | None,
    end: datetime | None,
    restart_timeout_min: int | None,
    sequence_mode: int,
    priority: int,
    agent_ip_ranges: Sequence[str],
    time_frames: Sequence[str],
    now: datetime,
) -> Schedule:
    name = check_name(name)
    if not restart_timeout_min or restart_timeout_min < 0:
        raise ValidationFailed(
            "restart timeout and start are required",
            field="restart_timeout_min",
            reason=Reason.REQUIRED_MISSING,
        )
    start = start or now
    if start.tzinfo is None or (end is not None and end.tzinfo is None):
        raise ValidationFailed("times need a time zone", field="start", reason=Reason.INVALID)
    if end is not None and end <= start:
        raise ValidationFailed(
            "the end time cannot be before the start time", field="end", reason=Reason.END_BEFORE_START
        )
    check_sequence_mode(sequence_mode)
    check_priority(priority)
    ranges = parse_ip_ranges(agent_ip_ranges)
    frames = parse_time_frames(time_frames)
    return Schedule(name, start, end, restart_timeout_min, sequence_mode, priority, ranges, frames)


def no_jobs() -> ValidationFailed:
    return ValidationFailed(
        "the request produced no jobs: select at least one computer and one package", reason=Reason.NO_JOBS
    )


def all_pending() -> ValidationFailed:
    """Every job the request asked for repeats one still pending (same computer, package and
    kind), with a message that says why."""
    return ValidationFailed(
        "the request produced no jobs: every one of them is pending already", reason=Reason.ALL_PENDING
    )
