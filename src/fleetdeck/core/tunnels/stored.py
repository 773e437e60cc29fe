"""Stored tunnels: a computer's saved tunnel presets (rportd's stored tunnels), what a user fills
in once to make the same tunnel again later.

A preset is named by a uuid, has a name unique among the computer's presets (Conflict
otherwise), and is checked as a tunnel's parameters are: ports 1-65535, the ACL through the
tunnels' parser (normalised), scheme up to 15 characters, name up to 200. Reading and changing
need the remote-access permission and the computer within the caller's reach (NotFound
otherwise, as for tunnels). Changes are audited (``tunnel.stored.create|update|delete``). A list
is one reach check, one count and one select whatever the page.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, Reason, ValidationFailed
from fleetdeck.core.groups.rules import reaches
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.core.tunnels.service import parse_acl
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, StoredTunnel
from fleetdeck.storage.uow import UnitOfWork

MAX_NAME = 200
MAX_SCHEME = 15
MAX_HOST = 255
MAX_OPTIONS = 16 * 1024  # characters of further_options as JSON

# the public field names a query may filter and sort on
FIELDS: dict[str, Any] = {
    "id": StoredTunnel.uid,
    "created_at": StoredTunnel.created_at,
    "name": StoredTunnel.name,
    "scheme": StoredTunnel.scheme,
    "remote_ip": StoredTunnel.remote_ip,
    "remote_port": StoredTunnel.remote_port,
}


@dataclass(frozen=True, slots=True)
class StoredTunnelInput:
    """A whole preset (create, or a full replacement)."""

    name: str
    remote_ip: str
    remote_port: int
    public_port: int | None = None
    scheme: str = ""
    acl: tuple[str, ...] = ()
    further_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredTunnelInfo:
    id: str
    computer_uid: str
    name: str
    remote_ip: str
    remote_port: int
    public_port: int | None
    scheme: str
    acl: tuple[str, ...]
    further_options: dict[str, Any]
    created_at: datetime
    created_by: str


def _info(row: StoredTunnel, computer_uid: str) -> StoredTunnelInfo:
    return StoredTunnelInfo(
        id=row.uid,
        computer_uid=computer_uid,
        name=row.name,
        remote_ip=row.remote_ip,
        remote_port=row.remote_port,
        public_port=row.public_port,
        scheme=row.scheme,
        acl=tuple(a for a in row.acl.split(",") if a),
        further_options=dict(row.further_options or {}),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _checked(data: StoredTunnelInput) -> StoredTunnelInput:
    if not data.name.strip():
        raise ValidationFailed("name is required", "name", reason=Reason.REQUIRED_MISSING)
    if len(data.name) > MAX_NAME:
        raise ValidationFailed(f"name is longer than {MAX_NAME} characters", "name", reason=Reason.INVALID)
    if len(data.scheme) > MAX_SCHEME:
        raise ValidationFailed(
            f"scheme is longer than {MAX_SCHEME} characters", "scheme", reason=Reason.INVALID
        )
    if not data.remote_ip.strip() or len(data.remote_ip) > MAX_HOST:
        raise ValidationFailed("remote_ip is required", "remote_ip", reason=Reason.REQUIRED_MISSING)
    for name, port in (("remote_port", data.remote_port), ("public_port", data.public_port)):
        if port is not None and not 0 < port < 65536:
            raise ValidationFailed(f"{name} {port} is out of range 1-65535", name, reason=Reason.INVALID)
    if "\x00" in data.name + data.scheme + data.remote_ip:
        raise ValidationFailed("text must not contain NUL characters", "name", reason=Reason.INVALID)
    try:
        text = json.dumps(data.further_options)
    except (TypeError, ValueError, RecursionError):
        raise ValidationFailed(
            "further_options must be a JSON object", "further_options", reason=Reason.INVALID
        ) from None
    if len(text) > MAX_OPTIONS:
        raise ValidationFailed(
            f"further_options is longer than {MAX_OPTIONS} characters",
            "further_options",
            reason=Reason.INVALID,
        )
    return StoredTunnelInput(
        name=data.name,
        remote_ip=data.remote_ip.strip(),
        remote_port=data.remote_port,
        public_port=data.public_port,
        scheme=data.scheme,
        acl=parse_acl(data.acl),
        further_options=dict(data.further_options),
    )


class StoredTunnelService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    @staticmethod
    def _reached(s: Session, actor: Actor, computer: int | str) -> tuple[int, str]:
        by = Computer.uid == computer if isinstance(computer, str) else Computer.id == computer
        row = s.execute(select(Computer.id, Computer.uid).where(by)).first()
        if row is None or not reaches(s, actor, Perm.REMOTE_ACCESS, row[0]):
            raise NotFound("computer", computer)
        return row[0], row[1]

    def find(self, actor: Actor, computer: int | str, query: Query) -> Page[StoredTunnelInfo]:
        """One page of the computer's presets (``FIELDS`` names the filters and sorts)."""
        actor.require(Perm.REMOTE_ACCESS)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            computer_id, uid = self._reached(s, actor, computer)
            mine = StoredTunnel.computer_id == computer_id
            stmt = select(StoredTunnel).where(mine)
            count = select(func.count()).select_from(StoredTunnel).where(mine)
            stmt, count_stmt = apply_query(stmt, count, query, FIELDS)
            assert count_stmt is not None
            total = s.scalar(count_stmt) or 0
            return Page(items=[_info(r, uid) for r in s.scalars(stmt)], total=total)

    def save(
        self, actor: Actor, computer: int | str, data: StoredTunnelInput, uid: str | None = None
    ) -> StoredTunnelInfo:
        """Create (``uid`` None) or replace every field of a preset. A name another preset of the
        computer has is a Conflict; an unknown ``uid`` is NotFound."""
        action = f"tunnel.stored.{'create' if uid is None else 'update'}"
        with self._audit.mutation(
            actor, action, "computer", f"{computer}/{uid or ''}", perm=Perm.REMOTE_ACCESS
        ) as m:
            data = _checked(data)
            s = m.session
            computer_id, computer_uid = self._reached(s, actor, computer)
            row: StoredTunnel | None = None
            if uid is not None:
                row = s.scalar(
                    select(StoredTunnel)
                    .where(StoredTunnel.computer_id == computer_id, StoredTunnel.uid == uid)
                    .with_for_update()
                )
                if row is None:
                    raise NotFound("stored tunnel", uid)
            clash = s.scalar(
                select(StoredTunnel.uid).where(
                    StoredTunnel.computer_id == computer_id, StoredTunnel.name == data.name
                )
            )
            if clash is not None and (row is None or clash != row.uid):
                raise Conflict(
                    f"another stored tunnel with the same name {data.name!r} exists", name=data.name
                )
            if row is None:
                row = StoredTunnel(
                    uid=str(uuid.uuid4()),
                    computer_id=computer_id,
                    created_at=self._clock(),
                    created_by=actor.username,
                )
                s.add(row)
            row.name, row.scheme, row.remote_ip = data.name, data.scheme, data.remote_ip
            row.remote_port, row.public_port = data.remote_port, data.public_port
            row.acl, row.further_options = ",".join(data.acl), dict(data.further_options)
            try:
                s.flush()
            except IntegrityError:  # the same name saved at the same moment by someone else
                raise Conflict(
                    f"another stored tunnel with the same name {data.name!r} exists", name=data.name
                ) from None
            m.object_id = f"{computer_id}/{row.uid}"
            m.detail = {
                "name": row.name,
                "remote": f"{row.remote_ip}:{row.remote_port}",
                "acl": row.acl,
            }
            return _info(row, computer_uid)

    def delete(self, actor: Actor, computer: int | str, uid: str) -> None:
        with self._audit.mutation(
            actor, "tunnel.stored.delete", "computer", f"{computer}/{uid}", perm=Perm.REMOTE_ACCESS
        ) as m:
            s = m.session
            computer_id, _ = self._reached(s, actor, computer)
            m.object_id = f"{computer_id}/{uid}"
            row = s.scalar(
                select(StoredTunnel).where(StoredTunnel.computer_id == computer_id, StoredTunnel.uid == uid)
            )
            if row is None:
                raise NotFound("stored tunnel", uid)
            m.detail = {"name": row.name}
            s.delete(row)
