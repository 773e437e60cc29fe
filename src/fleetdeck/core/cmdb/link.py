"""Every computer, user, computer group and package family is a CMDB object: when such a row
is inserted, by whichever service (enrollment, an admin, a dialect, a polling agent; the users
service, a directory sync; any dialect creating a group or a product), its object row is
inserted in the same flush (the foreign key removes it with the row). Watching the session rather
than each service keeps the rule in one place and makes a new way of creating computers or
users covered without editing it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from fleetdeck.storage.tables import CmdbObject, Computer, Group, PackageFamily, User

PERSON_TYPE = 53  # C__OBJTYPE__PERSON; a computer's type is chosen from its facts (None)
GROUP_TYPE = 36  # C__OBJECT_TYPE__GROUP (computer groups only: package groups are no objects)
APPLICATION_TYPE = 2  # C__OBJTYPE__APPLICATION


def _object(created_at: datetime, created_by: str, **link: Any) -> dict[str, Any]:
    return {
        "type_id": None,
        "title": "",
        "sysid": "",
        "status": 2,
        "cmdb_status": 6,
        "description": "",
        "attrs": {},
        "created_at": created_at,
        "created_by": created_by,
        "updated_by": "",
        "computer_id": None,
        "user_id": None,
        "group_id": None,
        "family_id": None,
        **link,
    }


def watch(sessions: sessionmaker[Session]) -> None:
    """Register the hook once on the session factory of this database."""
    if getattr(sessions, "_cmdb_linked", False):
        return
    sessions._cmdb_linked = True  # type: ignore[attr-defined]

    @event.listens_for(sessions, "after_flush")
    def _link(session: Session, _context: Any) -> None:
        rows = [row for obj in session.new if (row := _row_for(obj)) is not None]
        if rows:
            session.connection().execute(insert(CmdbObject), rows)


def _row_for(obj: object) -> dict[str, Any] | None:
    """The object row of a newly inserted row, or None when it is no object."""
    if isinstance(obj, Computer):
        return _object(obj.created_at, obj.created_by or "", computer_id=obj.id)
    if isinstance(obj, User):
        return _object(obj.created_at, "", user_id=obj.id, type_id=PERSON_TYPE)
    if isinstance(obj, Group) and obj.kind == "computer":
        return _object(obj.created_at, "", group_id=obj.id, type_id=GROUP_TYPE)
    if isinstance(obj, PackageFamily):
        return _object(obj.created_at, obj.created_by or "", family_id=obj.id, type_id=APPLICATION_TYPE)
    return None
