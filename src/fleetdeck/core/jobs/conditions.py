"""Delivery conditions of a job batch: agent IP ranges and time frames.

Both are lists of strings; an entry starting with ``!`` excludes. A job is delivered when no
exclusion matches and, if there are positive entries, at least one of them matches.

* IP range: ``a.b.c.d/n``, ``x::/n`` or a bare address (= one host), matched against the
  address the agent connects from.
* Time frame: ``H:MM-H:MM``, optionally after a weekday ``MON``..``SUN`` (any case), e.g.
  ``MON 08:00-12:00``. Matching is strict (start < now < end) and a frame never wraps past
  midnight, as in OCO. Times are the server's local time.

Syntax errors raise :class:`InvalidIpRange` / :class:`InvalidTimeFrame` when the batch is
created, so matching never sees a malformed entry.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from fleetdeck.core.errors import FleetdeckError, Reason

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_FRAME = re.compile(r"^(?:([A-Za-z]{3})\s+)?(\d{1,2}):(\d{2})$")


class InvalidIpRange(FleetdeckError):
    """Not an IP address or network (OCO answers these with its generic error code)."""

    code = "invalid_ip_range"

    def __init__(self, value: str) -> None:
        super().__init__(
            f"invalid IP address or range: {value!r}", reason=Reason.INVALID_IP_RANGE, value=value
        )


class InvalidTimeFrame(FleetdeckError):
    code = "invalid_time_frame"

    def __init__(self, value: str) -> None:
        super().__init__(f"invalid time frame: {value!r}", reason=Reason.INVALID_TIME_FRAME, value=value)


def _split(entry: str) -> tuple[bool, str]:
    entry = entry.strip()
    return (True, entry[1:].strip()) if entry.startswith("!") else (False, entry)


def parse_ip_ranges(entries: Sequence[str]) -> list[str]:
    """Validate and normalise (``10.0.0.7`` -> ``10.0.0.7/32``); blank entries are dropped."""
    out = []
    for raw in entries:
        if not raw.strip():
            continue
        negated, body = _split(raw)
        try:
            net = ipaddress.ip_network(body, strict=False)
        except ValueError:
            raise InvalidIpRange(raw) from None
        out.append(("!" if negated else "") + str(net))
    return out


@dataclass(frozen=True, slots=True)
class TimeFrame:
    negated: bool
    weekday: int | None  # 0 = Monday
    start: time
    end: time

    def matches(self, now: datetime) -> bool:
        if self.weekday is not None and now.weekday() != self.weekday:
            return False
        t = now.time().replace(tzinfo=None)
        return self.start < t < self.end


def _time(raw: str, text: str) -> tuple[int | None, time]:
    m = _FRAME.match(text.strip())
    if m is None:
        raise InvalidTimeFrame(raw)
    day, hour, minute = m.group(1), int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise InvalidTimeFrame(raw)
    weekday = None
    if day is not None:
        if day.upper() not in WEEKDAYS:
            raise InvalidTimeFrame(raw)
        weekday = WEEKDAYS.index(day.upper())
    return weekday, time(hour, minute)


def parse_time_frame(raw: str) -> TimeFrame:
    negated, body = _split(raw)
    if body.count("-") != 1:
        raise InvalidTimeFrame(raw)
    left, right = body.split("-")
    weekday, start = _time(raw, left)
    if not right.strip() or not right.strip()[0].isdigit():
        raise InvalidTimeFrame(raw)
    _, end = _time(raw, right)
    return TimeFrame(negated, weekday, start, end)


def parse_time_frames(entries: Sequence[str]) -> list[str]:
    """Validate; returns the entries stripped (blank ones dropped)."""
    out = []
    for raw in entries:
        if raw.strip():
            parse_time_frame(raw)
            out.append(raw.strip())
    return out


def _decide(hits: Sequence[tuple[bool, bool]]) -> bool:
    """(negated, matched) pairs -> allowed?"""
    if any(neg and hit for neg, hit in hits):
        return False
    positives = [hit for neg, hit in hits if not neg]
    return not positives or any(positives)


def ip_allowed(ranges: Sequence[str], address: str) -> bool:
    if not ranges:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0]) if address else None
    except ValueError:
        ip = None
    hits = []
    for entry in ranges:
        negated, body = _split(entry)
        net = ipaddress.ip_network(body, strict=False)
        hits.append((negated, ip is not None and ip.version == net.version and ip in net))
    return _decide(hits)


def time_allowed(frames: Sequence[str], now_local: datetime) -> bool:
    if not frames:
        return True
    hits = []
    for entry in frames:
        frame = parse_time_frame(entry)
        hits.append((frame.negated, frame.matches(now_local)))
    return _decide(hits)
