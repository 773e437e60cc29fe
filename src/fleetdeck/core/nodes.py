"""Node identity: which server process holds a computer's agent connection.

A computer row says ``online`` and the ``node_id`` of the server process its agent is connected
to. When that process dies, nobody else knows which rows were its, so the name must identify one
living process and nothing else: a second process started by mistake (a second ``fleetdeck
server`` on the same data directory, a second process on the same PostgreSQL database with the
default ``node_id``) must not be able to claim a name that a live process uses, or it would
"clean up after its own restart" by marking the live process's agents offline.

So a node name is held as a lease (``core.leases``) named ``node:<name>``, by a token unique to
the process, renewed every few seconds by housekeeping:

- At start a process claims the configured ``node_id``. If a live process holds it, it takes
  ``<node_id>-<random>`` instead (and says so); it never waits for or takes over a live lease.
- Claiming a name whose lease had run out or had been released is the only time a process
  marks the computers still recorded under that name offline ("held before it restarted").
- A name whose lease runs out without a clean stop (the process was killed or hangs) is swept by
  whichever process runs the ``nodes.sweep`` duty: its computers go offline and the lease row is
  removed, in one transaction that first takes the lease from the dead holder, so that two
  sweepers, or a sweeper and the holder renewing late, cannot both act on it.
- A process that finds its lease gone (it hung longer than the lease) takes a new name and
  re-marks its connections online under it (``Housekeeping``'s ``moved`` callback).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import Table, delete, update
from sqlalchemy.orm import Session

from fleetdeck.core.leases import LeaseService
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, Lease
from fleetdeck.storage.uow import UnitOfWork

log = logging.getLogger("fleetdeck.nodes")

_LEASES: Table = Lease.__table__  # type: ignore[assignment]
PREFIX = "node:"
RENEW_SEC = 5.0  # housekeeping renews a node's lease this often
LEASE_SEC = 30.0  # a node whose lease is this old without renewal is taken for dead
# A lease must outlast a few missed renewals: one late round (a slow database, a GC pause)
# must not cost a live process its name and mark its agents offline.
RENEWALS_PER_LEASE = 3
MIN_LEASE_SEC = RENEWALS_PER_LEASE * RENEW_SEC
NAME_MAX = 64  # computers.node_id


def check_lease_sec(lease_sec: float, renew_sec: float = RENEW_SEC) -> None:
    """ValueError unless a lease of ``lease_sec`` outlasts RENEWALS_PER_LEASE renewals every
    ``renew_sec``: a shorter lease runs out whenever one renewal is late, and the process is
    then taken for dead while it is alive."""
    need = RENEWALS_PER_LEASE * renew_sec
    if lease_sec < need:
        raise ValueError(
            f"node_lease_sec must be at least {need:g} s ({RENEWALS_PER_LEASE} renewals of the node"
            f" lease, one every {renew_sec:g} s); got {lease_sec:g}"
        )


def lease_name(node: str) -> str:
    return PREFIX + node


class NodeService:
    def __init__(self, db: Database, clock: Clock, lease_sec: float = LEASE_SEC) -> None:
        check_lease_sec(lease_sec)
        self._db = db
        self._clock = clock
        self._leases = LeaseService(db, clock)
        self.ttl = timedelta(seconds=lease_sec)

    def claim(self, wanted: str, holder: str) -> str:
        """This process's node name: ``wanted`` unless a live process holds it, else a derived
        one. Computers still recorded under the name from its previous holder go offline."""
        wanted = wanted[:NAME_MAX]
        name = wanted
        while not self._leases.acquire(lease_name(name), holder, self.ttl):
            name = f"{wanted[: NAME_MAX - 9]}-{secrets.token_hex(4)}"
        if name != wanted:
            log.warning(
                "node id %r is in use by another running server process; this one is %r"
                " (give each process its own FLEETDECK_NODE_ID)",
                wanted,
                name,
            )
        reset = self._offline(name)
        if reset:
            log.info("marked %d computers offline that node %s held before it restarted", reset, name)
        return name

    def renew(self, name: str, holder: str) -> bool:
        """False when the name is no longer this process's (it hung past its lease)."""
        return self._leases.renew(lease_name(name), holder, self.ttl)

    def release(self, name: str, holder: str) -> None:
        """A clean stop, after its computers were marked offline: the name is free at once."""
        with UnitOfWork(self._db) as uow:
            uow.session.execute(
                delete(_LEASES).where(_LEASES.c.name == lease_name(name), _LEASES.c.holder == holder)
            )

    def sweep(self) -> int:
        """Computers marked offline because the node holding them died (its lease ran out)."""
        total = 0
        for lease in self._leases.expired(PREFIX):
            node = lease.name[len(PREFIX) :]
            with UnitOfWork(self._db) as uow:
                s = uow.session
                taken = s.execute(
                    delete(_LEASES).where(
                        _LEASES.c.name == lease.name,
                        _LEASES.c.holder == lease.holder,
                        _LEASES.c.expires_at < self._clock(),
                    )
                )
                if int(getattr(taken, "rowcount", 0) or 0) != 1:
                    continue  # renewed meanwhile, or another sweeper was first
                count = _offline(s, node)
            if count:
                log.info("node %s stopped renewing its lease; marked its %d computers offline", node, count)
            total += count
        return total

    def _offline(self, node: str) -> int:
        with UnitOfWork(self._db) as uow:
            return _offline(uow.session, node)


def _offline(session: Session, node: str) -> int:
    """Every computer recorded as held by ``node`` goes offline; how many."""
    result = session.execute(
        update(Computer).where(Computer.node_id == node).values(online=False, node_id=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
