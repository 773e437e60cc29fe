"""Failed-login throttling that slows guessing without letting anyone lock the admin out.

Failures are counted in a sliding window, in the database (``login_failures``), so every server
process counts the same failures and an admin can clear them from another process
(``fleetdeck user unlock``). Two limits:

- per (user name, address): ``max_per_pair`` failures lock that name out from that address only;
- per address: ``max_per_address`` (higher) failures, whatever the names, lock the address out.

A user name is never locked out everywhere: an attacker guessing a password from elsewhere
cannot keep the real user out, and a correct password from an address that is not itself
abusive gets through. A success clears that pair's failures.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import LoginFailure
from fleetdeck.storage.uow import UnitOfWork

MAX_NAME = 150
MAX_ADDRESS = 64


def _name(username: str) -> str:
    return username.strip().lower()[:MAX_NAME]


class LoginThrottle:
    def __init__(
        self, db: Database, clock: Clock, max_per_pair: int, max_per_address: int, window_sec: float
    ) -> None:
        self._db = db
        self._clock = clock
        self.max_per_pair = max_per_pair
        self.max_per_address = max_per_address
        self._window = timedelta(seconds=window_sec)

    def retry_after(self, username: str, address: str) -> float:
        """Seconds before this name may try again from this address; 0 = now."""
        now = self._clock()
        since = now - self._window
        name, addr = _name(username), address[:MAX_ADDRESS]
        pair = and_(LoginFailure.username == name, LoginFailure.address == addr, LoginFailure.at > since)
        by_address = and_(LoginFailure.address == addr, LoginFailure.at > since)
        with UnitOfWork(self._db, readonly=True) as uow:
            waits = [
                self._wait(uow.session, pair, self.max_per_pair, now),
                self._wait(uow.session, by_address, self.max_per_address, now),
            ]
        return max(waits)

    def _wait(self, s: Session, where: ColumnElement[bool], limit: int, now: datetime) -> float:
        """Until the failure that put the count at the limit leaves the window."""
        stmt = (
            select(LoginFailure.at).where(where).order_by(LoginFailure.at.desc()).offset(limit - 1).limit(1)
        )
        at = s.scalar(stmt)
        if at is None:
            return 0.0
        return max(0.0, (at + self._window - now).total_seconds())

    def failed(self, s: Session, username: str, address: str) -> None:
        """Record a failure in the caller's transaction (the one that records it in the audit log);
        failures that left the window are dropped on the way."""
        now = self._clock()
        s.add(LoginFailure(username=_name(username), address=address[:MAX_ADDRESS], at=now))
        s.execute(delete(LoginFailure).where(LoginFailure.at <= now - self._window))

    def has_failures(self, username: str, address: str) -> bool:
        """Whether this name has failures recorded from this address (in or out of the window)."""
        pair = and_(LoginFailure.username == _name(username), LoginFailure.address == address[:MAX_ADDRESS])
        with UnitOfWork(self._db, readonly=True) as uow:
            return uow.session.scalar(select(LoginFailure.id).where(pair).limit(1)) is not None

    def succeeded(self, s: Session, username: str, address: str) -> None:
        s.execute(
            delete(LoginFailure).where(
                LoginFailure.username == _name(username), LoginFailure.address == address[:MAX_ADDRESS]
            )
        )

    def clear(self, s: Session, username: str | None, address: str | None) -> int:
        """Forget the failures of a name (everywhere), of an address (every name), or of both."""
        stmt = delete(LoginFailure)
        if username is not None:
            stmt = stmt.where(LoginFailure.username == _name(username))
        if address is not None:
            stmt = stmt.where(LoginFailure.address == address[:MAX_ADDRESS])
        return int(getattr(s.execute(stmt), "rowcount", 0) or 0)

    def count(self) -> int:
        with UnitOfWork(self._db, readonly=True) as uow:
            return uow.session.scalar(select(func.count()).select_from(LoginFailure)) or 0
