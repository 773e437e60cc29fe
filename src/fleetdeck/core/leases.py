"""Leases: which server process runs a periodic duty now.

With several server processes on one database, each duty (job expiry, deployment ticks, ...)
must run in exactly one of them. A lease is a row per duty naming its holder and how long it
holds it. The holder renews it well before it runs out; another process takes it only once it
has run out, i.e. when the holder has died or hung. A clean stop releases it at once.

Taking and renewing is one statement that the database decides atomically, on SQLite (every
write transaction is ``BEGIN IMMEDIATE``) and on PostgreSQL (the UPDATE re-checks its WHERE on
the row a concurrent winner committed)::

    INSERT ... ON CONFLICT (name) DO NOTHING            -- the row exists from now on
    UPDATE leases SET holder = :me, expires_at = :until
     WHERE name = :n AND (holder = :me OR expires_at < :now)

One row changed: ``me`` holds it. Times come from the injected clock (the processes' clocks
must agree to well within a lease's length; tests move a fake one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Lease
from fleetdeck.storage.uow import UnitOfWork

_LEASES: Table = Lease.__table__  # type: ignore[assignment]
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    name: str
    holder: str
    expires_at: datetime


class LeaseService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        dialect: Any = postgresql if db.dialect == "postgresql" else sqlite
        self._insert = dialect.insert

    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take the lease ``name`` or renew it, for ``ttl`` from now. True if ``holder`` holds
        it now; False if another holder does and its lease has not run out."""
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            s = uow.session
            s.execute(
                self._insert(_LEASES)
                .values(name=name, holder="", expires_at=_EXPIRED)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            taken = s.execute(
                update(_LEASES)
                .where(
                    _LEASES.c.name == name,
                    or_(_LEASES.c.holder == holder, _LEASES.c.expires_at < now),
                )
                .values(holder=holder, expires_at=now + ttl)
            )
            return int(getattr(taken, "rowcount", 0) or 0) == 1

    def release(self, name: str, holder: str) -> None:
        """Give the lease up now (a clean stop), so another process need not wait it out."""
        with UnitOfWork(self._db) as uow:
            uow.session.execute(
                update(_LEASES)
                .where(_LEASES.c.name == name, _LEASES.c.holder == holder)
                .values(expires_at=_EXPIRED)
            )

    def get(self, name: str) -> LeaseInfo | None:
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.execute(
                select(_LEASES.c.holder, _LEASES.c.expires_at).where(_LEASES.c.name == name)
            ).first()
        return None if row is None else LeaseInfo(name, row[0], row[1])

    def renew(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Extend a lease ``holder`` holds, never take one: False once anyone else has taken it
        (or cleared it) in the meantime, even if it had run out unnoticed."""
        with UnitOfWork(self._db) as uow:
            renewed = uow.session.execute(
                update(_LEASES)
                .where(_LEASES.c.name == name, _LEASES.c.holder == holder)
                .values(expires_at=self._clock() + ttl)
            )
            return int(getattr(renewed, "rowcount", 0) or 0) == 1

    def expired(self, prefix: str) -> list[LeaseInfo]:
        """The leases named ``prefix...`` that have run out (their holders are gone)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(_LEASES.c.name, _LEASES.c.holder, _LEASES.c.expires_at).where(
                    _LEASES.c.name.startswith(prefix, autoescape=True),
                    _LEASES.c.expires_at < self._clock(),
                )
            ).all()
        return [LeaseInfo(name, holder, expires) for name, holder, expires in rows]
