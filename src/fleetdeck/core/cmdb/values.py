"""What the CMDB service returns: frozen values, resolved (dialog titles, linked objects'
titles and types), so a transport only has to shape them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DialogRef:
    """A dialog value. ``id`` None: a value the inventory reported that has no dialog item."""

    id: int | None
    title: str
    const: str = ""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A link to an object. ``id`` None: a thing the inventory names that is no object yet
    (an installed application, an operating system)."""

    id: int | None
    title: str
    sysid: str = ""
    type_const: str = ""
    type_title: str = ""


@dataclass(frozen=True, slots=True)
class CmdbObjectInfo:
    id: int
    title: str
    sysid: str
    type_id: int
    type_const: str
    type_title: str
    type_group: str
    type_icon: str
    type_image: str
    status: int
    cmdb_status: int
    cmdb_status_title: str
    description: str
    created_at: datetime
    updated_at: datetime | None
    created_by: str
    updated_by: str
    computer_id: int | None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a category of an object. ``values`` maps attribute keys to str/int/float/
    None, ``DialogRef``, ``ObjectRef`` or a list of ``DialogRef``. ``inventory``: filled from the
    agent's inventory (read-only)."""

    id: int
    object_id: int
    category: str
    status: int
    values: dict[str, Any]
    inventory: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    object_id: int
    type_title: str
    category_title: str
    attribute_title: str
    value: str
    status: int
    category_const: str = ""


@dataclass(frozen=True, slots=True)
class LogbookEntry:
    """One line of an object's logbook: a change the audit log recorded (``action``, with
    ``changes`` attribute -> (old, new)) or a message someone wrote (``message`` set).
    ``object_title`` is the object's current title ("" once it is purged)."""

    id: int
    at: datetime
    username: str
    action: str
    object_id: int
    object_title: str
    category: str
    changes: dict[str, tuple[Any, Any]]
    message: str | None = None
    description: str = ""
    comment: str = ""
    source: int | None = None
    level: int = 1


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation between two objects (an entry of ``C__CATG__RELATION``): ``master``
    ``master_phrase`` ``slave`` ("db01 is running PostgreSQL"); ``type_id`` and titles come from
    the relation type dialog."""

    id: int
    status: int
    master: CmdbObjectInfo
    slave: CmdbObjectInfo
    type_id: int | None
    type_const: str
    type_title: str
    master_phrase: str
    slave_phrase: str
