"""Which package jobs a computer gets: shared by deployments and deployment rules.

Per computer, in package order, with ``sequence`` 1, 2, 3...:

* a package whose compatibility lists (OS, OS version, architecture; newline-separated, exact
  trimmed match, empty on either side = compatible) exclude the computer -> skipped
  (os_incompatible);
* an automatically added dependency that is installed already -> no job at all;
* a package installed already, unless forced -> skipped (already_installed);
* upgrade behaviour 2 -> first an uninstall job for every other installed package of the same
  family (once per installation), then the install job.

Then ``drop_pending`` removes every job that would repeat one still pending (queued, sent or
running) for the same computer, package and kind in another deployment: two deployments of one
package to one computer, sequential or concurrent, install it once (a forced deployment, OCO's
force_install_same_version, keeps its repeats: they are asked for). The caller serialises the
planning (``storage.locks.serialize``) so that "still pending" is true when it commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fleetdeck.core.jobs.entities import PENDING, JobStatus, SkipReason
from fleetdeck.storage.tables import Computer, Installation, Job, JobBatch, Package, PackageDependency

DEPLOYMENT = "deployment"  # the JobBatch kind of deployments (job containers)


@dataclass(frozen=True, slots=True)
class Planned:
    computer_id: int
    package_id: int
    kind: str
    sequence: int
    status: JobStatus
    skip_reason: str
    procedure: str
    success_codes: str
    post_action: int
    download: bool
    upgrade_behavior: int

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.computer_id, self.package_id, self.kind)


def _items(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def compatible(pkg: Package, computer: Computer) -> bool:
    for allowed, actual in (
        (pkg.compatible_os, computer.os),
        (pkg.compatible_os_version, computer.os_version),
        (pkg.compatible_architecture, computer.architecture),
    ):
        items = _items(allowed)
        if items and actual.strip() and actual.strip() not in items:
            return False
    return True


def compile_procedure(text: str, line_endings: str | None) -> str:
    return text.replace("\r\n", line_endings) if line_endings else text


def install_job(c: int, pkg: Package, seq: int, status: JobStatus, reason: str = "") -> Planned:
    return Planned(
        computer_id=c,
        package_id=pkg.id,
        kind="package_install",
        sequence=seq,
        status=status,
        skip_reason=reason,
        procedure=compile_procedure(pkg.install_procedure, pkg.line_endings),
        success_codes=pkg.install_success_codes,
        post_action=pkg.install_post_action,
        download=pkg.payload_sha256 is not None,
        upgrade_behavior=pkg.upgrade_behavior,
    )


def uninstall_job(c: int, pkg: Package, seq: int) -> Planned:
    return Planned(
        computer_id=c,
        package_id=pkg.id,
        kind="package_uninstall",
        sequence=seq,
        status=JobStatus.QUEUED,
        skip_reason="",
        procedure=compile_procedure(pkg.uninstall_procedure, pkg.line_endings),
        success_codes=pkg.uninstall_success_codes,
        post_action=pkg.uninstall_post_action,
        download=pkg.download_for_uninstall and pkg.payload_sha256 is not None,
        upgrade_behavior=pkg.upgrade_behavior,
    )


def expand_dependencies(s: Session, package_ids: Sequence[int]) -> list[tuple[int, bool]]:
    """(package id, added automatically) with every package's install dependencies placed
    before it (or after it, for "after" rules), recursively; cycles and repeats are cut.
    Only rules about installing count: an install never triggers another package's uninstall."""
    before: dict[int, list[int]] = {}
    after: dict[int, list[int]] = {}
    frontier = set(package_ids)
    while frontier:
        rows = s.execute(
            select(
                PackageDependency.package_id,
                PackageDependency.requires_id,
                PackageDependency.requirement_type,
            )
            .where(
                PackageDependency.package_id.in_(frontier),
                PackageDependency.action == "setup",
                or_(
                    PackageDependency.required_status == "installed",
                    PackageDependency.required_action == "setup",
                ),
            )
            .order_by(PackageDependency.requires_id)
        ).all()
        for pid in frontier:
            before.setdefault(pid, [])
            after.setdefault(pid, [])
        for pid, req, kind in rows:
            (after if kind == "after" else before)[pid].append(req)
        frontier = {req for _, req, _ in rows if req not in before}
    explicit = set(package_ids)
    out: list[tuple[int, bool]] = []
    done: set[int] = set()

    def visit(pid: int, path: set[int]) -> None:
        if pid in done or pid in path:
            return
        path.add(pid)
        for req in before.get(pid, []):
            visit(req, path)
        path.discard(pid)
        if pid in done:  # reached through an "after" rule of one of its own dependencies
            return
        done.add(pid)
        out.append((pid, pid not in explicit))
        for req in after.get(pid, []):
            visit(req, set())

    for pid in package_ids:
        visit(pid, set())
    return out


