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


S = Status
ALL = frozenset(Status) - {S.PURGE}

# operation -> (statuses it applies to, status it leads to)
OBJECT_TRANSITIONS: dict[Op, tuple[frozenset[Status], Status]] = {
    Op.ARCHIVE: (frozenset({S.NORMAL, S.DELETED}), S.ARCHIVED),
    Op.DELETE: (frozenset({S.NORMAL, S.ARCHIVED}), S.DELETED),
    Op.RECYCLE: (frozenset({S.ARCHIVED, S.DELETED, S.TEMPLATE, S.MASS_CHANGE_TEMPLATE}), S.NORMAL),
    Op.PURGE: (ALL, S.PURGE),
    Op.TEMPLATE: (frozenset({S.NORMAL, S.MASS_CHANGE_TEMPLATE}), S.TEMPLATE),
    Op.MASS_CHANGE_TEMPLATE: (frozenset({S.NORMAL, S.TEMPLATE}), S.MASS_CHANGE_TEMPLATE),
}

# Entries of multi-value categories; a single-value category's entry can only be purged.
ENTRY_TRANSITIONS: dict[Op, tuple[frozenset[Status], Status]] = {
    Op.ARCHIVE: (frozenset({S.NORMAL, S.DELETED}), S.ARCHIVED),
    Op.DELETE: (frozenset({S.NORMAL, S.ARCHIVED}), S.DELETED),
    Op.RECYCLE: (frozenset({S.ARCHIVED, S.DELETED}), S.NORMAL),
    Op.PURGE: (ALL, S.PURGE),
}

# Statuses an object may be created with.
CREATE_STATUSES = frozenset(
    {S.NORMAL, S.ARCHIVED, S.DELETED, S.TEMPLATE, S.MASS_CHANGE_TEMPLATE, S.UNFINISHED}
)


def next_status(table: dict[Op, tuple[frozenset[Status], Status]], op: Op, current: int) -> Status | None:
    """Where ``op`` leads from ``current``, or None when it does not apply."""
    sources, target = table[op]
    return target if current in sources else None
