"""Read side of deployments: container infos with their aggregate status, and job listings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.deployments.entities import ContainerInfo, ContainerStatus, DeploymentJob
from fleetdeck.core.jobs.entities import PENDING, JobStatus
from fleetdeck.storage.tables import Computer, Job, JobBatch, Package, PackageFamily

FAILED = {JobStatus.FAILED.value, JobStatus.TIMEOUT.value, JobStatus.CANCELLED.value, JobStatus.EXPIRED.value}
FAILED_SKIPS = {"os_incompatible", "package_conflict"}
PENDING_VALUES = {s.value for s in PENDING}


def aggregate(
    statuses: Sequence[tuple[str, str]], start_at: datetime | None, now: datetime
) -> ContainerStatus:
    """``statuses``: (status, skip_reason) of every job of the container."""
    if any(st in PENDING_VALUES for st, _ in statuses):
        if start_at is not None and start_at > now:
            return ContainerStatus.WAITING_FOR_START
        return ContainerStatus.IN_PROGRESS
    if any(st in FAILED or (st == JobStatus.SKIPPED.value and why in FAILED_SKIPS) for st, why in statuses):
        return ContainerStatus.FAILED
    return ContainerStatus.SUCCEEDED


def container_infos(
    s: Session,
    kind: str,
    now: datetime,
    ids: Sequence[int] | None = None,
    jobs: Sequence[ColumnElement[bool]] = (),
) -> list[ContainerInfo]:
    """Containers with their status and counts, in two queries. ``jobs``: conditions on the
    jobs a reader may see (per-client access); then only containers with such a job are
    listed, and their status and counts are of those jobs alone."""
    stmt = select(JobBatch).where(JobBatch.kind == kind).order_by(JobBatch.id)
    if ids is not None:
        stmt = stmt.where(JobBatch.id.in_(ids))
    if jobs:
        stmt = stmt.where(select(Job.id).where(Job.batch_id == JobBatch.id, *jobs).exists())
    batches = list(s.scalars(stmt))
    if not batches:
        return []
    # Aggregated in SQL: one row per (container, status, skip reason), however many jobs (a
    # deployment of 10,000 jobs is read as a handful of rows on every page and live update).
    per: dict[int, list[tuple[str, str]]] = {}
    per_count: dict[int, dict[str, int]] = {}
    finished: dict[int, datetime | None] = {}
    for bid, status, why, n, fin in s.execute(
        select(Job.batch_id, Job.status, Job.skip_reason, func.count(), func.max(Job.finished_at))
        .where(Job.batch_id.in_([b.id for b in batches]), *jobs)
        .group_by(Job.batch_id, Job.status, Job.skip_reason)
    ):
        per.setdefault(bid, []).append((status, why))
        tally = per_count.setdefault(bid, {})
        tally[status] = tally.get(status, 0) + n
        if fin is not None and (finished.get(bid) is None or fin > finished[bid]):  # type: ignore[operator]
            finished[bid] = fin
    out = []
    for b in batches:
        statuses = per.get(b.id, [])
        status = aggregate(statuses, b.start_at, now)
        counts = per_count.get(b.id, {})
        pending = status in (ContainerStatus.IN_PROGRESS, ContainerStatus.WAITING_FOR_START)
        out.append(
            ContainerInfo(
                id=b.id,
                kind=b.kind,
                name=b.name,
                description=b.description,
                created_at=b.created_at,
                created_by=b.created_by,
                start_at=b.start_at,
                end_at=b.end_at,
                enabled=b.enabled,
                priority=b.priority,
                sequence_mode=b.sequence_mode,
                use_wol=b.use_wol,
                wol_sent=b.wol_sent,
                shutdown_waked_after_completion=b.shutdown_waked_after_completion,
                restart_timeout_min=b.restart_timeout_min,
                force_same_version=b.force_same_version,
                agent_ip_ranges=list(b.agent_ip_ranges),
                time_frames=list(b.time_frames),
                status=status,
                execution_finished=None if pending else finished.get(b.id),
                counts=counts,
            )
        )
    return out


def count_jobs(s: Session, *conditions: Any) -> int:
    return s.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0


def deployment_jobs(
    s: Session, *conditions: Any, offset: int = 0, limit: int | None = None
) -> list[DeploymentJob]:
    """Jobs with their computer and package names, by computer then sequence; ``offset`` and
    ``limit`` page them in the database (a deployment's page shows 50 of 10,000)."""
    rows = s.execute(
        select(Job, JobBatch, Computer.hostname, Package.version, Package.family_id, PackageFamily.name)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .join(Computer, Computer.id == Job.computer_id)
        .outerjoin(Package, Package.id == Job.package_id)
        .outerjoin(PackageFamily, PackageFamily.id == Package.family_id)
        .where(*conditions)
        .order_by(Job.computer_id, Job.sequence, Job.id)
        .offset(offset)
        .limit(limit)
    )
    out = []
    for j, b, hostname, version, family_id, family_name in rows:
        status = JobStatus(j.status)
        out.append(
            DeploymentJob(
                id=j.id,
                container_id=j.batch_id,
                rule_id=j.rule_id,
                computer_id=j.computer_id,
                hostname=hostname,
                package_id=j.package_id,
                family_id=family_id,
                family_name=family_name or "",
                version=version or "",
                kind=j.kind,
                is_uninstall=j.kind == "package_uninstall",
                status=status,
                skip_reason=j.skip_reason,
                phase=j.phase,
                progress=j.progress,
                progress_bytes=j.progress_bytes,
                progress_total=j.progress_total,
                sequence=j.sequence,
                procedure=j.procedure or "",
                success_codes=j.success_codes or "",
                upgrade_behavior=int(j.spec.get("upgrade_behavior", 0)),
                download=bool(j.download),
                post_action=j.post_action or 0,
                post_action_timeout_min=j.post_action_timeout_min or 0,
                exit_code=j.exit_code,
                message=j.message,
                stdout=j.stdout,
                stderr=j.stderr,
                created_at=j.created_at,
                sent_at=j.sent_at,
                started_at=j.started_at,
                finished_at=j.finished_at,
                container_start=b.start_at,
                container_priority=b.priority,
                wol_shutdown_set=j.wol_shutdown_set,
            )
        )
    return out


def counts_by_status(s: Session, batch_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Jobs per status of many batches in one query (batch id -> status -> jobs)."""
    found: dict[int, dict[str, int]] = {b: {} for b in batch_ids}
    rows = s.execute(
        select(Job.batch_id, Job.status, func.count())
        .where(Job.batch_id.in_(list(batch_ids)))
        .group_by(Job.batch_id, Job.status)
    )
    for batch_id, status, n in rows:
        found[batch_id][status] = n
    return found