def installed_by_computer(s: Session, computer_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """computer id -> {installed package id: its family id}."""
    out: dict[int, dict[int, int]] = {}
    ids = list(computer_ids)
    if not ids:
        return out
    for cid, pid, fid in s.execute(
        select(Installation.computer_id, Installation.package_id, Package.family_id)
        .join(Package, Package.id == Installation.package_id)
        .where(Installation.computer_id.in_(ids))
        .order_by(Installation.id)
    ):
        out.setdefault(cid, {})[pid] = fid
    return out


def plan_computer(
    computer: Computer,
    packages: Sequence[tuple[Package, bool]],
    installed: dict[int, int],
    all_packages: dict[int, Package],
    *,
    force: bool = False,
) -> list[Planned]:
    jobs: list[Planned] = []
    uninstalled: set[int] = set()
    seq = 0
    for pkg, auto in packages:
        if auto and pkg.id in installed:
            continue
        if not compatible(pkg, computer):
            seq += 1
            jobs.append(
                install_job(computer.id, pkg, seq, JobStatus.SKIPPED, SkipReason.OS_INCOMPATIBLE.value)
            )
            continue
        if pkg.id in installed and not force:
            seq += 1
            jobs.append(
                install_job(computer.id, pkg, seq, JobStatus.SKIPPED, SkipReason.ALREADY_INSTALLED.value)
            )
            continue
        if pkg.upgrade_behavior == 2:
            for other, family in installed.items():
                if family == pkg.family_id and other != pkg.id and other not in uninstalled:
                    uninstalled.add(other)
                    seq += 1
                    jobs.append(uninstall_job(computer.id, all_packages[other], seq))
        seq += 1
        jobs.append(install_job(computer.id, pkg, seq, JobStatus.QUEUED))
    return jobs


def load_packages(s: Session, package_ids: Iterable[int]) -> dict[int, Package]:
    ids = set(package_ids)
    return {p.id: p for p in s.scalars(select(Package).where(Package.id.in_(ids)))} if ids else {}


def family_mates(s: Session, installed: dict[int, dict[int, int]]) -> dict[int, Package]:
    """Package rows of every installed package (uninstall jobs need their procedures)."""
    return load_packages(s, {pid for per in installed.values() for pid in per})


def pending_keys(s: Session, computer_ids: Iterable[int]) -> set[tuple[int, int, str]]:
    """(computer, package, kind) of every package job still pending in a deployment."""
    ids = sorted(set(computer_ids))
    if not ids:
        return set()
    rows = s.execute(
        select(Job.computer_id, Job.package_id, Job.kind)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .where(
            JobBatch.kind == DEPLOYMENT,
            Job.computer_id.in_(ids),
            Job.package_id.is_not(None),
            Job.status.in_([st.value for st in PENDING]),
        )
    ).all()
    return {(cid, pid, kind) for cid, pid, kind in rows if pid is not None}


def drop_pending(s: Session, plans: Sequence[Planned]) -> tuple[list[Planned], list[tuple[int, int, str]]]:
    """``plans`` without the runnable jobs that repeat a pending one; and what was dropped.
    Skipped jobs stay: they are records of a decision, not work."""
    pending = pending_keys(s, {p.computer_id for p in plans})
    kept = [p for p in plans if p.status is not JobStatus.QUEUED or p.key not in pending]
    dropped = [p.key for p in plans if p.status is JobStatus.QUEUED and p.key in pending]
    return kept, dropped
