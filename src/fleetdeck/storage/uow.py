"""Unit of work: one transaction per service call; helpers never commit."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session

from fleetdeck.storage.db import Database


class UnitOfWork:
    """``with UnitOfWork(db) as uow: ...`` commits on success and rolls back on error."""

    def __init__(self, db: Database, *, readonly: bool = False) -> None:
        self._db = db
        self._readonly = readonly
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._db.session(readonly=self._readonly)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                self.session.rollback()
            elif not self._readonly:
                self.session.commit()
            # A read-only unit just closes: its transaction ends without expiring what was loaded,
            # so values read inside stay usable after the block.
        finally:
            self.session.close()

    def flush(self) -> None:
        self.session.flush()
