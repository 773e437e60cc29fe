"""Operations on computers named by display name: comments, and removal of offline computers.

Both resolve the names inside their own transaction (``names.resolve``: an unknown or ambiguous
name refuses the whole call), so a rename or a new computer between a lookup and the change
cannot redirect it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.computers.names import resolve
from fleetdeck.core.errors import Conflict, Reason, ValidationFailed
from fleetdeck.core.groups.rules import reach
from fleetdeck.core.people.scope import visible
from fleetdeck.core.ports import Clock, JobNotifier
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, ComputerComment
from fleetdeck.storage.uow import UnitOfWork

COMMENT_MIN = 6
COMMENT_MAX = 250


@dataclass(frozen=True, slots=True)
class CommentInfo:
    id: int
    computer_id: int
    text: str
    author: str
    created_at: datetime


class ComputersByName:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, notifier: JobNotifier) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._notifier = notifier

    def comment(self, actor: Actor, hostname: str, text: str) -> CommentInfo:
        """Add a comment (6-250 characters, kept with its author and time) to the computer
        named ``hostname``."""
        if not text.strip():
            raise ValidationFailed("the comment is empty", field="comment", reason=Reason.REQUIRED_MISSING)
        if not COMMENT_MIN <= len(text) <= COMMENT_MAX:
            raise ValidationFailed(
                f"a comment has {COMMENT_MIN}-{COMMENT_MAX} characters",
                field="comment",
                reason=Reason.INVALID,
            )
        with self._audit.mutation(actor, "computer.comment", "computer", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            # a computer outside what a user's groups reach is "not found", like an unknown one
            cid = resolve(s, [hostname], reach(s, actor, Perm.MANAGE_COMPUTERS, Computer.id))[hostname]
            m.object_id = str(cid)
            row = ComputerComment(
                computer_id=cid,
                text=text,
                author=actor.username,
                user_id=actor.user_id,
                created_at=self._clock(),
            )
            s.add(row)
            s.flush()
            m.detail = {"comment_id": row.id, "length": len(text)}
            return CommentInfo(row.id, cid, text, row.author, row.created_at)

    def latest_comments(self, actor: Actor, computer_ids: Iterable[int]) -> dict[int, CommentInfo]:
        """The newest comment of each computer that has one: one query, however many."""
        visible(actor, Perm.READ, ComputerComment.computer_id)  # PermissionDenied before any read
        ids = sorted(set(computer_ids))
        if not ids:
            return {}
        newest = (
            select(func.max(ComputerComment.id))
            .where(ComputerComment.computer_id.in_(ids))
            .group_by(ComputerComment.computer_id)
        )
        stmt = select(ComputerComment).where(ComputerComment.id.in_(newest))
        with UnitOfWork(self._db, readonly=True) as uow:
            # an end user: their computers' comments; a user in user groups: what they reach
            scope = reach(uow.session, actor, Perm.READ, ComputerComment.computer_id)
            if scope is not None:
                stmt = stmt.where(scope)
            return {
                c.computer_id: CommentInfo(c.id, c.computer_id, c.text, c.author, c.created_at)
                for c in uow.session.scalars(stmt)
            }

    def remove_offline(self, actor: Actor, hostnames: Sequence[str]) -> list[int]:
        """Delete the computers named ``hostnames``, all or none: any of them online refuses the
        call (Conflict, ``Reason.ONLINE``, ``detail["names"]``). Returns the deleted ids."""
        if not hostnames:
            raise ValidationFailed(
                "name the computers", field="computer_names", reason=Reason.REQUIRED_MISSING
            )
        with self._audit.mutation(actor, "computer.remove", "computer", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            ids = resolve(s, hostnames)
            computers = list(s.scalars(select(Computer).where(Computer.id.in_(ids.values()))))
            online = sorted(c.hostname for c in computers if c.online)
            if online:
                raise Conflict(
                    f"{online[0]} is online; only offline computers can be removed",
                    field="computer_names",
                    reason=Reason.ONLINE,
                    names=online,
                )
            m.object_id = ",".join(str(c.id) for c in computers)
            m.detail = {"hostnames": sorted(ids), "uids": sorted(c.uid for c in computers)}
            for c in computers:
                s.delete(c)
        removed = sorted(ids.values())
        self._notifier.computers_deleted(removed)
        return removed
