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
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.jobs.conditions import ip_allowed, time_allowed
from fleetdeck.core.jobs.entities import PACKAGE_KINDS, JobStatus
from fleetdeck.core.packages.properties import effective_values
from fleetdeck.protocol import messages as msg
from fleetdeck.storage.tables import Job, JobBatch, Package

PAYLOAD_PATH = "/agent/v1/payload/{package_id}"
DEFAULT_PACKAGE_TIMEOUT_SEC = 3600


def expire_queued(s: Session, now: datetime, computer_ids: Sequence[int] | None = None) -> int:
    stmt = update(Job).where(
        Job.status == JobStatus.QUEUED.value, Job.expires_at.is_not(None), Job.expires_at <= now
    )
    if computer_ids is not None:
        stmt = stmt.where(Job.computer_id.in_(computer_ids))
    result = s.execute(stmt.values(status=JobStatus.EXPIRED.value, finished_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def package_params(job: Job, batch: JobBatch, package: Package | None) -> dict[str, Any]:
    """What the agent needs to run a package job (see agent/packages.py)."""
    download = bool(job.download) and package is not None and package.payload_sha256 is not None
    params: dict[str, Any] = {
        "package_id": job.package_id,
        "procedure": job.procedure or "",
        "success_codes": job.success_codes or "",
        "download": download,
        "post_action": job.post_action or 0,
        "post_action_timeout_min": job.post_action_timeout_min or 0,
        "container_id": batch.id,
        "sequence": job.sequence,
        "sequence_mode": batch.sequence_mode if batch.kind == "deployment" else 0,
        "timeout_sec": int(job.spec.get("timeout_sec", DEFAULT_PACKAGE_TIMEOUT_SEC)),
    }
    if download and package is not None:
        params["payload_path"] = PAYLOAD_PATH.format(package_id=package.id)
        params["payload_sha256"] = package.payload_sha256
        params["payload_size"] = package.payload_size
    return params


def claim(
    s: Session,
    computer_ids: Sequence[int],
    remotes: Mapping[int, str],
    now: datetime,
    now_local: datetime,
) -> list[tuple[int, msg.JobSpec]]:
    expire_queued(s, now, computer_ids)
    rows = s.execute(
        select(Job, JobBatch, Package)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .outerjoin(Package, Package.id == Job.package_id)
        .where(
            Job.computer_id.in_(computer_ids),
            Job.status == JobStatus.QUEUED.value,
            JobBatch.enabled.is_(True),
            or_(JobBatch.start_at.is_(None), JobBatch.start_at <= now),
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
        s, [(job.package_id, job.computer_id) for job, _, _ in rows if job.package_id is not None]
    )
    for job, batch, package in rows:
        key = (batch.id, job.computer_id)
        if key not in allowed:
            allowed[key] = ip_allowed(batch.agent_ip_ranges, remotes.get(job.computer_id, "")) and (
                time_allowed(batch.time_frames, now_local)
            )
        if not allowed[key]:
            continue
        if job.kind == "command":
            spec = msg.JobSpec(
                id=job.id, kind=job.kind, command=msgspec.convert(job.spec, msg.CommandSpec), params={}
            )
        elif job.kind in PACKAGE_KINDS:
            params = package_params(job, batch, package)
            props = properties.get((job.package_id or 0, job.computer_id))
            if props:
                params["properties"] = props
            spec = msg.JobSpec(id=job.id, kind=job.kind, params=params)
        else:
            spec = msg.JobSpec(id=job.id, kind=job.kind, params=dict(job.spec))
        out.append((job.computer_id, spec))
    if out:
        s.execute(
            update(Job), [{"id": spec.id, "status": JobStatus.SENT.value, "sent_at": now} for _, spec in out]
        )
    return out


def computers_with_queued(s: Session) -> set[int]:
    """Computers that have queued jobs at all (the hub intersects this with its connections)."""
    return set(s.scalars(select(Job.computer_id).where(Job.status == JobStatus.QUEUED.value).distinct()))
