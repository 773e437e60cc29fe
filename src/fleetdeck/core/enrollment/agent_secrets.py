"""Agent secrets: credentials (an id and a password) an administrator hands to agents so they
may connect. Passwords are argon2-hashed at rest and never shown again. An agent enrolls with
one instead of a token (``EnrollmentService.enroll(client_auth=...)``); the computers it made
(``created_by`` ``client-auth:<id>``) are bound to it, and deleting a credential with bound
computers needs ``force`` (the computers stay: their agents keep their own keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.core.secrets import Passwords
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import AgentSecret, Computer
from fleetdeck.storage.uow import UnitOfWork

MIN_LENGTH = 3
MAX_ID = 255
MAX_PASSWORD = 1024
FIELDS = {"id": AgentSecret.key, "created_at": AgentSecret.created_at}


def bound_name(key: str) -> str:
    """``computers.created_by`` of a computer enrolled with credential ``key``."""
    return f"client-auth:{key}"


def credential_of(created_by: str) -> str:
    """The credential a computer was enrolled with (from its ``created_by``), or ""."""
    prefix = bound_name("")
    return created_by[len(prefix) :] if created_by.startswith(prefix) else ""


@dataclass(frozen=True, slots=True)
class AgentSecretInfo:
    key: str
    created_at: datetime


class AgentSecretService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, passwords: Passwords) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._passwords = passwords

    def find(self, actor: Actor, query: Query) -> Page[AgentSecretInfo]:
        """A page of credentials (ids only): a count and a select."""
        actor.require(Perm.MANAGE_ENROLLMENT)
        with UnitOfWork(self._db, readonly=True) as uow:
            columns: Any = select(AgentSecret.key, AgentSecret.created_at)
            stmt, count = apply_query(
                columns,
                select(func.count()).select_from(AgentSecret),
                query,
                FIELDS,
            )
            assert count is not None
            items = [AgentSecretInfo(k, c) for k, c in uow.session.execute(stmt)]
            return Page(items=items, total=uow.session.scalar(count) or 0)

    def get(self, actor: Actor, key: str) -> AgentSecretInfo:
        actor.require(Perm.MANAGE_ENROLLMENT)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(select(AgentSecret).where(AgentSecret.key == key))
            if row is None:
                raise NotFound("agent secret", key)
            return AgentSecretInfo(row.key, row.created_at)

    def create(self, actor: Actor, key: str, password: str) -> None:
        with self._audit.mutation(
            actor, "agent_secret.create", "agent_secret", key, perm=Perm.MANAGE_ENROLLMENT
        ) as m:
            if not MIN_LENGTH <= len(key) <= MAX_ID or "\x00" in key:
                raise ValidationFailed(f"id must be {MIN_LENGTH} to {MAX_ID} characters", field="id")
            if not MIN_LENGTH <= len(password) <= MAX_PASSWORD:
                raise ValidationFailed(
                    f"password must be {MIN_LENGTH} to {MAX_PASSWORD} characters", field="password"
                )
            if m.session.scalar(select(AgentSecret.id).where(AgentSecret.key == key)) is not None:
                raise Conflict(f"agent secret {key!r} already exists", reason="exists")
            m.session.add(
                AgentSecret(key=key, password_hash=self._passwords.hash(password), created_at=self._clock())
            )

    def delete(self, actor: Actor, key: str, *, force: bool = False) -> None:
        """Delete a credential; with computers bound to it only with ``force``."""
        with self._audit.mutation(
            actor, "agent_secret.delete", "agent_secret", key, perm=Perm.MANAGE_ENROLLMENT
        ) as m:
            row = m.session.scalar(select(AgentSecret).where(AgentSecret.key == key))
            if row is None:
                raise NotFound("agent secret", key)
            bound = m.session.scalar(
                select(func.count()).select_from(Computer).where(Computer.created_by == bound_name(key))
            )
            if bound and not force:
                raise Conflict(
                    f"Client Auth expected to have no active or disconnected bound client(s), got {bound}.",
                    reason="bound",
                )
            m.detail = {"force": force, "bound": bound or 0}
            m.session.delete(row)

    def verify(self, key: str, password: str) -> bool:
        """Whether ``password`` is the one of credential ``key`` (for agent connections)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            stored = uow.session.scalar(select(AgentSecret.password_hash).where(AgentSecret.key == key))
        return self._passwords.verify(stored or self._passwords.dummy_hash, password) and stored is not None
