"""The audit log, and the transaction helper that guarantees every mutation is recorded.

``mutation(...)`` opens the unit of work for a change. On success the audit row commits in the
same transaction as the change, so there is never a change without its record. On failure the
change is rolled back and the attempt is recorded in a transaction of its own, with the result
(``denied``, ``not_found``, ``failed``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FleetdeckError, PermissionDenied
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import AuditEntry
from fleetdeck.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    user_id: int | None
    username: str
    source: str
    via: str
    action: str
    object_type: str
    object_id: str
    result: str
    detail: dict[str, Any]


@dataclass(slots=True)
class Mutation:
    """Handed to the body of a ``mutation`` block."""

    session: Session
    object_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    # Set when what the change is becomes known only inside it (an upsert: create or update).
    action: str = ""


AUDIT_FIELDS = {
    "id": AuditEntry.id,
    "at": AuditEntry.at,
    "user_id": AuditEntry.user_id,
    "username": AuditEntry.username,
    "source": AuditEntry.source,
    "via": AuditEntry.via,
    "action": AuditEntry.action,
    "object_type": AuditEntry.object_type,
    "object_id": AuditEntry.object_id,
    "result": AuditEntry.result,
}


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def _entry(
        self, actor: Actor, action: str, object_type: str, object_id: str, result: str, detail: dict[str, Any]
    ) -> AuditEntry:
        # Cut to the columns' widths: a failed login's user name and a forwarded address come
        # from the caller, and PostgreSQL refuses what is too long (SQLite would keep it), which
        # would lose the very record that says who tried. NUL characters, which PostgreSQL
        # refuses in text (a refused id such as an agent secret's "ab\0"), are written as "\x00".
        return AuditEntry(
            at=self._clock(),
            user_id=actor.user_id,
            username=_text(actor.username, 150),
            source=_text(actor.source, 64),
            via=_text(actor.via, 30),
            action=_text(action, 100),
            object_type=_text(object_type, 50),
            object_id=_text(object_id, 100),
            result=_text(result, 30),
            detail=detail,
        )

    def record(
        self,
        actor: Actor,
        action: str,
        object_type: str = "",
        object_id: object = "",
        result: str = "ok",
        **detail: Any,
    ) -> None:
        """Record an event in its own transaction (logins, failed attempts)."""
        with UnitOfWork(self._db) as uow:
            uow.session.add(self._entry(actor, action, object_type, str(object_id), result, detail))

    def add(
        self,
        session: Session,
        actor: Actor,
        action: str,
        object_type: str = "",
        object_id: object = "",
        result: str = "ok",
        **detail: Any,
    ) -> AuditEntry:
        """Record an automatic change (housekeeping, delivery, a failed login's count) in the
        transaction that makes it: there is no permission to check and nothing to refuse, so
        ``mutation`` does not fit. Returns the row (its id once flushed)."""
        entry = self._entry(actor, action, object_type, str(object_id), result, detail)
        session.add(entry)
        return entry

    def require(
        self, actor: Actor, perm: Perm, action: str, object_type: str = "", object_id: object = ""
    ) -> None:
        """``mutation``'s permission check, for a method that validates its arguments before it
        opens the mutation: a caller who may not make the change is refused before being told
        what is wrong with the arguments (and learns none of the rules), and the refusal is
        recorded as ``mutation`` records it."""
        try:
            actor.require(perm)
        except PermissionDenied as exc:
            self.record(actor, action, object_type, object_id, _result_of(exc), error=exc.message)
            raise

    @contextmanager
    def mutation(
        self,
        actor: Actor,
        action: str,
        object_type: str = "",
        object_id: object = "",
        perm: Perm | None = None,
    ) -> Iterator[Mutation]:
        m: Mutation | None = None
        try:
            if perm is not None:
                actor.require(perm)
            with UnitOfWork(self._db) as uow:
                m = Mutation(session=uow.session, object_id=str(object_id))
                yield m
                uow.session.add(
                    self._entry(actor, m.action or action, object_type, m.object_id, "ok", m.detail)
                )
        except FleetdeckError as exc:
            oid = m.object_id if m else str(object_id)
            done = (m.action if m else "") or action
            self.record(actor, done, object_type, oid, _result_of(exc), error=exc.message)
            raise
        except Exception as exc:
            oid = m.object_id if m else str(object_id)
            done = (m.action if m else "") or action
            self.record(actor, done, object_type, oid, "failed", error=type(exc).__name__)
            raise

    def find(self, actor: Actor, query: Query) -> Page[AuditRecord]:
        actor.require(Perm.READ_AUDIT)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt, count_stmt = apply_query(
                select(AuditEntry),
                select(func.count()).select_from(AuditEntry),
                query,
                AUDIT_FIELDS,
                default_sort="-id",
            )
            assert count_stmt is not None
            total = uow.session.scalar(count_stmt) or 0
            rows = uow.session.scalars(stmt).all()
            return Page(
                items=[
                    AuditRecord(
                        id=r.id,
                        at=r.at,
                        user_id=r.user_id,
                        username=r.username,
                        source=r.source,
                        via=r.via,
                        action=r.action,
                        object_type=r.object_type,
                        object_id=r.object_id,
                        result=r.result,
                        detail=r.detail,
                    )
                    for r in rows
                ],
                total=total,
            )


def _text(value: str, width: int) -> str:
    """Caller-supplied text as an audit column keeps it: NUL written as ``\\x00``, cut to the
    column's width."""
    return value.replace("\x00", "\\x00")[:width]


def _result_of(exc: FleetdeckError) -> str:
    return {
        "permission_denied": "denied",
        "not_found": "not_found",
        "validation_failed": "invalid",
        "conflict": "conflict",
    }.get(exc.code, "failed")
