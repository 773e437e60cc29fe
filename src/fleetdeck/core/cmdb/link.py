"""Every computer and every user is a CMDB object: when a computer (or user) row is inserted,
by whichever service (enrollment, an admin, a dialect, a polling agent; the users service, a
directory sync), its object row is inserted in the same flush. Watching the session rather
than each service keeps the rule in one place and makes a new way of creating computers or
users covered without editing it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from fleetdeck.storage.tables import CmdbObject, Computer, User

PERSON_TYPE = 53  # C__OBJTYPE__PERSON; a computer's type is chosen from its facts (None)


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
        **link,
    }


def watch(sessions: sessionmaker[Session]) -> None:
    """Register the hook once on the session factory of this database."""
    if getattr(sessions, "_cmdb_linked", False):
        return
    sessions._cmdb_linked = True  # type: ignore[attr-defined]

    @event.listens_for(sessions, "after_flush")
    def _link(session: Session, _context: Any) -> None:
        rows = [
            _object(obj.created_at, obj.created_by or "", computer_id=obj.id)
            if isinstance(obj, Computer)
            else _object(obj.created_at, "", user_id=obj.id, type_id=PERSON_TYPE)
            for obj in session.new
            if isinstance(obj, Computer | User)
        ]
        if rows:
            session.connection().execute(insert(CmdbObject), rows)
