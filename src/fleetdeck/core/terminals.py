"""Terminal sessions in the browser: who may open one, how many, and their audit records.

A terminal is a shell the computer's agent runs in a PTY, relayed between the browser and the
agent by the transport that holds the agent's connection (``core.ports.TerminalRelay``). Core
decides here, before any byte moves: the caller needs ``Perm.REMOTE_ACCESS`` and must reach the
computer (role and user groups, ``groups.rules.reaches``); sessions are capped per user and per
computer. The start and the end of a session are audited; what is typed and shown never is.

The caps count this process's sessions (a session lives where its browser socket is).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound
from fleetdeck.core.groups.rules import reaches
from fleetdeck.core.opensessions import OpenSessions, user_key
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

MAX_PER_USER = 4
MAX_PER_COMPUTER = 4


@dataclass(frozen=True, slots=True)
class TerminalGrant:
    """A session core allowed: the relay opens it on the agent under ``session_id``."""

    session_id: str
    computer_id: int
    hostname: str
    user_key: str  # whom the per-user cap counts (user id, or the name for users without one)


class TerminalService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        max_per_user: int = MAX_PER_USER,
        max_per_computer: int = MAX_PER_COMPUTER,
    ) -> None:
        self._db = db
        self._audit = audit
        self._sessions: OpenSessions[TerminalGrant] = OpenSessions(
            "terminals", max_per_user, max_per_computer
        )

    def check(self, actor: Actor, computer_id: int) -> str:
        """The computer's host name if ``actor`` may open a terminal on it (for showing the
        button and the page); PermissionDenied or NotFound otherwise. Nothing is recorded."""
        actor.require(Perm.REMOTE_ACCESS)
        with UnitOfWork(self._db, readonly=True) as uow:
            return self._hostname(uow.session, actor, computer_id)

    @staticmethod
    def _hostname(s: Session, actor: Actor, computer_id: int) -> str:
        name = s.scalar(select(Computer.hostname).where(Computer.id == computer_id))
        if name is None or not reaches(s, actor, Perm.REMOTE_ACCESS, computer_id):
            raise NotFound("computer", computer_id)
        return name

    def open(self, actor: Actor, computer_id: int, *, cols: int, rows: int) -> TerminalGrant:
        """Allow a session (audited ``terminal.open``); the caller must ``close`` it."""
        with self._audit.mutation(
            actor, "terminal.open", "computer", computer_id, perm=Perm.REMOTE_ACCESS
        ) as m:
            hostname = self._hostname(m.session, actor, computer_id)
            grant = TerminalGrant(secrets.token_hex(8), computer_id, hostname, user_key(actor))
            self._sessions.admit(grant, hostname)
            m.detail = {"session": grant.session_id, "hostname": hostname, "cols": cols, "rows": rows}
        return grant

    def close(
        self,
        actor: Actor,
        grant: TerminalGrant,
        *,
        exit_code: int | None,
        reason: str,
        seconds: float,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        """The session ended (audited ``terminal.close``; byte counts, never the bytes)."""
        if not self._sessions.release(grant.session_id):
            return
        self._audit.record(
            actor,
            "terminal.close",
            "computer",
            grant.computer_id,
            session=grant.session_id,
            exit_code=exit_code,
            reason=reason[:200],
            seconds=round(seconds, 1),
            bytes_in=bytes_in,
            bytes_out=bytes_out,
        )

    def count(self) -> int:
        return self._sessions.count()
