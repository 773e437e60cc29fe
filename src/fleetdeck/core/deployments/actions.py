"""Client-centred package requests (opsi's actionRequest): for one computer, per package
family, install the newest package, uninstall, withdraw what has not started, or forget.

Each request is decided from what is pending and installed *now*, so the reading and the change
must be one transaction, serialised against every other creator of package jobs
(``storage.locks``): otherwise two requests both see "nothing pending" and both deploy. The
service method (``DeploymentService.apply_package_actions``) opens that transaction; this module
is the part that reads and decides inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.deployments.planning import DEPLOYMENT
from fleetdeck.core.errors import NotFound, Reason, ValidationFailed
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.packages import states
from fleetdeck.storage.tables import Installation, Job, JobBatch, Package, PackageFamily

NOT_STARTED = (JobStatus.QUEUED.value, JobStatus.SENT.value)


@dataclass(slots=True)
class Family:
    key: str
    package_ids: set[int]
    newest: int


@dataclass(slots=True)
class Pending:
    job_id: int
    package_id: int
    uninstall: bool
    sent: bool


@dataclass(slots=True)
class Outcome:
    """Accumulated while applying; the service turns it into ``ActionsApplied``."""

    withdrawn: list[int] = field(default_factory=list)
    held: list[tuple[int, int]] = field(default_factory=list)  # (computer, job) an agent holds
    forgotten: list[int] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def families(s: Session, keys: Sequence[str]) -> dict[str, Family]:
    """The families by key, each with its package ids and its newest package (the one offered)."""
    out: dict[str, Family] = {}
    rows = s.execute(
        select(PackageFamily.key, Package.id)
        .join(Package, Package.family_id == PackageFamily.id)
        .where(PackageFamily.key.in_(set(keys)))
        .order_by(Package.created_at, Package.id)
    ).all()
    for key, pid in rows:  # oldest first: the last one seen is the newest
        fam = out.setdefault(key, Family(key, set(), pid))
        fam.package_ids.add(pid)
        fam.newest = pid
    missing = [k for k in keys if k not in out]
    if missing:
        raise NotFound("package family", missing[0])
    return out


def not_started(s: Session, computer_id: int, family: Family) -> list[Pending]:
    """The family's deployment jobs on the computer that have not started, oldest first."""
    rows = s.execute(
        select(Job.id, Job.package_id, Job.kind, Job.status)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .where(
            JobBatch.kind == DEPLOYMENT,
            Job.computer_id == computer_id,
            Job.package_id.in_(family.package_ids),
            Job.status.in_(NOT_STARTED),
        )
        .order_by(Job.id)
    ).all()
    return [
        Pending(jid, pid, kind == "package_uninstall", status == JobStatus.SENT.value)
        for jid, pid, kind, status in rows
        if pid is not None
    ]


def _installations(s: Session, computer_id: int, family: Family) -> list[Installation]:
    return list(
        s.scalars(
            select(Installation)
            .where(Installation.computer_id == computer_id, Installation.package_id.in_(family.package_ids))
            .order_by(Installation.id)
        )
    )


def installed_package_ids(s: Session, computer_id: int, family: Family) -> list[int]:
    return [i.package_id for i in _installations(s, computer_id, family)]


def family_id(s: Session, family: Family) -> int:
    return int(s.scalars(select(Package.family_id).where(Package.id == family.newest)).one())


def withdraw(s: Session, computer_id: int, family: Family, out: Outcome, now: datetime) -> None:
    """Delete the family's jobs that have not started; its state's request goes back to
    ``none`` (the state stays)."""
    for job in not_started(s, computer_id, family):
        s.execute(delete(Job).where(Job.id == job.job_id))
        out.withdrawn.append(job.job_id)
        if job.sent:
            out.held.append((computer_id, job.job_id))
    states.withdrawn(s, computer_id, family_id(s, family), now)
    s.flush()


def forget(s: Session, computer_id: int, family: Family, out: Outcome, now: datetime) -> bool:
    """Withdraw, and delete the installation records and the state; True when a record was
    deleted."""
    withdraw(s, computer_id, family, out, now)
    states.forgotten(s, computer_id, family_id(s, family))
    rows = _installations(s, computer_id, family)
    for row in rows:
        out.forgotten.append(row.id)
        s.delete(row)
    s.flush()
    return bool(rows)


def wants(action: PackageAction, pending: list[Pending]) -> bool:
    """Whether the request still needs a job: not when the same kind is pending already."""
    uninstall = action is PackageAction.UNINSTALL
    return not any(p.uninstall == uninstall for p in pending)


def not_installed(key: str, computer_id: int) -> ValidationFailed:
    return ValidationFailed(
        f"package family {key} is not installed on computer {computer_id}",
        field="family_key",
        reason=Reason.NOT_INSTALLED,
        family_key=key,
    )
