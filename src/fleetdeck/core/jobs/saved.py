"""Saved commands: a library of named command lines (each one or a few lines, run in order),
kept in core for every transport: opsi's configed keeps its SSH command menu in it
(``SSHCommand_*``), and rportd's dialect is to expose the same library. Reading needs READ;
changing needs RUN_COMMANDS (what they are saved for); every change is audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import SavedCommand
from fleetdeck.storage.uow import UnitOfWork

MAX_LINES = 100
MAX_LINE = 10_000
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class SavedCommandInfo:
    name: str
    commands: list[str]
    position: int | None = None
    need_sudo: bool = False
    tooltip: str | None = None
    parent_menu: str | None = None


@dataclass(frozen=True, slots=True)
class SavedCommandChange:
    """For ``put``: None = unchanged on an existing command (a new one gets the default)."""

    name: str
    commands: list[str] | None = None
    position: int | None = None
    need_sudo: bool | None = None
    tooltip: str | None = None
    parent_menu: str | None = None


def _check(c: SavedCommandChange, new: bool) -> None:
    if not c.name or len(c.name) > MAX_NAME:
        raise ValidationFailed(f"a saved command's name must be 1 to {MAX_NAME} characters", field="name")
    if c.commands is not None or new:
        lines = c.commands or []
        if not lines or len(lines) > MAX_LINES:
            raise ValidationFailed(f"commands must be a list of 1 to {MAX_LINES} lines", field="commands")
        if any(not isinstance(line, str) or len(line) > MAX_LINE for line in lines):
            raise ValidationFailed(f"each command is text of at most {MAX_LINE} characters", field="commands")
    if c.parent_menu is not None and len(c.parent_menu) > MAX_NAME:
        raise ValidationFailed(f"parent menu is longer than {MAX_NAME} characters", field="parent_menu")


def _info(row: SavedCommand) -> SavedCommandInfo:
    return SavedCommandInfo(
        row.name, list(row.commands), row.position, row.need_sudo, row.tooltip, row.parent_menu
    )


class SavedCommandService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    def list(self, actor: Actor) -> list[SavedCommandInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return [_info(r) for r in uow.session.scalars(select(SavedCommand).order_by(SavedCommand.id))]

    def put(self, actor: Actor, changes: Sequence[SavedCommandChange], *, create: bool) -> int:
        """Create (``create``) or change the commands named; with ``create`` False a name that
        does not exist is left out. Returns how many were written. Audited ``saved_command.put``."""
        with self._audit.mutation(actor, "saved_command.put", "saved_command", perm=Perm.RUN_COMMANDS) as m:
            s = m.session
            names = [c.name for c in changes]
            rows = {r.name: r for r in s.scalars(select(SavedCommand).where(SavedCommand.name.in_(names)))}
            now, written = self._clock(), []
            for c in changes:
                row = rows.get(c.name)
                if row is None and not create:
                    continue
                _check(c, row is None)
                if row is None:
                    row = SavedCommand(name=c.name, commands=[], need_sudo=False, created_at=now)
                    s.add(row)
                    rows[c.name] = row
                if c.commands is not None:
                    row.commands = list(c.commands)
                for attr, value in (
                    ("position", c.position),
                    ("need_sudo", c.need_sudo),
                    ("tooltip", c.tooltip),
                    ("parent_menu", c.parent_menu),
                ):
                    if value is not None:
                        setattr(row, attr, value)
                row.updated_at = now
                written.append(c.name)
            m.object_id = ",".join(written)[:200]
            m.detail = {"names": written, "create": create}
            return len(written)

    def delete(self, actor: Actor, names: Sequence[str], *, must_exist: bool = False) -> int:
        """Deletes the commands named; ``must_exist``: a missing one is NotFound (nothing deleted)."""
        with self._audit.mutation(
            actor, "saved_command.delete", "saved_command", perm=Perm.RUN_COMMANDS
        ) as m:
            s = m.session
            found = set(s.scalars(select(SavedCommand.name).where(SavedCommand.name.in_(list(names)))))
            if must_exist:
                for name in names:
                    if name not in found:
                        raise NotFound("saved command", name)
            s.execute(delete(SavedCommand).where(SavedCommand.name.in_(found)))
            m.object_id = ",".join(sorted(found))[:200]
            m.detail = {"names": sorted(found)}
            return len(found)
