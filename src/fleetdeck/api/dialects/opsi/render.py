"""fleetdeck values in opsi's shapes: timestamps, ident strings, attribute projection.

Each object family's rows are built in ``objects/`` (one adapter per family); what every family
renders the same way lives here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

Row = dict[str, Any]

EMPTY_TIME = "0000-00-00 00:00:00"  # opsi's "never"


def opsi_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


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
