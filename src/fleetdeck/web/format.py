"""Jinja filters: sizes, times and percentages the way an admin reads them."""

from __future__ import annotations

from datetime import UTC, datetime


def size(value: int | float | None) -> str:
    """Bytes in binary units, one decimal: 8.0 GiB."""
    if value is None:
        return ""
    n = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop always returns


def phase(name: str, done: int | None, total: int | None) -> str:
    """A job's phase as the deployment page shows it: "download 1.2 GiB of 2.0 GiB" while the
    agent reports bytes, else the phase's name."""
    if name != "download" or done is None:
        return name
    return f"download {size(done)} of {size(total)}" if total else f"download {size(done)}"


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "12 s ago", "3 min ago", "5 h ago", "2 d ago"; "never" for no time."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = max(0.0, ((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} d ago"


def percent(part: int | float, whole: int | float) -> int:
    """0..100, 0 for an empty whole."""
    if not whole:
        return 0
    return max(0, min(100, round(100 * part / whole)))


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
