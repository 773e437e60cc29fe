"""Periodic duties of the server, each run by exactly one server process at a time.

Job expiry, failing jobs whose agent never came back, deployment ticks (Wake-on-LAN at start
time, the shutdown decisions of earlier wakes, jobs held back until their time), purging ended
web sessions, removing abandoned payload uploads and pushed files no job needs any more, purging
measurements older than their retention, sending alert notifications, firing the schedules whose
tick has come (``core.jobs.schedules``): each is a
``Duty`` that runs every ``interval`` seconds in a worker thread, in the process that holds its
lease (``core.leases``). Every process started by ``create_app`` runs a ``Housekeeping``; they
agree through the database, so several processes share the work without talking to each other,
and when the holder dies another one takes the duty over once its lease runs out.

Housekeeping also keeps this process's node name (``core.nodes``): every process renews its
own node lease, and a process that finds it gone takes a new name and tells the agent hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from fleetdeck.core.leases import LeaseService
from fleetdeck.core.nodes import RENEW_SEC, NodeService
from fleetdeck.core.services import Services

log = logging.getLogger("fleetdeck.housekeeping")

EXPIRY_SEC = 10.0
DEPLOYMENT_TICK_SEC = 15.0
NODE_SWEEP_SEC = 10.0
SESSION_PURGE_SEC = 300.0  # ended web sessions are refused anyway; this only frees the rows
EVENT_PURGE_SEC = 600.0  # OCO's housekeeping runs every 10 min too
POLLING_SWEEP_SEC = 15.0  # polling agents' computers turn offline at most this late
UPLOAD_PURGE_SEC = 600.0  # uploads are abandoned after hours (uploads.abandon_after_sec)
FILE_PURGE_SEC = 600.0  # a pushed file outlives its last pending job by at most this
NOTIFY_SEC = 5.0  # a queued alert notification waits at most this long to be sent
MEASUREMENT_PURGE_SEC = 600.0  # measurements outlive monitoring.retention_sec by at most this
SCHEDULE_TICK_SEC = 10.0  # a schedule fires at most this late (cron has minutes)
LOST_AFTER_SEC = 3600.0  # Settings.job_lost_after_sec
# A duty's lease is renewed at least this often, however rarely the duty runs, so that its lease
# can be short (three rounds) and another process takes a dead holder's duties over within
# about half a minute, not three intervals of the rarest duty (45 min for the event purge).
LEASE_ROUND_SEC = 10.0

Moved = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Duty:
    name: str  # also the lease's name
    interval: float  # seconds between runs
    run: Callable[[], object]  # blocking (core services); its result is logged when truthy
    lease_sec: float | None = None  # how long a round holds the duty; default three rounds

    @property
    def round(self) -> float:
        """Seconds between lease rounds: the interval, or ``LEASE_ROUND_SEC`` if shorter."""
        return min(self.interval, LEASE_ROUND_SEC)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_sec or max(3 * self.round, 1.0))


def standard_duties(
    services: Services,
    *,
    expiry_sec: float = EXPIRY_SEC,
    tick_sec: float = DEPLOYMENT_TICK_SEC,
    lost_after_sec: float = LOST_AFTER_SEC,
    schedule_sec: float = SCHEDULE_TICK_SEC,
) -> list[Duty]:
    def deployments() -> int:
        woken = services.deployments.tick()  # includes the Wake-on-LAN shutdown decisions
        services.jobs.announce_queued()  # the hubs deliver what has become due
        return woken

    def uploads() -> int:
        after = timedelta(seconds=int(services.settings.value("uploads.abandon_after_sec")))
        return services.packages.purge_abandoned_uploads(after)

    return [
        Duty("jobs.expiry", expiry_sec, services.jobs.expire_overdue),
        Duty("jobs.lost", expiry_sec, lambda: services.jobs.fail_lost(timedelta(seconds=lost_after_sec))),
        Duty("deployments.tick", tick_sec, deployments),
        Duty("nodes.sweep", NODE_SWEEP_SEC, services.nodes.sweep),
        Duty("sessions.purge", SESSION_PURGE_SEC, services.sessions.purge),
        Duty("polling.offline", POLLING_SWEEP_SEC, services.polling.mark_offline),
        Duty("polling.purge_events", EVENT_PURGE_SEC, services.agent_records.purge_events),
        Duty("uploads.purge", UPLOAD_PURGE_SEC, uploads),
        Duty("files.purge", FILE_PURGE_SEC, services.file_pushes.purge_unused),
        Duty("notifications.send", NOTIFY_SEC, services.alerting.dispatch),
        Duty("monitoring.purge", MEASUREMENT_PURGE_SEC, services.monitoring.purge),
        Duty("schedules.run", schedule_sec, services.schedules.run_due),
    ]


class Housekeeping:
    def __init__(
        self,
        leases: LeaseService,
        duties: Sequence[Duty],
        holder: str,
        *,
        nodes: NodeService | None = None,
        node_renew_sec: float = RENEW_SEC,
    ) -> None:
        """``holder`` names this process uniquely (node id + a random suffix), so that no
        other process renews its leases as if they were its own. With ``nodes``, it also
        holds this process's node name (``claim_node``)."""
        self._leases = leases
        self.duties = list(duties)
        self.holder = holder
        self.held: set[str] = set()  # duties this process holds now
        self.runs: Counter[str] = Counter()  # runs done here, by duty
        self._tasks: list[asyncio.Task[None]] = []
        self._nodes = nodes
        self._node_renew_sec = node_renew_sec
        self._wanted_node = ""
        self.node: str | None = None  # this process's node name, once claimed
        self._moved: Moved | None = None

    async def claim_node(self, wanted: str, moved: Moved) -> str:
        """Claim this process's node name (see ``core.nodes``); ``moved`` is called with a new
        one if this process ever loses it."""
        assert self._nodes is not None
        self._wanted_node, self._moved = wanted, moved
        self.node = await asyncio.to_thread(self._nodes.claim, wanted, self.holder)
        return self.node

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(duty)) for duty in self.duties]
        if self.node is not None:
            self._tasks.append(asyncio.create_task(self._node_loop()))

    async def release_node(self) -> None:
        """After a clean stop has marked this node's computers offline: free its name now."""
        if self._nodes is None or self.node is None:
            return
        node, self.node = self.node, None
        try:
            await asyncio.to_thread(self._nodes.release, node, self.holder)
        except Exception:  # it runs out by itself
            log.exception("releasing node %s failed", node)

    async def _node_loop(self) -> None:
        while True:
            await asyncio.sleep(self._node_renew_sec)
            await self.renew_node()

    async def renew_node(self) -> None:
        """Renew this process's node lease; if it is gone, take a new name (the hub re-marks
        its connections online under it)."""
        assert self._nodes is not None
        assert self.node is not None
        assert self._moved is not None
        try:
            if await asyncio.to_thread(self._nodes.renew, self.node, self.holder):
                return
            log.warning("node %s lost its lease (this process stalled?); claiming a name again", self.node)
            self.node = await asyncio.to_thread(self._nodes.claim, self._wanted_node, self.holder)
            await self._moved(self.node)
        except Exception:  # the database is away: try again next round
            log.exception("renewing the lease of node %s failed", self.node)

    async def stop(self, *, release: bool = True) -> None:
        """Stop; with ``release`` (a clean stop) the leases are given up at once, so another
        process takes the duties over at its next round instead of when they run out."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        held, self.held = self.held, set()
        if release:
            for name in sorted(held):
                try:
                    await asyncio.to_thread(self._leases.release, name, self.holder)
                except Exception:  # it runs out by itself
                    log.exception("releasing the lease of %s failed", name)

    async def _loop(self, duty: Duty) -> None:
        loop = asyncio.get_running_loop()
        last_run = -duty.interval  # a process that takes a duty over runs it at once
        while True:
            await asyncio.sleep(duty.round)
            due = loop.time() - last_run >= duty.interval - duty.round / 2
            if await self.run_once(duty, run=due) and due:
                last_run = loop.time()

    async def run_once(self, duty: Duty, *, run: bool = True) -> bool:
        """One round: take or renew the lease, and run the duty if this process holds it (and
        ``run``: a round between two runs only renews). True if it holds the duty and the run,
        if any, went well."""
        try:
            mine = await asyncio.to_thread(self._leases.acquire, duty.name, self.holder, duty.lease)
        except Exception:
            log.exception("taking the lease of %s failed", duty.name)
            return False
        if not mine:
            if duty.name in self.held:
                log.warning("lost the lease of %s to another server process", duty.name)
            self.held.discard(duty.name)
            return False
        if duty.name not in self.held:
            log.info("running %s here (%s)", duty.name, self.holder)
            self.held.add(duty.name)
        if not run:
            return True
        try:
            result = await asyncio.to_thread(duty.run)
        except Exception:
            log.exception("%s failed", duty.name)
            return False
        self.runs[duty.name] += 1
        if result:
            log.info("%s: %s", duty.name, result)
        return True
