"""Changes to computers and to package states, told to whoever listens once they are committed.

Transports that push events to their clients (a message bus, a UI) need to hear that a
computer was created, changed or deleted, or that a package's state on a computer changed,
whichever transaction did it: an admin's call through any dialect, an agent's result, a
deployment rule. Instead of every service method announcing what it wrote (and some
forgetting), the session factory is watched: after each flush the computers and package-state
rows the ORM inserted, changed or deleted are noted on the session from memory (no SQL per
flush; a deleted computer's names are kept, it cannot be read afterwards); after the commit
the other computers' names and the families' keys are read in one short read-only
transaction and the changes go to the ``ChangeFeed`` port in one call; a rollback drops them.
A listener never sees a change that did not happen.

Not seen: writes that bypass the ORM's unit of work. Of those, the agents' progress notices
(one bulk statement per batch, the hot path) and the presence flush (online/last seen) are
deliberate: they are not changes of the record an admin works with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from fleetdeck.storage.tables import Computer, PackageFamily, PackageState

log = logging.getLogger("fleetdeck.changes")

Subject = Literal["computer", "package_state"]
Action = Literal["created", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change. ``hostname``/``fqdn`` name the computer (for both subjects);
    ``family_key``, ``installation_status`` and ``action_request`` are a package state's."""

    subject: Subject
    action: Action
    computer_id: int
    hostname: str = ""
    fqdn: str = ""
    family_key: str = ""
    installation_status: str = ""
    action_request: str = ""


class ChangeFeed(Protocol):
    """Told after commit; called in the committing (worker) thread, so it must not block."""

    def changed(self, changes: Sequence[Change]) -> None: ...


class NullChangeFeed:
    def changed(self, changes: Sequence[Change]) -> None:
        return None


class _Noted(NamedTuple):
    """What a flush saw of one row; names and keys are looked up once, after the commit."""

    subject: Subject
    action: Action
    computer_id: int
    family_id: int = 0
    hostname: str | None = None  # a computer's own change carries its names
    fqdn: str = ""
    installation_status: str = ""
    action_request: str = ""


def _collect(session: Session, key: object) -> None:
    """After each flush: note the rows the ORM wrote, from memory (no SQL: a transaction may
    flush thousands of times, e.g. one package state per computer of a deployment)."""
    found: list[tuple[Action, object]] = []
    found += [("created", o) for o in session.new if isinstance(o, Computer | PackageState)]
    found += [("deleted", o) for o in session.deleted if isinstance(o, Computer | PackageState)]
    found += [
        ("updated", o)
        for o in session.dirty
        if isinstance(o, Computer | PackageState) and session.is_modified(o, include_collections=False)
    ]
    if not found:
        return
    noted: list[_Noted] = session.info.setdefault(key, [])
    for action, o in found:
        if isinstance(o, Computer):
            noted.append(_Noted("computer", action, o.id, hostname=o.hostname, fqdn=o.fqdn))
        elif isinstance(o, PackageState):
            noted.append(
                _Noted(
                    "package_state",
                    action,
                    o.computer_id,
                    o.family_id,
                    installation_status=o.installation_status,
                    action_request=o.action_request,
                )
            )


def _resolve(engine: Engine, noted: Sequence[_Noted]) -> list[Change]:
    """The transaction's changes, one per row (``_squash``), with the computers' names and the
    families' keys: read in one short read-only transaction after the commit, two queries
    however many rows changed (a computer's own change brings its names along)."""
    rows = _squash(noted)
    names = {n.computer_id: (n.hostname, n.fqdn) for n in rows if n.hostname is not None}
    missing = {n.computer_id for n in rows} - names.keys()
    family_ids = {n.family_id for n in rows if n.subject == "package_state"}
    keys: dict[int, str] = {}
    if missing or family_ids:
        with engine.connect().execution_options(fd_readonly=True) as conn:
            if missing:
                query = select(Computer.id, Computer.hostname, Computer.fqdn).where(Computer.id.in_(missing))
                names.update({cid: (host, fqdn) for cid, host, fqdn in conn.execute(query)})
            if family_ids:
                found = conn.execute(
                    select(PackageFamily.id, PackageFamily.key).where(PackageFamily.id.in_(family_ids))
                )
                keys = {fid: fkey for fid, fkey in found}
    out: list[Change] = []
    for n in rows:
        host, fqdn = names.get(n.computer_id, ("", ""))
        if n.subject == "computer":
            out.append(Change("computer", n.action, n.computer_id, host, fqdn))
        else:
            out.append(
                Change(
                    "package_state",
                    n.action,
                    n.computer_id,
                    host,
                    fqdn,
                    keys.get(n.family_id, ""),
                    n.installation_status,
                    n.action_request,
                )
            )
    return out


def watch(sessions: sessionmaker[Session], feed: ChangeFeed) -> None:
    """Watch every session ``sessions`` makes (the composition root's one factory, so nothing
    global: another application in the same process has its own). Each watch notes on its own
    key, so two feeds on one factory both hear everything."""
    key = object()

    def flushed(session: Session, flush_context: Any) -> None:
        _collect(session, key)

    def committed(session: Session) -> None:
        noted: list[_Noted] = session.info.pop(key, [])
        if not noted:
            return
        try:
            bind = session.get_bind()
            assert isinstance(bind, Engine)
            feed.changed(_resolve(bind, noted))
        except Exception:
            # The change is committed: its caller must not see an error for it. Announcements
            # are at most once anyway (the bus's contract); this one is lost and logged.
            log.exception("committed changes could not be announced")

    def rolled_back(session: Session, *_: Any) -> None:
        session.info.pop(key, None)

    event.listen(sessions, "after_flush", flushed)
    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", rolled_back)


def _squash(noted: Sequence[_Noted]) -> list[_Noted]:
    """One change per row and transaction: a row created and then updated in the same
    transaction was created (with its last values); deleted wins over everything."""
    out: dict[tuple[str, int, int], _Noted] = {}
    for n in noted:
        row = (n.subject, n.computer_id, n.family_id)
        before = out.pop(row, None)  # popped: the order is that of the last change
        created = before is not None and before.action == "created" and n.action == "updated"
        out[row] = n._replace(action="created") if created else n
    return list(out.values())
