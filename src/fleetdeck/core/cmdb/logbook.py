"""The CMDB's logbook is the audit log: every change of an object or of its entries is an
audit row (``CmdbService`` records them), and a written message is an audit row of its own
(action ``LOG_ACTION``). This module turns those rows into ``LogbookEntry`` values, so the
logbook can never disagree with what was audited.

Entry rows name their object in ``detail["object_id"]`` (their own id is the entry's), object
rows in ``object_id``; ``object_filter`` reads both in SQL, so a read by object still pages in
the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, cast, or_, select

from fleetdeck.core.cmdb.values import LogbookEntry
from fleetdeck.storage.tables import AuditEntry, CmdbObject

OBJECT = "cmdb_object"
ENTRY = "cmdb_entry"
LOG_ACTION = "cmdb_object.log"
LOGBOOK = "cmdb_logbook"  # the audit row of a write of lines (not itself a line)
GLOBAL = "C__CATG__GLOBAL"

_entry_object = AuditEntry.detail["object_id"].as_integer()


def rows_statement(
    *, entry_id: int | None, object_id: int | None, since: Any, status: int | None, limit: int
) -> Any:
    """The successful audit rows of CMDB objects and entries, newest first."""
    stmt = select(AuditEntry).where(AuditEntry.result == "ok", AuditEntry.object_type.in_((OBJECT, ENTRY)))
    if entry_id is not None:
        stmt = stmt.where(AuditEntry.id == entry_id)
    if object_id is not None:
        stmt = stmt.where(
            or_(
                and_(AuditEntry.object_type == OBJECT, AuditEntry.object_id == str(object_id)),
                and_(AuditEntry.object_type == ENTRY, _entry_object == object_id),
            )
        )
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if status is not None:
        with_status = select(CmdbObject.id).where(CmdbObject.status == status)
        stmt = stmt.where(
            or_(
                and_(
                    AuditEntry.object_type == OBJECT,
                    AuditEntry.object_id.in_(
                        select(cast(CmdbObject.id, String)).where(CmdbObject.status == status)
                    ),
                ),
                and_(AuditEntry.object_type == ENTRY, _entry_object.in_(with_status)),
            )
        )
    return stmt.order_by(AuditEntry.id.desc()).limit(limit)


def object_of(row: AuditEntry) -> int | None:
    """The object an audit row is about (None: a row that names none)."""
    raw = row.object_id if row.object_type == OBJECT else (row.detail or {}).get("object_id")
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _pairs(prefix: str, old: Any, new: Any) -> dict[str, tuple[Any, Any]]:
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    return {f"{prefix}::{k}": (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))}


def entry_of(row: AuditEntry, object_id: int, title: str) -> LogbookEntry:
    """A logbook line from its audit row: old -> new values by ``category::attribute``."""
    detail: dict[str, Any] = row.detail or {}
    category = str(detail.get("category") or GLOBAL)
    changes = _pairs(category, detail.get("old"), detail.get("new"))
    for e in detail.get("entries") or ():
        if isinstance(e, dict):
            changes.update(_pairs(category, e.get("old"), e.get("new")))
    message = detail.get("message") if row.action == LOG_ACTION else None
    return LogbookEntry(
        id=row.id,
        at=row.at,
        username=row.username,
        action=row.action,
        object_id=object_id,
        object_title=title,
        category=category,
        changes=changes,
        message=str(message) if message is not None else None,
        description=str(detail.get("description") or ""),
        comment=str(detail.get("comment") or ""),
        source=detail.get("source") if isinstance(detail.get("source"), int) else None,
        level=int(detail.get("level") or 1),
    )
