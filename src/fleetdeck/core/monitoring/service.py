"""Monitoring: agents' measurements in, lists and downsampled graphs out, old ones purged.

Intake validates and bounds each measurement (at most ``MAX_MOUNTPOINTS`` mountpoints and
``MAX_PROCESSES`` processes, texts cut) and stamps it with the server's clock: ``intake`` stores
one with ONE insert; ``intake_batch`` (what the agent endpoint uses: it gathers agents' frames
for its flush interval, as it does job results) stores a batch with ONE executemany. It is
telemetry like heartbeats and job output: not audited per row (a fleet of 10,000 computers
sends 10,000 a minute); the retention purge reports its count. Code
that wants to react to measurements (alert rules) appends a callable to ``intake_hooks``: it
is called with the computer id and the stored ``MeasurementInfo`` after the commit.

Reads need ``Perm.READ_MONITORING`` and reach only computers the caller may reach
(``groups.rules.reach``: assignments and user groups); a computer the caller may not reach is
"not found". A list is a constant number of statements (the computer, the count, the page).

Graphs (``graph``) downsample in SQL: a window of 2 to 48 hours (else ValidationFailed) is cut
into buckets of ``window_hours x 29`` seconds (about 124 points whatever the window); each
bucket gives avg (rounded to 2 places), min and max per value. ``taken_at`` is unix seconds,
so a bucket is an integer division, the same SQL on every database.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Numeric, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from fleetdeck.core import query as q
from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FeatureDisabled, NotFound, ValidationFailed
from fleetdeck.core.groups.rules import reach
from fleetdeck.core.monitoring.settings import ENABLED, INTERVAL, RETENTION
from fleetdeck.core.ports import Clock
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.protocol import messages as m
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, Measurement
from fleetdeck.storage.uow import UnitOfWork

log = logging.getLogger("fleetdeck.monitoring")

MAX_MOUNTPOINTS = 64
MAX_PROCESSES = 30
MAX_NAME = 255
MAX_CMDLINE = 1024
INT_MAX = 2**63 - 1
MAX_RATE = 1e15  # bytes/s: anything above is a broken counter
MIN_WINDOW_SEC = 2 * 3600
MAX_WINDOW_SEC = 48 * 3600
BUCKETS_PER_HOUR = 29  # rportd's: a bucket is window_hours x 29 seconds

# graph name -> (value columns as (output key, column, percent-of-speed column or None))
_LAN = ("net_lan_in", "net_lan_out", "net_lan_mbit")
_WAN = ("net_wan_in", "net_wan_out", "net_wan_mbit")
GRAPHS: dict[str, tuple[str, ...]] = {
    "cpu_usage_percent": ("cpu_usage_percent",),
    "mem_usage_percent": ("memory_usage_percent",),
    "io_usage_percent": ("io_usage_percent",),
    "net_usage_bps_lan": ("net_lan_in", "net_lan_out"),
    "net_usage_bps_wan": ("net_wan_in", "net_wan_out"),
    "net_usage_percent_lan": ("net_lan_in%", "net_lan_out%"),
    "net_usage_percent_wan": ("net_wan_in%", "net_wan_out%"),
}
DEFAULT_GRAPH = ("cpu_usage_percent", "memory_usage_percent", "io_usage_percent")
_SPEED = {"net_lan_in": "net_lan_mbit", "net_lan_out": "net_lan_mbit"} | {
    "net_wan_in": "net_wan_mbit",
    "net_wan_out": "net_wan_mbit",
}
FIELDS: q.Fields = {"id": Measurement.id, "taken_at": Measurement.taken_at}


@dataclass(frozen=True, slots=True)
class MeasurementInfo:
    computer_id: int
    taken_at: int  # unix seconds
    cpu_usage_percent: float
    memory_usage_percent: float
    io_usage_percent: float | None
    net_lan_in: float | None
    net_lan_out: float | None
    net_wan_in: float | None
    net_wan_out: float | None
    mountpoints: dict[str, dict[str, int]]  # path -> {"total_bytes", "free_bytes"}
    processes: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Stat:
    avg: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class GraphPoint:
    timestamp: int  # the bucket's start, unix seconds
    values: dict[str, Stat] = field(default_factory=dict)  # value name -> its bucket statistics


Hook = Callable[[int, MeasurementInfo], None]


def _percent(value: float, name: str) -> float:
    if not math.isfinite(value) or not 0 <= value <= 100:
        raise ValidationFailed(f"{name} must be a percentage (0..100), not {value!r}", field=name)
    return float(value)


def _rate(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_RATE:
        raise ValidationFailed(f"{name} must be a rate of 0 or more, not {value!r}", field=name)
    return float(value)


def _bounded(value: int) -> int:
    return value if 0 <= value <= INT_MAX else (0 if value < 0 else INT_MAX)


def _process(p: m.ProcessSample) -> dict[str, Any]:
    return {
        "pid": _bounded(p.pid),
        "parent_pid": _bounded(p.parent_pid),
        "name": p.name[:MAX_NAME],
        "user": p.user[:MAX_NAME],
        "cmdline": p.cmdline[:MAX_CMDLINE],
        "num_threads": _bounded(p.num_threads),
        "cpu_percent": round(p.cpu_percent, 2) if math.isfinite(p.cpu_percent) else 0.0,
        "memory_percent": round(p.memory_percent, 2) if math.isfinite(p.memory_percent) else 0.0,
        "rss_bytes": _bounded(p.rss_bytes),
    }


def check(msg: m.Measurement) -> dict[str, Any]:
    """The row's values for ``msg``: percentages 0..100, rates finite and not negative
    (ValidationFailed otherwise); mountpoints and processes bounded and cut, not refused."""
    mounts = {
        mp.path[:MAX_NAME]: {"total_bytes": _bounded(mp.total_bytes), "free_bytes": _bounded(mp.free_bytes)}
        for mp in msg.mountpoints[:MAX_MOUNTPOINTS]
    }
    return {
        "cpu_usage_percent": _percent(msg.cpu_usage_percent, "cpu_usage_percent"),
        "memory_usage_percent": _percent(msg.memory_usage_percent, "memory_usage_percent"),
        "io_usage_percent": None
        if msg.io_usage_percent is None
        else _percent(msg.io_usage_percent, "io_usage_percent"),
        **{name: _rate(getattr(msg, name), name) for name in (*_LAN, *_WAN)},
        "mountpoints": mounts,
        "processes": [_process(p) for p in msg.processes[:MAX_PROCESSES]],
    }


def _info(r: Measurement) -> MeasurementInfo:
    return MeasurementInfo(
        computer_id=r.computer_id,
        taken_at=r.taken_at,
        cpu_usage_percent=r.cpu_usage_percent,
        memory_usage_percent=r.memory_usage_percent,
        io_usage_percent=r.io_usage_percent,
        net_lan_in=r.net_lan_in,
        net_lan_out=r.net_lan_out,
        net_wan_in=r.net_wan_in,
        net_wan_out=r.net_wan_out,
        mountpoints=dict(r.mountpoints or {}),
        processes=list(r.processes or []),
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class MonitoringService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, settings: SettingsService) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self.intake_hooks: list[Hook] = []  # called after each stored measurement (alerting)

    # ------------------------------------------------------------ settings

    def enabled(self) -> bool:
        return bool(self._settings.value(ENABLED))

    def agent_interval(self) -> float:
        """What agents are told in their Welcome: seconds between measurements, 0 = none."""
        return float(self._settings.value(INTERVAL)) if self.enabled() else 0.0

    def _require_enabled(self) -> None:
        if not self.enabled():
            raise FeatureDisabled("monitoring is disabled")

    # ------------------------------------------------------------ intake

    def intake(self, actor: Actor, computer_id: int, msg: m.Measurement) -> MeasurementInfo | None:
        """Store one measurement of ``computer_id`` (ONE insert). The agent endpoint calls it
        with the agent's actor and the computer its key authenticated; a user needs
        ``manage_computers``. None when monitoring is disabled (the measurement is dropped)."""
        if actor.via != "agent" and actor.user_id is not None:
            actor.require(Perm.MANAGE_COMPUTERS)
        if not self.enabled():
            return None
        values = check(msg)
        taken_at = int(self._clock().timestamp())
        with UnitOfWork(self._db) as uow:  # a plain INSERT: no ORM flush for a row nobody reads back
            uow.session.execute(
                insert(Measurement), [{"computer_id": computer_id, "taken_at": taken_at, **values}]
            )
        info = MeasurementInfo(computer_id=computer_id, taken_at=taken_at, **_public(values))
        for hook in self.intake_hooks:
            hook(computer_id, info)
        return info

    def intake_batch(self, items: list[tuple[int, m.Measurement]]) -> int:
        """What agents sent, gathered by the agent endpoint for a moment: ``(computer_id,
        measurement)`` pairs (each computer authenticated by its agent key), stamped now and
        stored with ONE executemany. A measurement with values out of range is dropped (and
        logged), not the batch. Hooks run per stored measurement. Returns how many were stored."""
        if not items or not self.enabled():
            return 0
        taken_at = int(self._clock().timestamp())
        rows: list[dict[str, Any]] = []
        for computer_id, msg in items:
            try:
                rows.append({"computer_id": computer_id, "taken_at": taken_at, **check(msg)})
            except ValidationFailed as exc:
                log.warning("measurement of computer %s dropped: %s", computer_id, exc.message)
        if rows:
            with UnitOfWork(self._db) as uow:
                uow.session.execute(insert(Measurement), rows)
        if self.intake_hooks:
            for row in rows:
                info = MeasurementInfo(**_public(row))
                for hook in self.intake_hooks:
                    hook(row["computer_id"], info)
        return len(rows)

    def intake_many(self, rows: list[tuple[int, int, m.Measurement]]) -> int:
        """Batched intake for tools and benchmarks: ``(computer_id, taken_at, msg)`` rows in one
        executemany; returns how many were stored. No hooks run."""
        self._require_enabled()
        values = [{"computer_id": cid, "taken_at": at, **check(msg)} for cid, at, msg in rows]
        if values:
            with UnitOfWork(self._db) as uow:
                uow.session.execute(insert(Measurement), values)
        return len(values)

    # ------------------------------------------------------------ reads

    def _computer(self, s: Session, actor: Actor, computer: int | str) -> int:
        """The id of ``computer`` (an id, or a uid as the rport dialect names clients), if the
        actor may read its measurements; NotFound otherwise. One statement."""
        key = Computer.uid == computer if isinstance(computer, str) else Computer.id == computer
        stmt = select(Computer.id).where(key)
        scope = reach(s, actor, Perm.READ_MONITORING, Computer.id)
        if scope is not None:
            stmt = stmt.where(scope)
        found = s.scalar(stmt)
        if found is None:
            raise NotFound("computer", computer)
        return int(found)

    def find(self, actor: Actor, computer: int | str, query: q.Query) -> q.Page[MeasurementInfo]:
        """The computer's measurements matching ``query`` (fields ``taken_at``, ``id``; newest
        first unless sorted otherwise) and their total: three statements whatever the page."""
        actor.require(Perm.READ_MONITORING)
        self._require_enabled()
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            cid = self._computer(s, actor, computer)
            base = select(Measurement).where(Measurement.computer_id == cid)
            count = select(func.count()).select_from(Measurement).where(Measurement.computer_id == cid)
            stmt, count_stmt = q.apply_query(base, count, query, FIELDS, default_sort="-taken_at")
            assert count_stmt is not None
            total = int(s.scalar(count_stmt) or 0)
            return q.Page([_info(r) for r in s.scalars(stmt)], total)

    def graph(
        self,
        actor: Actor,
        computer: int | str,
        since: int,
        until: int,
        names: tuple[str, ...] = DEFAULT_GRAPH,
        *,
        descending: bool = True,
    ) -> list[GraphPoint]:
        """Downsampled values ``names`` (measurement columns; ``<column>%`` is a network rate as
        a percentage of the card's speed) between ``since`` and ``until`` (unix seconds,
        inclusive): one point per non-empty bucket, newest first unless ``descending`` is False."""
        actor.require(Perm.READ_MONITORING)
        self._require_enabled()
        window = until - since
        if not MIN_WINDOW_SEC <= window <= MAX_WINDOW_SEC:
            raise ValidationFailed(
                f"the graph window must be between 2 and 48 hours (it is {window / 3600:.2f} hours)",
                field="timestamp",
            )
        bucket_sec = bucket_seconds(window)
        columns = [_value(name) for name in names]
        bucket = (Measurement.taken_at // bucket_sec).label("bucket")
        stats = []
        for expr in columns:
            stats += [func.round(cast(func.avg(expr), Numeric), 2), func.min(expr), func.max(expr)]
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            cid = self._computer(s, actor, computer)
            stmt = (
                select(bucket, *stats)
                .where(
                    Measurement.computer_id == cid,
                    Measurement.taken_at >= since,
                    Measurement.taken_at <= until,
                )
                .group_by(bucket)
                .order_by(bucket.desc() if descending else bucket.asc())
            )
            rows = s.execute(stmt).all()
        points = []
        for row in rows:
            values = {
                name: Stat(_number(row[1 + 3 * i]), _number(row[2 + 3 * i]), _number(row[3 + 3 * i]))
                for i, name in enumerate(names)
            }
            points.append(GraphPoint(int(row[0]) * bucket_sec, values))
        return points

    # ------------------------------------------------------------ retention

    def purge(self) -> int:
        """Periodic (housekeeping ``monitoring.purge``): measurements older than
        ``monitoring.retention_sec`` go; returns how many."""
        cutoff = self._clock() - timedelta(seconds=int(self._settings.value(RETENTION)))
        with UnitOfWork(self._db) as uow:
            result = uow.session.execute(
                delete(Measurement)
                .where(Measurement.taken_at < int(cutoff.timestamp()))
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)


def bucket_seconds(window_sec: int) -> int:
    """rportd's bucket: window hours x 29 seconds (2 h -> 58 s, 48 h -> 1392 s)."""
    return max(1, window_sec * BUCKETS_PER_HOUR // 3600)


def _value(name: str) -> Any:
    """The SQL expression of a graph value: a column, or ``<rate column>%`` as a percentage of
    the card's speed (Mbit/s x 125,000 bytes/s is 100 %)."""
    if name.endswith("%"):
        rate = getattr(Measurement, name[:-1])
        speed = getattr(Measurement, _SPEED[name[:-1]])
        return rate / (func.nullif(speed, 0) * 125_000) * 100
    return getattr(Measurement, name)


def _public(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ("net_lan_mbit", "net_wan_mbit")}
