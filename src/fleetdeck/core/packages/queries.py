"""Read-side helpers of the package service: rows to values, counts, listings. No commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.groups.service import FIELDS as GROUP_FIELDS
from fleetdeck.core.jobs.entities import PENDING
from fleetdeck.core.packages.entities import (
    DependencyRule,
    FamilyInfo,
    InstallationInfo,
    PackageDetail,
    PackageGroupInfo,
    PackageGroupRef,
    PackageInfo,
    PendingJob,
)
from fleetdeck.core.query import Query, apply_query
from fleetdeck.storage.tables import (
    Computer,
    Group,
    Installation,
    Job,
    JobBatch,
    Package,
    PackageDependency,
    PackageFamily,
    PackageGroupMember,
    PackageState,
)


def _family_column(column: Any) -> Any:
    """A column of the package's family as a correlated subquery, so a filter on it needs no
    join in the listing (and the count) statement."""
    return select(column).where(PackageFamily.id == Package.family_id).scalar_subquery()


PACKAGE_FIELDS = {
    "id": Package.id,
    "family_id": Package.family_id,
    "family_key": _family_column(PackageFamily.key),
    "family_name": _family_column(PackageFamily.name),
    "install_procedure": Package.install_procedure,
    "uninstall_procedure": Package.uninstall_procedure,
    "priority": Package.priority,
    "version": Package.version,
    "package_version": Package.package_version,
    "description": Package.description,
    "upgrade_behavior": Package.upgrade_behavior,
    "created_at": Package.created_at,
    "created_by": Package.created_by,
    "updated_at": Package.updated_at,
}

PENDING_VALUES = [s.value for s in PENDING]


def family_infos(
    s: Session, family_ids: Sequence[int] | None = None, icons: bool = False
) -> list[FamilyInfo]:
    pkgs = (
        select(
            Package.family_id.label("fid"),
            func.count().label("n"),
            func.max(Package.created_at).label("newest"),
            func.min(Package.created_at).label("oldest"),
        )
        .group_by(Package.family_id)
        .subquery()
    )
    installs = (
        select(Package.family_id.label("fid"), func.count().label("n"))
        .join(Installation, Installation.package_id == Package.id)
        .group_by(Package.family_id)
        .subquery()
    )
    stmt = (
        select(PackageFamily, pkgs.c.n, pkgs.c.newest, pkgs.c.oldest, installs.c.n)
        .outerjoin(pkgs, pkgs.c.fid == PackageFamily.id)
        .outerjoin(installs, installs.c.fid == PackageFamily.id)
        .order_by(PackageFamily.name, PackageFamily.id)
    )
    if family_ids is not None:
        stmt = stmt.where(PackageFamily.id.in_(family_ids))
    return [
        FamilyInfo(
            id=f.id,
            key=f.key,
            name=f.name,
            notes=f.notes,
            license_count=f.license_count,
            created_at=f.created_at,
            created_by=f.created_by,
            package_count=n or 0,
            install_count=inst or 0,
            newest_package_created=newest,
            oldest_package_created=oldest,
            icon=f.icon if icons else None,
        )
        for f, n, newest, oldest, inst in s.execute(stmt)
    ]


def package_infos(s: Session, package_ids: Sequence[int]) -> dict[int, PackageInfo]:
    if not package_ids:
        return {}
    ids = list(package_ids)
    counts = dict(
        s.execute(
            select(Installation.package_id, func.count())
            .where(Installation.package_id.in_(ids))
            .group_by(Installation.package_id)
        ).all()
    )
    rules: dict[int, list[DependencyRule]] = {}
    for d in s.scalars(
        select(PackageDependency)
        .where(PackageDependency.package_id.in_(ids))
        .order_by(PackageDependency.action, PackageDependency.requires_id)
    ):
        rules.setdefault(d.package_id, []).append(
            DependencyRule(
                requires_id=d.requires_id,
                action=d.action,
                required_action=d.required_action,
                required_status=d.required_status,
                requirement_type=d.requirement_type,
                required_version=d.required_version,
                required_package_version=d.required_package_version,
            )
        )
    deps = {pid: sorted({r.requires_id for r in rs if r.installs_first}) for pid, rs in rules.items()}
    out = {}
    for p, f in s.execute(
        select(Package, PackageFamily)
        .join(PackageFamily, PackageFamily.id == Package.family_id)
        .where(Package.id.in_(ids))
    ):
        out[p.id] = PackageInfo(
            id=p.id,
            family_id=f.id,
            family_key=f.key,
            family_name=f.name,
            version=p.version,
            package_version=p.package_version,
            description=p.description,
            install_procedure=p.install_procedure,
            install_success_codes=p.install_success_codes,
            install_post_action=p.install_post_action,
            uninstall_procedure=p.uninstall_procedure,
            uninstall_success_codes=p.uninstall_success_codes,
            download_for_uninstall=p.download_for_uninstall,
            uninstall_post_action=p.uninstall_post_action,
            upgrade_behavior=p.upgrade_behavior,
            line_endings=p.line_endings,
            compatible_os=p.compatible_os,
            compatible_os_version=p.compatible_os_version,
            compatible_architecture=p.compatible_architecture,
            license_count=p.license_count,
            payload_sha256=p.payload_sha256,
            payload_size=p.payload_size,
            created_at=p.created_at,
            created_by=p.created_by,
            updated_at=p.updated_at,
            install_count=counts.get(p.id, 0),
            depends_on=tuple(deps.get(p.id, ())),
            priority=p.priority,
            dependency_rules=tuple(rules.get(p.id, ())),
        )
    return out


def ordered_infos(s: Session, package_ids: Sequence[int]) -> list[PackageInfo]:
    infos = package_infos(s, package_ids)
    return [infos[i] for i in package_ids if i in infos]


def installations(
    s: Session,
    *,
    computer_id: int | None = None,
    package_id: int | None = None,
    ids: Sequence[int] | None = None,
    scope: ColumnElement[bool] | None = None,
) -> list[InstallationInfo]:
    """Installation records, oldest first; ``scope`` (a condition on ``computers``, which the
    statement joins) keeps only the computers a caller may read."""
    # Columns, not entities: a fleet has hundreds of thousands of installations, and building
    # an Installation and a Package object per row was most of the time of listing them.
    stmt = (
        select(
            Installation.id,
            Installation.computer_id,
            Computer.hostname,
            Installation.package_id,
            Package.family_id,
            PackageFamily.name,
            Package.version,
            Installation.installed_at,
            Installation.procedure,
            Installation.job_id,
            PackageState.action_request,
            PackageState.last_action,
            PackageState.action_result,
        )
        .join(Computer, Computer.id == Installation.computer_id)
        .join(Package, Package.id == Installation.package_id)
        .join(PackageFamily, PackageFamily.id == Package.family_id)
        .outerjoin(
            PackageState,
            (PackageState.computer_id == Installation.computer_id)
            & (PackageState.family_id == Package.family_id),
        )
        .order_by(Installation.id)
    )
    if computer_id is not None:
        stmt = stmt.where(Installation.computer_id == computer_id)
    if package_id is not None:
        stmt = stmt.where(Installation.package_id == package_id)
    if ids is not None:
        stmt = stmt.where(Installation.id.in_(ids))
    if scope is not None:
        stmt = stmt.where(scope)
    return [
        InstallationInfo(
            id=iid,
            computer_id=cid,
            hostname=hostname,
            package_id=pid,
            family_id=fid,
            family_name=family,
            version=version,
            installed_at=installed_at,
            procedure=procedure,
            job_id=job_id,
            action_request=request or "none",
            last_action=last_action,
            action_result=result,
        )
        for (
            iid,
            cid,
            hostname,
            pid,
            fid,
            family,
            version,
            installed_at,
            procedure,
            job_id,
            request,
            last_action,
            result,
        ) in s.execute(stmt)
    ]


def pending_jobs(s: Session, package_id: int) -> list[PendingJob]:
    rows = s.execute(
        select(Job, JobBatch.name, Computer.hostname)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .join(Computer, Computer.id == Job.computer_id)
        .where(Job.package_id == package_id, Job.status.in_(PENDING_VALUES))
        .order_by(Job.computer_id, Job.sequence, Job.id)
    )
    return [
        PendingJob(
            id=j.id,
            batch_id=j.batch_id,
            batch_name=name,
            computer_id=j.computer_id,
            hostname=hostname,
            kind=j.kind,
            status=j.status,
            sequence=j.sequence,
        )
        for j, name, hostname in rows
    ]


def group_refs(s: Session, package_id: int) -> list[PackageGroupRef]:
    rows = s.execute(
        select(Group, PackageGroupMember.sequence)
        .join(PackageGroupMember, PackageGroupMember.group_id == Group.id)
        .where(PackageGroupMember.package_id == package_id)
        .order_by(Group.name, Group.id)
    )
    return [PackageGroupRef(id=g.id, name=g.name, parent_id=g.parent_id, sequence=seq) for g, seq in rows]


def detail(s: Session, package_id: int) -> PackageDetail | None:
    infos = package_infos(s, [package_id])
    if package_id not in infos:
        return None
    return PackageDetail(
        package=infos[package_id],
        groups=group_refs(s, package_id),
        installations=installations(s, package_id=package_id),
        pending_jobs=pending_jobs(s, package_id),
    )


def package_groups(
    s: Session, *, parent_id: int | None = None, all_levels: bool = False, query: Query | None = None
) -> list[PackageGroupInfo]:
    counts = (
        select(PackageGroupMember.group_id.label("gid"), func.count().label("n"))
        .group_by(PackageGroupMember.group_id)
        .subquery()
    )
    stmt = (
        select(Group, counts.c.n).outerjoin(counts, counts.c.gid == Group.id).where(Group.kind == "package")
    )
    if query is not None:  # its WHERE and sort (name, then id, unless it sorts itself)
        stmt, _ = apply_query(stmt, None, query, GROUP_FIELDS, default_sort="name")
    else:
        stmt = stmt.order_by(Group.name, Group.id)
    if not all_levels:
        stmt = stmt.where(Group.parent_id.is_(None) if parent_id is None else Group.parent_id == parent_id)
    return [
        PackageGroupInfo(
            id=g.id,
            key=g.key,
            name=g.name,
            parent_id=g.parent_id,
            description=g.description,
            created_at=g.created_at,
            package_count=n or 0,
        )
        for g, n in s.execute(stmt)
    ]


def group_package_ids(s: Session, group_id: int) -> list[int]:
    return list(
        s.scalars(
            select(PackageGroupMember.package_id)
            .where(PackageGroupMember.group_id == group_id)
            .order_by(PackageGroupMember.sequence, PackageGroupMember.package_id)
        )
    )
