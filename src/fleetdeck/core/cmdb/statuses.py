"""Record status lifecycles of objects and of category entries: which operation moves which
status where. One table each, so the rules are read in one place and tested as tables."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    UNFINISHED = 1
    NORMAL = 2
    ARCHIVED = 3
    DELETED = 4
    PURGE = 5  # pseudo status: the record is removed
    TEMPLATE = 6
    MASS_CHANGE_TEMPLATE = 7


class Op(enum.StrEnum):
    ARCHIVE = "archive"
    DELETE = "delete"
    RECYCLE = "recycle"
    PURGE = "purge"
    TEMPLATE = "template"
    MASS_CHANGE_TEMPLATE = "mass_change_template"
    RETIRE = "retire"  # one step towards deletion


S = Status
ALL = frozenset(Status) - {S.PURGE}


def _to(target: Status, *sources: Status) -> dict[Status, Status]:
    return dict.fromkeys(sources, target)


# operation -> {status it applies to: status it leads to}
OBJECT_TRANSITIONS: dict[Op, dict[Status, Status]] = {
    Op.ARCHIVE: _to(S.ARCHIVED, S.NORMAL, S.DELETED),
    Op.DELETE: _to(S.DELETED, S.NORMAL, S.ARCHIVED),
    Op.RECYCLE: _to(S.NORMAL, S.ARCHIVED, S.DELETED, S.TEMPLATE, S.MASS_CHANGE_TEMPLATE),
    Op.PURGE: _to(S.PURGE, *ALL),
    Op.TEMPLATE: _to(S.TEMPLATE, S.NORMAL, S.MASS_CHANGE_TEMPLATE),
    Op.MASS_CHANGE_TEMPLATE: _to(S.MASS_CHANGE_TEMPLATE, S.NORMAL, S.TEMPLATE),
}

# Entries of multi-value categories; a single-value category's entry can only be purged.
# RETIRE is one step towards deletion (normal -> archived -> deleted), the older API's delete.
ENTRY_TRANSITIONS: dict[Op, dict[Status, Status]] = {
    Op.ARCHIVE: _to(S.ARCHIVED, S.NORMAL, S.DELETED),
    Op.DELETE: _to(S.DELETED, S.NORMAL, S.ARCHIVED),
    Op.RETIRE: {S.NORMAL: S.ARCHIVED, S.ARCHIVED: S.DELETED},
    Op.RECYCLE: _to(S.NORMAL, S.ARCHIVED, S.DELETED),
    Op.PURGE: _to(S.PURGE, *ALL),
}

# Statuses an object may be created with.
CREATE_STATUSES = frozenset(
    {S.NORMAL, S.ARCHIVED, S.DELETED, S.TEMPLATE, S.MASS_CHANGE_TEMPLATE, S.UNFINISHED}
)


def next_status(table: dict[Op, dict[Status, Status]], op: Op, current: int) -> Status | None:
    """Where ``op`` leads from ``current``, or None when it does not apply."""
    return table[op].get(Status(current)) if current in Status._value2member_map_ else None
