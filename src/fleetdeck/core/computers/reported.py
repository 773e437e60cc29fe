"""Audit data a client reports itself (opsi's hwaudit/swaudit: ``auditSoftware_create``,
``auditHardwareOnHost_create``, ``*_setObsolete``), stored beside the agent's inventory.

Precedence: for a computer whose fleetdeck agent has reported an inventory, that inventory is
the source of its hardware and software (transports show it); what the client reports through a
dialect is still stored (and audited) but not shown in its place (``find(shown=True)`` leaves it
out). For a computer without an agent inventory (an opsi client that runs opsiclientd, not the
fleetdeck agent) the reported rows are its audit data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.groups.rules import reach, reaches
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import Computer, ReportedAudit
from fleetdeck.storage.uow import UnitOfWork

PER_COMPUTER = ("software", "hardware")
CATALOGUE = ("software_title", "hardware_device")
KINDS = PER_COMPUTER + CATALOGUE
MAX_ROWS = 10_000
MAX_IDENT = 1024
MAX_DATA_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class ReportedRow:
    kind: str
    computer_id: int | None
    ident: str
    data: dict[str, Any]
    state: int
    first_seen: datetime
    last_seen: datetime


def _check(kind: str, computer_id: int | None, rows: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if (computer_id is None) != (kind in CATALOGUE):
        raise ValidationFailed(f"{kind} rows {'need' if kind in PER_COMPUTER else 'have no'} computer")
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"more than {MAX_ROWS} rows in one report", field="rows")
    for ident, data in rows:
        if not ident or len(ident) > MAX_IDENT:
            raise ValidationFailed(f"an ident must be 1 to {MAX_IDENT} characters", field="ident")
        if len(json.dumps(data, default=str)) > MAX_DATA_BYTES:
            raise ValidationFailed(f"a row's data is larger than {MAX_DATA_BYTES} bytes", field="data")


class ReportedAuditService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    @staticmethod
    def _perm(actor: Actor, computer_id: int | None) -> Perm | None:
        """A computer reports for itself (and the catalogue); others need MANAGE_COMPUTERS."""
        if actor.computer_id is not None:
            if computer_id is not None and computer_id != actor.computer_id:
                raise PermissionDenied("a computer may report audit data only for itself")
            return None
        return Perm.MANAGE_COMPUTERS

    def report(
        self,
        actor: Actor,
        kind: str,
        computer_id: int | None,
        rows: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> int:
        """Create or update rows by ident (state current, ``last_seen`` now); returns how many
        were new. Audited ``audit_data.report``."""
        _check(kind, computer_id, rows)
        with self._audit.mutation(
            actor, "audit_data.report", "computer", computer_id or "", perm=self._perm(actor, computer_id)
        ) as m:
            s = m.session
            if computer_id is not None and s.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            if actor.computer_id is None and not reaches(s, actor, Perm.MANAGE_COMPUTERS, computer_id):
                raise NotFound("computer", computer_id or "")  # out of a user's groups' reach
            serialize(s, Serial.REPORTED_AUDIT)
            key = computer_id or 0
            wanted = dict(rows)  # the last row of an ident wins
            existing = {
                r.ident: r
                for r in s.scalars(
                    select(ReportedAudit).where(
                        ReportedAudit.kind == kind,
                        ReportedAudit.computer_key == key,
                        ReportedAudit.ident.in_(list(wanted)),
                    )
                )
            }
            now = self._clock()
            for ident, data in wanted.items():
                row = existing.get(ident)
                if row is None:
                    s.add(
                        ReportedAudit(
                            kind=kind,
                            computer_id=computer_id,
                            computer_key=key,
                            ident=ident,
                            data=dict(data),
                            state=1,
                            first_seen=now,
                            last_seen=now,
                        )
                    )
                else:
                    row.data, row.state, row.last_seen = dict(data), 1, now
            new = len(wanted) - len(existing)
            m.detail = {"kind": kind, "rows": len(wanted), "new": new}
            return new

    def set_obsolete(self, actor: Actor, kind: str, computer_id: int) -> int:
        """Marks every row of this kind of the computer obsolete (state 0), as opsi's
        ``*_setObsolete`` before a fresh audit; returns how many. Audited."""
        if kind not in PER_COMPUTER:
            raise ValidationFailed(f"kind must be one of {', '.join(PER_COMPUTER)}", field="kind")
        with self._audit.mutation(
            actor, "audit_data.set_obsolete", "computer", computer_id, perm=self._perm(actor, computer_id)
        ) as m:
            s = m.session
            if s.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            if actor.computer_id is None and not reaches(s, actor, Perm.MANAGE_COMPUTERS, computer_id):
                raise NotFound("computer", computer_id)  # out of a user's groups' reach
            done = s.execute(
                update(ReportedAudit)
                .where(ReportedAudit.kind == kind, ReportedAudit.computer_key == computer_id)
                .values(state=0)
            )
            count = int(getattr(done, "rowcount", 0) or 0)
            m.detail = {"kind": kind, "rows": count}
            return count

    def find(
        self, actor: Actor, kind: str, computer_ids: Sequence[int] | None = None, *, shown: bool = False
    ) -> list[ReportedRow]:
        """Rows of one kind (per-computer kinds: of these computers, None = all), in one query.
        ``shown``: only what stands for a computer's audit data, i.e. not the rows of a computer
        whose agent has reported an inventory (that inventory is the source; module docstring).
        A computer reads its own rows and the catalogue; anyone else needs READ, and a user in
        user groups reads the rows of the computers they reach (the catalogue is no computer's)."""
        if actor.computer_id is not None:
            if kind in PER_COMPUTER:
                computer_ids = [c for c in (computer_ids or [actor.computer_id]) if c == actor.computer_id]
        else:
            actor.require(Perm.READ)
        stmt = select(ReportedAudit).where(ReportedAudit.kind == kind).order_by(ReportedAudit.id)
        if computer_ids is not None and kind in PER_COMPUTER:
            stmt = stmt.where(ReportedAudit.computer_id.in_(list(computer_ids)))
        if shown and kind in PER_COMPUTER:
            stmt = stmt.join(Computer, Computer.id == ReportedAudit.computer_id).where(
                Computer.inventory_at.is_(None)
            )
        with UnitOfWork(self._db, readonly=True) as uow:
            scope = reach(uow.session, actor, Perm.READ, ReportedAudit.computer_id)
            if scope is not None and kind in PER_COMPUTER:  # a user in user groups: what they reach
                stmt = stmt.where(scope)
            return [
                ReportedRow(r.kind, r.computer_id, r.ident, dict(r.data), r.state, r.first_seen, r.last_seen)
                for r in uow.session.scalars(stmt)
            ]
