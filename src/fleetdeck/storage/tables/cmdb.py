"""The CMDB: objects (one id sequence for every object, computers included), the stored entries
of their categories, and the additions to the dialog tables.

A computer's object row holds only what the CMDB adds to the computer (its object id, type,
record and CMDB status, sysid): title and inventory are read from the computer's own rows, so
nothing is copied and nothing goes stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class CmdbObject(Base):
    """One CMDB object. ``computer_id`` set: the object is that computer (its title is the
    computer's host name, its inventory categories are the agent's inventory)."""

    __tablename__ = "cmdb_objects"
    __table_args__ = (
        Index("ix_cmdb_objects_status_type", "status", "type_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # None: chosen from the computer's facts (workstation or server) until an admin sets it.
    type_id: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(255), default="", index=True)
    sysid: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[int] = mapped_column(default=2)  # record status: 1 unfinished ... 7 mass-change template
    cmdb_status: Mapped[int] = mapped_column(default=6)  # 6 = in operation
    description: Mapped[str] = mapped_column(Text, default="")
    # The other editable attributes of the object's general category (purpose, category, tags).
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computer_id: Mapped[int | None] = mapped_column(
        ForeignKey("computers.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    # Set: the object is that fleetdeck user (a person; its person categories are the user's).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    # Set: the object is that computer group (an object group listing its members' objects).
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    # Set: the object is that package family (an application; its versions are the packages).
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("package_families.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime | None]
    updated_by: Mapped[str] = mapped_column(String(150), default="")


class CmdbEntry(Base):
    """A stored entry of a category of an object (categories not fed by the inventory).
    ``data`` holds the attribute values in core's normal form (text, numbers, dialog item ids,
    object ids, lists of ids)."""

    __tablename__ = "cmdb_entries"
    __table_args__ = (
        Index("ix_cmdb_entries_object_category", "object_id", "category"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("cmdb_objects.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(100))
    status: Mapped[int] = mapped_column(default=2)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]


class CmdbDialogItem(Base):
    """A value of a dialog table that differs from the built-in default set: an added value of
    an editable (dialog+) table, a changed default (same ``item_id``) or a removed one
    (``deleted``). Ids count per table, as the defaults do."""

    __tablename__ = "cmdb_dialog_items"
    __table_args__ = (UniqueConstraint("table_name", "item_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[int]
    title: Mapped[str] = mapped_column(String(255), default="")
    const: Mapped[str] = mapped_column(String(255), default="")
    parent_item_id: Mapped[int | None]
    deleted: Mapped[bool] = mapped_column(default=False)
