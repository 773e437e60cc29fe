"""Changes to computers and to package states, told to whoever listens once they are committed.

Transports that push events to their clients (a message bus, a UI) need to hear that a
computer was created, changed or deleted, or that a package's state on a computer changed,
whichever transaction did it: an admin's call through any dialect, an agent's result, a
deployment rule. Instead of every service method announcing what it wrote (and some
forgetting), the session factory is watched: after each flush the computers and package-state
rows the ORM inserted, changed or deleted are noted on the session, with the few facts a
listener needs (a deleted row cannot be read afterwards); after the commit they go to the
``ChangeFeed`` port in one call; a rollback drops them. A listener never sees a change that
did not happen.

Not seen: writes that bypass the ORM's unit of work. Of those, the agents' progress notices
(one bulk statement per batch, the hot path) and the presence flush (online/last seen) are
deliberate: they are not changes of the record an admin works with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from fleetdeck.storage.tables import Computer, PackageFamily, PackageState

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


def _collect(session: Session, key: object) -> None:
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
    conn = session.connection()
    computer_ids = {o.id if isinstance(o, Computer) else o.computer_id for _, o in found}  # type: ignore[attr-defined]
    names = {o.id: (o.hostname, o.fqdn) for _, o in found if isinstance(o, Computer)}
    missing = computer_ids - names.keys()
    if missing:  # plain SQL on the flushing connection: no ORM flush from inside a flush
        found_names = conn.execute(
            select(Computer.id, Computer.hostname, Computer.fqdn).where(Computer.id.in_(missing))
        )
        names.update({cid: (host, fqdn) for cid, host, fqdn in found_names})
    family_ids = {o.family_id for _, o in found if isinstance(o, PackageState)}
    keys: dict[int, str] = {}
    if family_ids:
        found_keys = conn.execute(
            select(PackageFamily.id, PackageFamily.key).where(PackageFamily.id.in_(family_ids))
        )
        keys = {fid: key for fid, key in found_keys}
    noted: list[Change] = session.info.setdefault(key, [])
    for action, o in found:
        if isinstance(o, Computer):
            noted.append(Change("computer", action, o.id, o.hostname, o.fqdn))
        elif isinstance(o, PackageState):
            host, fqdn = names.get(o.computer_id, ("", ""))
            noted.append(
                Change(
                    "package_state",
                    action,
                    o.computer_id,
                    host,
                    fqdn,
                    keys.get(o.family_id, ""),
                    o.installation_status,
                    o.action_request,
                )
            )


def watch(sessions: sessionmaker[Session], feed: ChangeFeed) -> None:
    """Watch every session ``sessions`` makes (the composition root's one factory, so nothing
    global: another application in the same process has its own). Each watch notes on its own
    key, so two feeds on one factory both hear everything."""
    key = object()

    def flushed(session: Session, flush_context: Any) -> None:
        _collect(session, key)

    def committed(session: Session) -> None:
        noted: list[Change] = session.info.pop(key, [])
        if noted:
            feed.changed(_squash(noted))

    def rolled_back(session: Session, *_: Any) -> None:
        session.info.pop(key, None)

    event.listen(sessions, "after_flush", flushed)
    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", rolled_back)


def _squash(noted: Sequence[Change]) -> list[Change]:
    """One change per row and transaction: a row created and then updated in the same
    transaction was created (with its last values); deleted wins over everything."""
    out: dict[tuple[str, int, str], Change] = {}
    for c in noted:
        key = (c.subject, c.computer_id, c.family_key)
        before = out.pop(key, None)  # popped: the order is that of the last change
        created = before is not None and before.action == "created" and c.action == "updated"
        out[key] = replace(c, action="created") if created else c
    return list(out.values())
