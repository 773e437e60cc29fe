"""The state of a package family on a computer (opsi's productOnClient), stored: one
``package_states`` row per (computer, family), written inside the transactions that change it.

Who writes what:

* an admin, through any dialect (``DeploymentService.set_package_state``): any field; a
  requested action becomes a job (``job_id``), ``none`` withdraws it and keeps the row;
* job creation (``requested``): the requested action and its job;
* the agent's notices (``progress``): the progress text of a running job;
* job outcomes (``ended``): last action, its result, the installation status and versions;
  the request goes back to ``none`` when the job that carried it ends;
* admins' corrections of installation records (``installed``/``forgotten``).

Everything here works on the caller's session (no transaction of its own, no audit: the service
method that calls it does both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.storage.db import each_plain_row, plain_rows
from fleetdeck.storage.tables import Job, Package, PackageFamily, PackageState
from fleetdeck.storage.tables.base import utc_text

T = TypeVar("T")

# opsi's words, which fleetdeck uses for every dialect (OCO and /api/v1 show them as they are).
INSTALLATION_STATUSES = ("installed", "not_installed", "unknown")
ACTIONS = ("setup", "uninstall", "update", "always", "once", "custom", "none")
RESULTS = ("none", "failed", "successful")
TARGETS = ("installed", "always", "forbidden", "undefined")

# The stored fields an admin may set (core attribute names).
FIELDS = (
    "installation_status",
    "action_request",
    "last_action",
    "action_result",
    "action_progress",
    "target_configuration",
    "version",
    "package_version",
)
CHOICES: Mapping[str, tuple[str, ...]] = {
    "installation_status": INSTALLATION_STATUSES,
    "action_request": ACTIONS,
    "last_action": ACTIONS,
    "action_result": RESULTS,
    "target_configuration": TARGETS,
}
LIMITS: Mapping[str, int] = {
    "action_progress": 255,
    "version": 255,
    "package_version": 64,
}


class PackageStateInfo(NamedTuple):
    """One state, named (``DeploymentService.set_package_state``'s answer); ``read`` gives
    ``StateRow`` tuples in this field order (long lists: ``listing``)."""

    computer_id: int
    family_key: str
    installation_status: str
    action_request: str
    last_action: str | None
    action_result: str | None
    action_progress: str | None
    target_configuration: str | None
    version: str | None
    package_version: str | None
    job_id: int | None
    modified_at: str  # UTC, ``YYYY-MM-DD HH:MM:SS``


# A state as a plain tuple in ``PackageStateInfo``'s field order (``PackageStateInfo._make``
# names one): what ``read`` returns.
StateRow = tuple[
    int,
    str,
    str,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    int | None,
    str,
]


def read(
    s: Session, computer_ids: Sequence[int] | None = None, family_keys: Sequence[str] | None = None
) -> list[StateRow]:
    """The states, by computer then family (id): one query whatever the number of rows (for
    long lists ``listing`` is faster still: no family key per state).

    Built for speed: the family key is joined in SQL (a primary-key lookup per row, in index order, no
    sort), the time comes as text made by the database, and the driver's tuples, fetched at
    once, are returned as they are: no SQLAlchemy ``Row`` nor named tuple per state (each object
    made per state costs, and so do the garbage collector's passes over them)."""
    stmt = (
        select(
            PackageState.computer_id,
            PackageFamily.key,
            PackageState.installation_status,
            PackageState.action_request,
            PackageState.last_action,
            PackageState.action_result,
            PackageState.action_progress,
            PackageState.target_configuration,
            PackageState.version,
            PackageState.package_version,
            PackageState.job_id,
            utc_text(PackageState.modified_at),
        )
        .join(PackageFamily, PackageFamily.id == PackageState.family_id)
        .order_by(PackageState.computer_id, PackageState.family_id)
    )
    if computer_ids is not None:
        stmt = stmt.where(PackageState.computer_id.in_(list(computer_ids)))
    if family_keys is not None:
        stmt = stmt.where(PackageFamily.key.in_(list(family_keys)))
    return plain_rows(s, stmt)


# A listed state (``listing``): ``StateRow`` with the family's id in place of its key and
# without the job: computer id, family id, installation status, action request, last action,
# action result, action progress, target configuration, version, package version, modified.
ListedState = tuple[
    int, int, str, str, str | None, str | None, str | None, str | None, str | None, str | None, str
]


def listing(
    s: Session,
    computer_ids: Sequence[int] | None,
    family_keys: Sequence[str] | None,
    consume: Callable[[dict[int, str], Iterator[ListedState]], T],
) -> T:
    """``consume(family keys by id, states)``'s result, the states by computer then family
    (id), for long lists (opsi's complete productOnClient list is half a million): two queries
    whatever the number of rows, the family keys and then the states in index order. Each
    column the driver turns into an object per row costs, so the states carry the family's id
    (a small integer) and the caller looks its key up (one string object per family, not per
    state; no join either), no job id, and the time as text made by the database. The states
    are the driver's tuples, handed to ``consume`` as the driver makes them
    (``storage.db.each_plain_row``), inside this read's transaction."""
    keys = {fid: key for fid, key in plain_rows(s, select(PackageFamily.id, PackageFamily.key))}
    stmt = select(
        PackageState.computer_id,
        PackageState.family_id,
        PackageState.installation_status,
        PackageState.action_request,
        PackageState.last_action,
        PackageState.action_result,
        PackageState.action_progress,
        PackageState.target_configuration,
        PackageState.version,
        PackageState.package_version,
        utc_text(PackageState.modified_at),
    ).order_by(PackageState.computer_id, PackageState.family_id)
    if computer_ids is not None:
        stmt = stmt.where(PackageState.computer_id.in_(list(computer_ids)))
    if family_keys is not None:
        wanted = set(family_keys)
        stmt = stmt.where(PackageState.family_id.in_([fid for fid, key in keys.items() if key in wanted]))
    return each_plain_row(s, stmt, lambda rows: consume(keys, rows))


def row(s: Session, computer_id: int, family_id: int, now: datetime) -> PackageState:
    """The state row, created with opsi's defaults when there is none."""
    found = s.scalar(
        select(PackageState).where(
            PackageState.computer_id == computer_id, PackageState.family_id == family_id
        )
    )
    if found is None:
        found = PackageState(
            computer_id=computer_id,
            family_id=family_id,
            installation_status="not_installed",
            action_request="none",
            action_result="none",
            action_progress="",
            modified_at=now,
        )
        s.add(found)
        s.flush()
    return found


def put(s: Session, state: PackageState, changes: Mapping[str, Any], now: datetime) -> None:
    for key, value in changes.items():
        setattr(state, key, value)
    state.modified_at = now
    s.flush()


def requested(s: Session, job_ids: Iterable[int], now: datetime) -> None:
    """New package jobs: each one's (computer, family) state requests its action, carried by it."""
    ids = list(job_ids)
    if not ids:
        return
    rows = s.execute(
        select(Job.id, Job.computer_id, Job.kind, Package.family_id)
        .join(Package, Package.id == Job.package_id)
        .where(Job.id.in_(ids), Job.status == JobStatus.QUEUED.value)
        .order_by(Job.id)
    ).all()
    for job_id, computer_id, kind, family_id in rows:
        state = row(s, computer_id, family_id, now)
        state.action_request = "uninstall" if kind == "package_uninstall" else "setup"
        state.job_id, state.modified_at = job_id, now
    s.flush()


def withdrawn(s: Session, computer_id: int, family_id: int, now: datetime) -> None:
    """The family's request on the computer is withdrawn: ``none``, the row stays. Through the
    ORM, not a bulk statement, so the change is seen (``core.changes``)."""
    state = s.scalar(
        select(PackageState).where(
            PackageState.computer_id == computer_id, PackageState.family_id == family_id
        )
    )
    if state is not None:
        state.action_request, state.job_id, state.modified_at = "none", None, now
        s.flush()


def jobs_gone(s: Session, job_ids: Sequence[int], now: datetime) -> None:
    """Jobs deleted before they ended: the requests they carried go back to ``none``."""
    if job_ids:
        for state in s.scalars(select(PackageState).where(PackageState.job_id.in_(list(job_ids)))):
            state.action_request, state.job_id, state.modified_at = "none", None, now
        s.flush()


def progress(s: Session, updates: Sequence[tuple[int, str]], now: datetime) -> None:
    """``(job_id, text)`` of running jobs: the progress of the states those jobs carry (one
    statement for the whole batch of notices)."""
    if updates:
        table = PackageState.__table__
        assert isinstance(table, Table)
        s.execute(
            update(table)
            .where(table.c.job_id == bindparam("jid"))
            .values(action_progress=bindparam("text"), modified_at=now),
            [{"jid": job_id, "text": text[:255]} for job_id, text in updates],
        )


def ended(s: Session, job_ids: Sequence[int], now: datetime) -> None:
    """Package jobs that reached a final status: last action and result; a success changes the
    installation status and versions; the request they carried goes back to ``none``. Jobs
    skipped by the planner did not act and change nothing."""
    if not job_ids:
        return
    rows = s.execute(
        select(
            Job.id,
            Job.computer_id,
            Job.kind,
            Job.status,
            Job.message,
            Package.family_id,
            Package.version,
            Package.package_version,
        )
        .join(Package, Package.id == Job.package_id)
        .where(Job.id.in_(list(job_ids)))
        .order_by(Job.id)
    ).all()
    for job_id, computer_id, kind, status, message, family_id, version, package_version in rows:
        if status == JobStatus.SKIPPED.value:
            continue
        state = row(s, computer_id, family_id, now)
        uninstall = kind == "package_uninstall"
        ok = status == JobStatus.SUCCEEDED.value
        state.last_action = "uninstall" if uninstall else "setup"
        state.action_result = "successful" if ok else "failed"
        state.action_progress = "" if ok else (message or status)[:255]
        if ok:
            state.installation_status = "not_installed" if uninstall else "installed"
            state.version = None if uninstall else version
            state.package_version = None if uninstall else package_version
        if state.job_id in (None, job_id):
            state.action_request, state.job_id = "none", None
        state.modified_at = now
    s.flush()


def installed(s: Session, computer_id: int, package_id: int, is_installed: bool, now: datetime) -> None:
    """An installation record was made (``is_installed``) or forgotten by an admin, no job ran."""
    pkg = s.get(Package, package_id)
    if pkg is None:
        return
    state = row(s, computer_id, pkg.family_id, now)
    state.installation_status = "installed" if is_installed else "not_installed"
    state.version = pkg.version if is_installed else None
    state.package_version = pkg.package_version if is_installed else None
    state.modified_at = now
    s.flush()


def forgotten(s: Session, computer_id: int, family_id: int) -> None:
    state = s.scalar(
        select(PackageState).where(
            PackageState.computer_id == computer_id, PackageState.family_id == family_id
        )
    )
    if state is not None:
        s.delete(state)
        s.flush()


def check(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The admin's changes, validated: known fields, opsi's words, bounded lengths; None
    clears an optional field (never the status or the request)."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in FIELDS:
            raise ValidationFailed(f"unknown package state field {key}", field=key, reason=Reason.INVALID)
        if value is None:
            if key in ("installation_status", "action_request"):
                raise ValidationFailed(f"{key} cannot be empty", field=key, reason=Reason.INVALID)
            out[key] = None
            continue
        if not isinstance(value, str):
            raise ValidationFailed(f"{key} must be text", field=key, reason=Reason.INVALID)
        if key in CHOICES and value not in CHOICES[key]:
            raise ValidationFailed(
                f"{key} {value!r} is not one of {', '.join(CHOICES[key])}", field=key, reason=Reason.INVALID
            )
        if len(value) > LIMITS.get(key, 16):
            raise ValidationFailed(f"{key} is too long", field=key, reason=Reason.INVALID)
        out[key] = value
    return out
