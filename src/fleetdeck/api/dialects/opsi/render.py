"""fleetdeck values in opsi's shapes: timestamps, ident strings, attribute projection.

Each object family's rows are built in ``objects/`` (one adapter per family); what every family
renders the same way lives here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fleetdeck.api.dialects.opsi.errors import OpsiValueError

Row = dict[str, Any]

EMPTY_TIME = "0000-00-00 00:00:00"  # opsi's "never"
TIME_RE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:\s?(\d{2}):?(\d{2}):?(\d{2}))?")


def opsi_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def parse_time(value: Any) -> datetime | None:
    """opsi's timestamps (``2024-05-01 10:00:00``, also without separators) as UTC; its
    "never" (and empty) as None; anything else is opsi's ValueError."""
    if value in (None, "", EMPTY_TIME):
        return None
    m = TIME_RE.match(str(value).strip())
    if not m:
        raise OpsiValueError(f"Bad timestamp: '{value}'")
    y, mo, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    if y == 0:
        return None
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError:
        raise OpsiValueError(f"Bad timestamp: '{value}'") from None


def ident_string(row: Mapping[str, Any], ident: Sequence[str]) -> str:
    """opsi's ident of an object: its ident attributes joined with ``;``."""
    return ";".join(["" if (v := row.get(a)) is None else str(v) for a in ident])


def project(row: Row, attributes: Any, ident: Sequence[str]) -> Row:
    """``attributes`` of ``getObjects``/``getHashes``: the others are null, ident and type stay."""
    if not attributes:
        return dict(row)
    names = attributes if isinstance(attributes, list | tuple) else [attributes]
    wanted = {a for a in names if isinstance(a, str)} | set(ident) | {"type"}
    return {k: (v if k in wanted else None) for k, v in row.items()}
