"""The library: saved scripts and saved commands, named, tagged, ready to be run on computers.

Each entry is named by a uuid (stable across renames, so a link or a schedule that names it
keeps working), has a name unique among entries of its kind, and carries what a run needs:
the text, the interpreter, the working directory, sudo and a timeout. Scripts need RUN_SCRIPTS
and commands RUN_COMMANDS, to read as well as to change: an entry is as sensitive as what it
would run. Every change is audited (``library.<kind>.create|update|delete``). Lists are one
count and one select whatever the page size.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import LibraryEntry
from fleetdeck.storage.uow import UnitOfWork

SCRIPT = "script"
COMMAND = "command"
KINDS = {SCRIPT: Perm.RUN_SCRIPTS, COMMAND: Perm.RUN_COMMANDS}
MAX_NAME = 255
MAX_CONTENT = 1024 * 1024  # one MiB of script text
MAX_TAGS = 100
MAX_TAG = 255
MAX_TIMEOUT_SEC = 7 * 24 * 3600

# the public field names a query may filter and sort on
FIELDS: dict[str, Any] = {
    "id": LibraryEntry.uid,
    "name": LibraryEntry.name,
    "created_by": LibraryEntry.created_by,
    "created_at": LibraryEntry.created_at,
    "updated_by": LibraryEntry.updated_by,
    "updated_at": LibraryEntry.updated_at,
    "interpreter": LibraryEntry.interpreter,
    "cwd": LibraryEntry.cwd,
    "is_sudo": LibraryEntry.is_sudo,
    "timeout_sec": LibraryEntry.timeout_sec,
    "content": LibraryEntry.content,
}


@dataclass(frozen=True, slots=True)
class LibraryInput:
    """What a create or a (whole) update gives: every field, as a full replacement."""

    name: str
    content: str
    interpreter: str = ""
    cwd: str = ""
    is_sudo: bool = False
    timeout_sec: int = 0
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LibraryItem:
    id: str
    kind: str
    name: str
    content: str
    interpreter: str
    cwd: str
    is_sudo: bool
    timeout_sec: int
    tags: list[str]
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime | None


def _item(row: LibraryEntry) -> LibraryItem:
    return LibraryItem(
        row.uid,
        row.kind,
        row.name,
        row.content,
        row.interpreter,
        row.cwd,
        row.is_sudo,
        row.timeout_sec,
        [str(t) for t in row.tags or []],
        row.created_by,
        row.created_at,
        row.updated_by,
        row.updated_at,
    )


def _perm(kind: str) -> Perm:
    if kind not in KINDS:
        raise ValidationFailed(f"unknown library kind {kind!r}", field="kind")
    return KINDS[kind]


def _check(kind: str, data: LibraryInput) -> None:
    if not data.name.strip():
        raise ValidationFailed("name is required", field="name")
    if len(data.name) > MAX_NAME:
        raise ValidationFailed(f"name is longer than {MAX_NAME} characters", field="name")
    if not data.content.strip():
        raise ValidationFailed(f"{kind} is required", field=kind)
    if len(data.content) > MAX_CONTENT:
        raise ValidationFailed(f"{kind} is longer than {MAX_CONTENT} characters", field=kind)
    if len(data.interpreter) > MAX_NAME:
        raise ValidationFailed(f"interpreter is longer than {MAX_NAME} characters", field="interpreter")
    if not 0 <= data.timeout_sec <= MAX_TIMEOUT_SEC:
        raise ValidationFailed(f"timeout_sec must be 0 to {MAX_TIMEOUT_SEC}", field="timeout_sec")
    if len(data.tags) > MAX_TAGS or any(len(t) > MAX_TAG for t in data.tags):
        raise ValidationFailed(f"at most {MAX_TAGS} tags of {MAX_TAG} characters", field="tags")
    if "\x00" in data.name + data.content + data.interpreter + data.cwd + "".join(data.tags):
        raise ValidationFailed("text must not contain NUL characters")


class LibraryService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    def find(self, actor: Actor, kind: str, query: Query) -> Page[LibraryItem]:
        """One page of ``kind``'s entries: a count and a select (``FIELDS`` names the filters)."""
        actor.require(_perm(kind))
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt = select(LibraryEntry).where(LibraryEntry.kind == kind)
            count = select(func.count()).select_from(LibraryEntry).where(LibraryEntry.kind == kind)
            stmt, count_stmt = apply_query(stmt, count, query, FIELDS)
            assert count_stmt is not None
            total = uow.session.scalar(count_stmt) or 0
            return Page(items=[_item(r) for r in uow.session.scalars(stmt)], total=total)

    def get(self, actor: Actor, kind: str, uid: str) -> LibraryItem:
        actor.require(_perm(kind))
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(
                select(LibraryEntry).where(LibraryEntry.kind == kind, LibraryEntry.uid == uid)
            )
            if row is None:
                raise NotFound(kind, uid)
            return _item(row)

    def save(self, actor: Actor, kind: str, data: LibraryInput, uid: str | None = None) -> LibraryItem:
        """Create (``uid`` None) or replace every field of an existing entry. A name another
        entry of the kind has is a Conflict; an unknown ``uid`` is NotFound."""
        perm = _perm(kind)
        action = f"library.{kind}.{'create' if uid is None else 'update'}"
        with self._audit.mutation(actor, action, f"library_{kind}", uid or "", perm=perm) as m:
            _check(kind, data)
            s = m.session
            row: LibraryEntry | None = None
            if uid is not None:
                row = s.scalar(
                    select(LibraryEntry)
                    .where(LibraryEntry.kind == kind, LibraryEntry.uid == uid)
                    .with_for_update()
                )
                if row is None:
                    raise NotFound(kind, uid)
            clash = s.scalar(
                select(LibraryEntry.uid).where(LibraryEntry.kind == kind, LibraryEntry.name == data.name)
            )
            if clash is not None and (row is None or clash != row.uid):
                raise Conflict(f"another {kind} with the same name {data.name!r} exists", name=data.name)
            now = self._clock()
            if row is None:
                row = LibraryEntry(
                    uid=str(uuid.uuid4()), kind=kind, created_by=actor.username, created_at=now, updated_by=""
                )
                s.add(row)
            else:
                row.updated_by, row.updated_at = actor.username, now
            row.name, row.content, row.interpreter, row.cwd = (
                data.name,
                data.content,
                data.interpreter,
                data.cwd,
            )
            row.is_sudo, row.timeout_sec, row.tags = data.is_sudo, data.timeout_sec, list(data.tags)
            try:
                s.flush()
            except IntegrityError:  # the same name saved at the same moment by someone else
                raise Conflict(
                    f"another {kind} with the same name {data.name!r} exists", name=data.name
                ) from None
            m.object_id = row.uid
            m.detail = {"name": data.name}
            return _item(row)

    def delete(self, actor: Actor, kind: str, uid: str) -> None:
        with self._audit.mutation(
            actor, f"library.{kind}.delete", f"library_{kind}", uid, perm=_perm(kind)
        ) as m:
            row = m.session.scalar(
                select(LibraryEntry).where(LibraryEntry.kind == kind, LibraryEntry.uid == uid)
            )
            if row is None:
                raise NotFound(kind, uid)
            m.detail = {"name": row.name}
            m.session.delete(row)
