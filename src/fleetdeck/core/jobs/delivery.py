"""Choosing the queued jobs to hand to connected agents, and what their ``JobSpec`` says.

A job is delivered when its batch is enabled, has started (``start_at``), and its time frames
and agent IP ranges allow it now and from where the agent connects. Jobs that are held back
stay queued; the hub's periodic re-dispatch looks at them again. Order: batch priority
(highest first), then older batches first, then ``sequence`` within the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Exists, Row, Text, cast, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from fleetdeck.core.jobs.conditions import ip_allowed, time_allowed
from fleetdeck.core.jobs.entities import FINAL, PACKAGE_KINDS, SEQUENTIAL, JobStatus
from fleetdeck.core.packages import states
from fleetdeck.core.packages.properties import effective_values
from fleetdeck.protocol import messages as msg
from fleetdeck.storage.tables import Computer, Job, JobBatch, Package

PAYLOAD_PATH = "/agent/v1/payload/{package_id}"
DEFAULT_PACKAGE_TIMEOUT_SEC = 3600


def _overdue(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Job.status == JobStatus.QUEUED.value, Job.expires_at.is_not(None), Job.expires_at <= now)


def expire_queued(s: Session, now: datetime, computer_ids: Sequence[int]) -> int:
    """Expire the overdue queued jobs of these computers (at delivery)."""
    stmt = update(Job).where(*_overdue(now), Job.computer_id.in_(computer_ids))
    result = s.execute(stmt.values(status=JobStatus.EXPIRED.value, finished_at=now))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        expired = select(Job.id).where(
            Job.computer_id.in_(computer_ids),
            Job.status == JobStatus.EXPIRED.value,
            Job.finished_at == now,
        )
        states.ended(s, list(s.scalars(expired)), now)
    return count


def expire_all_queued(s: Session, now: datetime) -> list[int]:
    """Expire every overdue queued job; returns their ids (to announce). The rows are locked
    first on PostgreSQL (SQLite's write transaction holds the whole database), so the ids are
    exactly the rows the update changes."""
    ids = list(s.scalars(select(Job.id).where(*_overdue(now)).with_for_update()))
    if ids:
        s.execute(update(Job).where(*_overdue(now)).values(status=JobStatus.EXPIRED.value, finished_at=now))
        states.ended(s, ids, now)
    return ids


# Columns, not entities: claiming 10,000 jobs as ORM objects (Job, JobBatch, Package each) cost
# about a second in object construction alone. The JSON columns come as text and are decoded
# once per distinct value (see _Decoder): a fan-out's 10,000 rows carry one spec and one
# batch's conditions, and decoding each row's copy was a third of the claim's time.
_COLUMNS: tuple[Any, ...] = (
    Job.id,
    Job.computer_id,
    Job.kind,
    cast(Job.spec, Text).label("spec"),
    Job.package_id,
    Job.procedure,
    Job.success_codes,
    Job.download,
    Job.post_action,
    Job.post_action_timeout_min,
    Job.sequence,
    JobBatch.id.label("batch_id"),
    JobBatch.kind.label("batch_kind"),
    JobBatch.sequence_mode,
    cast(JobBatch.agent_ip_ranges, Text).label("agent_ip_ranges"),
    cast(JobBatch.time_frames, Text).label("time_frames"),
    Package.payload_sha256,
    Package.payload_size,
)
_UPDATE_CHUNK = 5000  # ids per UPDATE ... WHERE id IN (...): below every backend's parameter limit


class _Decoder:
    """JSON text to Python, once per distinct text. Callers must not mutate what it returns."""

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}

    def __call__(self, raw: str | None, empty: Any) -> Any:
        if raw is None:
            return empty
        value = self._seen.get(raw)
        if value is None:
            value = self._seen[raw] = msgspec.json.decode(raw)
        return value if value is not None else empty


def package_params(row: Row[Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """What the agent needs to run a package job (see agent/packages.py)."""
    download = bool(row.download) and row.payload_sha256 is not None
    params: dict[str, Any] = {
        "package_id": row.package_id,
        "procedure": row.procedure or "",
        "success_codes": row.success_codes or "",
        "download": download,
        "post_action": row.post_action or 0,
        "post_action_timeout_min": row.post_action_timeout_min or 0,
        "container_id": row.batch_id,
        "sequence": row.sequence,
        "sequence_mode": row.sequence_mode if row.batch_kind == "deployment" else 0,
        "timeout_sec": int(spec.get("timeout_sec", DEFAULT_PACKAGE_TIMEOUT_SEC)),
    }
    if download:
        params["payload_path"] = PAYLOAD_PATH.format(package_id=row.package_id)
        params["payload_sha256"] = row.payload_sha256
        params["payload_size"] = row.payload_size
    return params


def _earlier_open() -> Exists:
    """A sequential batch's job waits while a job before it in the batch is still open."""
    earlier = aliased(Job)
    return exists().where(
        earlier.batch_id == Job.batch_id,
        earlier.sequence < Job.sequence,
        earlier.status.not_in([s.value for s in FINAL]),
    )


def claim(
    s: Session,
    computer_ids: Sequence[int],
    remotes: Mapping[int, str],
    now: datetime,
    now_local: datetime,
    *,
    polled: bool = False,
) -> list[tuple[int, msg.JobSpec]]:
    """The jobs to hand over now, marked sent. ``polled``: for an agent that polls and is told
    every open package job each time (queued or running), as OCO's agent expects; they are not
    marked: a job stays queued until the agent reports on it (OCO's state 0 until the agent
    says 1), so a machine switched off between its poll and the job is not taken for an agent
    that went away with the job (``fail_lost``) but gets it again at its next poll."""
    expire_queued(s, now, computer_ids)
    wanted = (
        Job.status.in_([st.value for st in (JobStatus.QUEUED, JobStatus.SENT, JobStatus.RUNNING)])
        if polled
        else Job.status == JobStatus.QUEUED.value
    )
    rows = s.execute(
        select(*_COLUMNS)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .outerjoin(Package, Package.id == Job.package_id)
        .where(
            Job.computer_id.in_(computer_ids),
            wanted,
            *([Job.kind.in_(PACKAGE_KINDS)] if polled else []),
            JobBatch.enabled.is_(True),
            or_(JobBatch.start_at.is_(None), JobBatch.start_at <= now),
            or_(JobBatch.sequence_mode < SEQUENTIAL, ~_earlier_open()),
        )
        .order_by(
            JobBatch.priority.desc(),
            JobBatch.created_at,
            JobBatch.id,
            Job.priority.desc(),
            Job.sequence,
            Job.id,
        )
    ).all()
    out: list[tuple[int, msg.JobSpec]] = []
    allowed: dict[tuple[int, int], bool] = {}
    properties = effective_values(
        s,
        [(r.package_id, r.computer_id) for r in rows if r.package_id is not None and r.kind in PACKAGE_KINDS],
    )
    commands: dict[str, msg.CommandSpec] = {}  # a command batch gives every job the same spec
    decode = _Decoder()
    for r in rows:
        key = (r.batch_id, r.computer_id)
        if key not in allowed:
            allowed[key] = ip_allowed(
                decode(r.agent_ip_ranges, []), remotes.get(r.computer_id, "")
            ) and time_allowed(decode(r.time_frames, []), now_local)
        if not allowed[key]:
            continue
        if r.kind == "command":
            command = commands.get(r.spec)
            if command is None:
                command = commands[r.spec] = msgspec.convert(decode(r.spec, {}), msg.CommandSpec)
            spec = msg.JobSpec(id=r.id, kind=r.kind, command=command, params={})
        elif r.kind in PACKAGE_KINDS:
            params = package_params(r, decode(r.spec, {}))
            props = properties.get((r.package_id or 0, r.computer_id))
            if props:
                params["properties"] = props
            spec = msg.JobSpec(id=r.id, kind=r.kind, params=params)
        else:
            spec = msg.JobSpec(id=r.id, kind=r.kind, params=dict(decode(r.spec, {})))
        out.append((r.computer_id, spec))
    ids = [] if polled else [spec.id for _, spec in out]
    for i in range(0, len(ids), _UPDATE_CHUNK):
        s.execute(
            update(Job)
            .where(Job.id.in_(ids[i : i + _UPDATE_CHUNK]))
            .values(status=JobStatus.SENT.value, sent_at=now)
            .execution_options(synchronize_session=False)
        )
    return out


def computers_with_queued(s: Session, *, connected_only: bool = False) -> set[int]:
    """Computers that have queued jobs (``connected_only``: and are connected somewhere)."""
    stmt = select(Job.computer_id).where(Job.status == JobStatus.QUEUED.value).distinct()
    if connected_only:
        stmt = stmt.join(Computer, Computer.id == Job.computer_id).where(
            Computer.online.is_(True),
            Computer.node_id.is_not(None),  # polling agents fetch their own
        )
    return set(s.scalars(stmt))
