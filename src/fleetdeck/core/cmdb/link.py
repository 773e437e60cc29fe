"""Every computer is a CMDB object: when a computer row is inserted, by whichever service
(enrollment, an admin, a dialect, a polling agent), its object row is inserted in the same
flush. Watching the session rather than each service keeps the rule in one place and makes a
new way of creating computers covered without editing it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from fleetdeck.storage.tables import CmdbObject, Computer


def watch(sessions: sessionmaker[Session]) -> None:
    """Register the hook once on the session factory of this database."""
    if getattr(sessions, "_cmdb_linked", False):
        return
    sessions._cmdb_linked = True  # type: ignore[attr-defined]

    @event.listens_for(sessions, "after_flush")
    def _link(session: Session, _context: Any) -> None:
        new = [obj for obj in session.new if isinstance(obj, Computer)]
        if not new:
            return
        session.connection().execute(
            insert(CmdbObject),
            [
                {
                    "type_id": None,
                    "title": "",
                    "sysid": "",
                    "status": 2,
                    "cmdb_status": 6,
                    "description": "",
                    "attrs": {},
                    "computer_id": c.id,
                    "created_at": c.created_at,
                    "created_by": c.created_by or "",
                    "updated_by": "",
                }
                for c in new
            ],
        )
