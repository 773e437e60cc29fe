"""What a finished package job changes beyond its own row.

* A return code outside the job's (non-empty) success code list makes the job failed, whatever
  the agent said.
* A succeeded install records the installation (with upgrade behaviour 1 the installer removed
  the older versions itself, so their records go first); a succeeded uninstall removes it.
* In a deployment with sequence mode 1, a failed job fails every job of that deployment that
  has not started yet, on all computers, with return code -8888. Jobs already handed to an
  agent are cancelled there too (the caller tells the agents).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.jobs.entities import ABORTED_CODE, ABORTED_MESSAGE, JobStatus
from fleetdeck.core.packages import states
from fleetdeck.storage.tables import Installation, Job, JobBatch, Package


def parse_codes(text: str | None) -> set[int]:
    """``"0, 3010"`` -> {0, 3010}; blank entries (and junk) are ignored; empty = no check."""
    out = set()
    for raw in (text or "").split(","):
        part = raw.strip()
        if part.lstrip("-").isdigit():
            out.add(int(part))
    return out


def judge(status: str, exit_code: int | None, success_codes: str | None) -> str:
    codes = parse_codes(success_codes)
    if status == JobStatus.SUCCEEDED.value and codes and exit_code not in codes:
        return JobStatus.FAILED.value
    return status


@dataclass
class Outcome:
    installations_changed: set[int] = field(default_factory=set)  # computer ids
    cancel: list[tuple[int, int]] = field(default_factory=list)  # (computer_id, job_id) at agents


def record_installation(
    s: Session,
    computer_id: int,
    package_id: int,
    procedure: str,
    job_id: int | None,
    now: datetime,
    upgrade_behavior: int,
) -> None:
    if upgrade_behavior == 1:
        family = s.scalar(select(Package.family_id).where(Package.id == package_id))
        same_family = select(Package.id).where(Package.family_id == family)
        s.execute(
            delete(Installation).where(
                Installation.computer_id == computer_id, Installation.package_id.in_(same_family)
            )
        )
    existing = s.scalar(
        select(Installation).where(
            Installation.computer_id == computer_id, Installation.package_id == package_id
        )
    )
    if existing is None:
        s.add(
            Installation(
                computer_id=computer_id,
                package_id=package_id,
                installed_at=now,
                procedure=procedure,
                job_id=job_id,
            )
        )
    else:
        existing.installed_at, existing.procedure, existing.job_id = now, procedure, job_id
    s.flush()


def apply(s: Session, finished: Iterable[dict[str, Any]], now: datetime) -> Outcome:
    """``finished``: the stored result rows (``id``, ``status``) of package jobs."""
    out = Outcome()
    finished = list(finished)
    for row in finished:
        job = s.get(Job, row["id"])
        if job is None or job.package_id is None:
            continue
        status = row["status"]
        if status == JobStatus.SUCCEEDED.value:
            if job.kind == "package_install":
                record_installation(
                    s,
                    job.computer_id,
                    job.package_id,
                    job.procedure or "",
                    job.id,
                    now,
                    int(job.spec.get("upgrade_behavior", 0)),
                )
            else:
                s.execute(
                    delete(Installation).where(
                        Installation.computer_id == job.computer_id, Installation.package_id == job.package_id
                    )
                )
            out.installations_changed.add(job.computer_id)
        elif status != JobStatus.SUCCEEDED.value:
            batch = s.get(JobBatch, job.batch_id)
            if batch is not None and batch.kind == "deployment" and batch.sequence_mode == 1:
                out.cancel.extend(abort_rest(s, batch.id, now))
    states.ended(s, [row["id"] for row in finished], now)
    return out


def abort_rest(s: Session, batch_id: int, now: datetime) -> list[tuple[int, int]]:
    """Fail the not-yet-started jobs of a batch; returns the delivered ones (to cancel at agents)."""
    waiting = s.execute(
        select(Job.id, Job.computer_id, Job.status).where(
            Job.batch_id == batch_id, Job.status.in_([JobStatus.QUEUED.value, JobStatus.SENT.value])
        )
    ).all()
    if not waiting:
        return []
    s.execute(
        update(Job)
        .where(Job.id.in_([w[0] for w in waiting]))
        .values(
            status=JobStatus.FAILED.value, exit_code=ABORTED_CODE, message=ABORTED_MESSAGE, finished_at=now
        )
    )
    states.ended(s, [w[0] for w in waiting], now)
    return [(w[1], w[0]) for w in waiting if w[2] == JobStatus.SENT.value]
