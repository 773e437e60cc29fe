"""Schedules: a command or a script run on computers on a cron schedule, as its creator.

A schedule names what to run (the text, interpreter, working directory, timeout, all at once or
one computer after the other with abort on error: ``JobService.create_commands`` with a
``RunOrder``), its targets (computers, rule groups by key, people's tags with "and"/"or"),
decided again at every tick, and a cron expression: five fields or one of the @descriptors
(@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly), in UTC. Anything else
(seconds or year fields, @reboot, a date that never comes) is refused when it is saved.

Ticks. The ``schedules.run`` housekeeping duty (one server process at a time, under a lease)
calls ``run_due``: each schedule whose ``next_run_at`` has come is claimed by moving
``next_run_at`` to the next tick after now in a compare-and-set update, so a tick fires at most
once even if two processes ever ran the duty together. Ticks missed while no server ran are
not made up one by one: the schedule runs once when the server is back, then on its times.
Each run is one batch of command jobs whose ``schedule_id`` is the schedule's: the runs are
listed under the schedule, the latest gives ``last_execution``.

A tick is skipped, and the skip audited (``schedule.skip`` with the reason), when:
- the creator no longer exists or is disabled (the schedule runs as its creator, with the
  creator's permissions and reach as they are at the tick, never as they were when saved);
- ``overlaps`` is false and the previous run is still going: one of its jobs is sent to or
  running on its computer, or queued for a computer that is online now (waiting its turn in a
  one-after-the-other run). A job queued for an offline computer does not hold the next run up;
- no target is left (computers deleted, groups empty, tags on no computer).

Catch-up (``catch_up``, off by default). Without it a computer offline at the tick misses that
run: its job expires after the schedule's timeout (the time the run could take anyway). With
it the job waits for the computer until the next tick (at most ``MAX_CATCH_UP``): a laptop
that comes back in between runs the missed run once, when it connects; at the next tick the
missed job expires and the new run takes its place, so a computer away for many ticks runs the
command once when it is back, never once per missed tick.

Reading needs MANAGE_SCHEDULES; saving a command schedule RUN_COMMANDS too, a script schedule
RUN_SCRIPTS as well; the creator needs them still at each tick. Only the creator or an admin
changes or deletes a schedule (it runs as the creator: someone else changing what it runs would
run their text with the creator's rights). Every change is audited
(``schedule.create|update|delete``, object type ``schedule``). Lists are a constant number of
queries: a count, a select and the latest runs' job counts (and the output of one-computer runs,
when there are any).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role, system_actor
from fleetdeck.core.errors import FleetdeckError, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.groups.rules import condition, reach
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus, RunOrder
from fleetdeck.core.jobs.service import INTERPRETERS, MAX_COMMAND, MAX_TIMEOUT, JobService
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.core.users.groups import perms_of
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, Job, RuleGroup, Schedule, User
from fleetdeck.storage.uow import UnitOfWork

log = logging.getLogger("fleetdeck.schedules")

COMMAND = "command"
SCRIPT = "script"
KINDS = (COMMAND, SCRIPT)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MAX_NAME = 255
MAX_TARGETS = 1000  # computers, groups or tags one schedule names (each kind)
MAX_TAG = 255
MAX_DUE = 100  # schedules one duty round fires; the rest fire at the next round
MAX_CATCH_UP = timedelta(days=7)  # how long a missed run waits for its computer at most
DEFAULT_TIMEOUT = 60
RUN_NAME = "schedule"  # JobBatch.name of a schedule's run
_FIELD = re.compile(r"^[\w*/,\-#?]+$")
Ref = str | int  # a schedule's uuid (rportd's id), or its row id

FIELDS: dict[str, Any] = {
    "id": Schedule.id,
    "uid": Schedule.uid,
    "name": Schedule.name,
    "type": Schedule.kind,
    "created_by": Schedule.created_by,
    "created_at": Schedule.created_at,
    "schedule": Schedule.cron,
    "next_run_at": Schedule.next_run_at,
    "last_run_at": Schedule.last_run_at,
}


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    """A whole schedule, as created or replaced (no partial update)."""

    name: str
    cron: str
    kind: str
    content: str
    interpreter: str = ""  # one of the agent's (jobs.service.INTERPRETERS) or "" (its default)
    cwd: str = ""
    sudo: bool = False  # the agent runs it through ``sudo -n`` (rportd's ``is_sudo``)
    timeout_sec: int = DEFAULT_TIMEOUT
    concurrent: bool = False  # all computers at once; else one after the other
    abort_on_error: bool = False  # one after the other: stop after a failure
    overlaps: bool = False  # start a run even while the previous one is going
    catch_up: bool = False  # a computer offline at the tick runs it when back (until the next tick)
    computer_ids: list[int] = field(default_factory=list)
    group_keys: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    tag_operator: str = "or"  # "and": computers with every tag; "or": with any


@dataclass(frozen=True, slots=True)
class LastRun:
    batch_id: int
    started_at: datetime
    statuses: dict[str, int]  # job status -> jobs of the run
    output: str | None  # stdout of a one-computer run, else None

    @property
    def client_count(self) -> int:
        return sum(self.statuses.values())

    @property
    def success_count(self) -> int:
        return self.statuses.get(JobStatus.SUCCEEDED.value, 0)


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    id: str
    key: int  # the row id: JobBatch.schedule_id of its runs
    data: ScheduleInput
    created_by: str
    created_at: datetime
    updated_at: datetime | None
    next_run_at: datetime
    last_run: LastRun | None


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one ``run_due`` did: schedule uids run (with their batch), skipped (with why)."""

    ran: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.ran or self.skipped)


def check_cron(expr: str) -> str:
    """The expression as stored (single spaces), or ValidationFailed saying what is wrong."""
    text = " ".join(expr.split())
    if not text:
        raise ValidationFailed("schedule is required", field="schedule")
    if text.startswith("@"):
        if text.lower() not in DESCRIPTORS:
            raise ValidationFailed(
                f"invalid schedule {expr!r}: descriptors are {', '.join(DESCRIPTORS)}", field="schedule"
            )
        return text.lower()
    parts = text.split(" ")
    if len(parts) != 5 or not all(_FIELD.match(p) for p in parts):
        raise ValidationFailed(
            f"invalid schedule {expr!r}: five fields (minute hour day month weekday) are expected",
            field="schedule",
        )
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationFailed(f"invalid schedule {expr!r}: it never fires", field="schedule") from None
    except (CroniterBadCronError, CroniterNotAlphaError, ValueError, KeyError) as exc:
        raise ValidationFailed(f"invalid schedule {expr!r}: {exc}", field="schedule") from None
    return text


def next_tick(expr: str, after: datetime) -> datetime:
    """The first tick of ``expr`` strictly after ``after`` (same time zone as ``after``)."""
    nxt: datetime = croniter(expr, after).get_next(datetime)
    return nxt


def _check(data: ScheduleInput) -> ScheduleInput:
    if not data.name.strip():
        raise ValidationFailed("name is required", field="name")
    if len(data.name) > MAX_NAME:
        raise ValidationFailed(f"name is longer than {MAX_NAME} characters", field="name")
    cron = check_cron(data.cron)
    if data.kind not in KINDS:
        raise ValidationFailed("type must be 'command' or 'script'", field="type")
    if not data.content.strip():
        raise ValidationFailed(f"{data.kind} is required", field=data.kind)
    if len(data.content.encode()) > MAX_COMMAND:
        raise ValidationFailed(f"{data.kind} is longer than {MAX_COMMAND} bytes", field=data.kind)
    if data.interpreter and data.interpreter not in INTERPRETERS:
        raise ValidationFailed(f"interpreter must be one of {', '.join(INTERPRETERS)}", field="interpreter")
    if not 1 <= data.timeout_sec <= MAX_TIMEOUT:
        raise ValidationFailed(f"timeout_sec must be between 1 and {MAX_TIMEOUT}", field="timeout_sec")
    if data.tag_operator not in ("and", "or"):
        raise ValidationFailed("the tags' operator must be 'and' or 'or'", field="tags")
    for name, values in (
        ("client_ids", data.computer_ids),
        ("group_ids", data.group_keys),
        ("tags", data.tags),
    ):
        if len(values) > MAX_TARGETS:
            raise ValidationFailed(f"at most {MAX_TARGETS} {name}", field=name)
    if any(not t.strip() or len(t) > MAX_TAG for t in [*data.tags, *data.group_keys]):
        raise ValidationFailed(f"tags and group ids are 1 to {MAX_TAG} characters", field="tags")
    if not (data.computer_ids or data.group_keys or data.tags):
        raise ValidationFailed("give at least one client, group or tag", field="client_ids")
    text = data.name + data.content + data.interpreter + data.cwd + "".join([*data.tags, *data.group_keys])
    if "\x00" in text:
        raise ValidationFailed("text must not contain NUL characters")
    return ScheduleInput(
        name=data.name.strip(),
        cron=cron,
        kind=data.kind,
        content=data.content,
        interpreter=data.interpreter,
        cwd=data.cwd,
        sudo=data.sudo,
        timeout_sec=data.timeout_sec,
        concurrent=data.concurrent,
        abort_on_error=data.abort_on_error,
        overlaps=data.overlaps,
        catch_up=data.catch_up,
        computer_ids=list(dict.fromkeys(data.computer_ids)),
        group_keys=list(dict.fromkeys(data.group_keys)),
        tags=list(dict.fromkeys(t.strip() for t in data.tags)),
        tag_operator=data.tag_operator,
    )


def _input(row: Schedule) -> ScheduleInput:
    return ScheduleInput(
        name=row.name,
        cron=row.cron,
        kind=row.kind,
        content=row.content,
        interpreter=row.interpreter,
        cwd=row.cwd,
        sudo=row.is_sudo,
        timeout_sec=row.timeout_sec,
        concurrent=row.concurrent,
        abort_on_error=row.abort_on_error,
        overlaps=row.overlaps,
        catch_up=row.catch_up,
        computer_ids=[int(c) for c in row.computer_ids or []],
        group_keys=[str(g) for g in row.group_keys or []],
        tags=[str(t) for t in row.tags or []],
        tag_operator=row.tag_operator,
    )


def _perms(kind: str) -> tuple[Perm, ...]:
    return (Perm.RUN_COMMANDS, Perm.RUN_SCRIPTS) if kind == SCRIPT else (Perm.RUN_COMMANDS,)


def _creator(s: Session, row: Schedule) -> Actor | None:
    """The creator as an actor with their permissions now, or None if gone or disabled."""
    user = s.get(User, row.creator_id) if row.creator_id is not None else None
    if user is None or user.disabled or user.username != row.created_by:
        return None
    granted, withheld = perms_of(user.group_perms)
    return Actor(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        via="schedule",
        granted=granted,
        withheld=withheld,
    )


class ScheduleService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, jobs: JobService) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._jobs = jobs

    # ------------------------------------------------------------ reading

    def find(self, actor: Actor, query: Query) -> Page[ScheduleItem]:
        """A page of schedules (``FIELDS`` names filters and sorts): a count, a select, the
        latest runs' counts and, if any of them ran on one computer, their output."""
        actor.require(Perm.MANAGE_SCHEDULES)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            stmt, count = apply_query(
                select(Schedule), select(func.count()).select_from(Schedule), query, FIELDS
            )
            assert count is not None
            total = s.scalar(count) or 0
            rows = list(s.scalars(stmt))
            return Page(items=self._items(s, rows), total=total)

    def get(self, actor: Actor, uid: Ref) -> ScheduleItem:
        """A schedule by its uuid, or by its row id (``ScheduleItem.key``)."""
        actor.require(Perm.MANAGE_SCHEDULES)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(select(Schedule).where(_named(uid)))
            if row is None:
                raise NotFound("schedule", uid)
            return self._items(uow.session, [row])[0]

    def _items(self, s: Session, rows: Sequence[Schedule]) -> list[ScheduleItem]:
        batches = [r.last_batch_id for r in rows if r.last_batch_id is not None]
        counts: dict[int, dict[str, int]] = {}
        started: dict[int, datetime] = {}
        if batches:
            stmt = (
                select(Job.batch_id, Job.status, func.count(), func.min(Job.created_at))
                .where(Job.batch_id.in_(batches))
                .group_by(Job.batch_id, Job.status)
            )
            for batch_id, status, n, at in s.execute(stmt):
                counts.setdefault(batch_id, {})[status] = n
                started[batch_id] = min(at, started.get(batch_id, at))
        single = [b for b, c in counts.items() if sum(c.values()) == 1]
        output: dict[int, str] = {}
        if single:
            rows_out = s.execute(select(Job.batch_id, Job.stdout).where(Job.batch_id.in_(single)))
            output = {b: out for b, out in rows_out}
        items = []
        for r in rows:
            last = None
            if r.last_batch_id is not None and r.last_batch_id in counts:
                b = r.last_batch_id
                last = LastRun(b, started[b], counts[b], output.get(b))
            items.append(
                ScheduleItem(
                    r.uid, r.id, _input(r), r.created_by, r.created_at, r.updated_at, r.next_run_at, last
                )
            )
        return items

    # ------------------------------------------------------------ changing

    def save(self, actor: Actor, data: ScheduleInput, uid: Ref | None = None) -> ScheduleItem:
        """Create (``uid`` None) or replace a schedule. Its next tick counts from now."""
        action = "schedule.create" if uid is None else "schedule.update"
        with self._audit.mutation(actor, action, "schedule", uid or "", perm=Perm.MANAGE_SCHEDULES) as m:
            for perm in _perms(data.kind):
                actor.require(perm)
            clean = _check(data)
            s = m.session
            row: Schedule | None = None
            if uid is not None:
                row = s.scalar(select(Schedule).where(_named(uid)).with_for_update())
                if row is None:
                    raise NotFound("schedule", uid)
                _may_change(actor, row)
            self._check_targets(s, actor, clean)
            now = self._clock()
            if row is None:
                row = Schedule(
                    uid=str(uuid.uuid4()),
                    created_by=actor.username,
                    creator_id=actor.user_id,
                    created_at=now,
                )
                s.add(row)
            else:
                row.updated_at = now
            row.name, row.cron, row.kind, row.content = clean.name, clean.cron, clean.kind, clean.content
            row.interpreter, row.cwd, row.is_sudo = clean.interpreter, clean.cwd, clean.sudo
            row.timeout_sec, row.concurrent, row.abort_on_error = (
                clean.timeout_sec,
                clean.concurrent,
                clean.abort_on_error,
            )
            row.overlaps, row.catch_up = clean.overlaps, clean.catch_up
            row.computer_ids, row.group_keys = list(clean.computer_ids), list(clean.group_keys)
            row.tags, row.tag_operator = list(clean.tags), clean.tag_operator
            row.next_run_at = next_tick(clean.cron, now)
            s.flush()
            m.object_id = row.uid
            m.detail = {"name": clean.name, "schedule": clean.cron, "type": clean.kind}
            return self._items(s, [row])[0]

    def _check_targets(self, s: Session, actor: Actor, data: ScheduleInput) -> None:
        """The computers given exist and the actor reaches them; the groups exist."""
        if data.computer_ids:
            stmt = select(Computer.id).where(Computer.id.in_(data.computer_ids))
            scope = reach(s, actor, Perm.RUN_COMMANDS, Computer.id)
            found = set(s.scalars(stmt if scope is None else stmt.where(scope)))
            missing = [c for c in data.computer_ids if c not in found]
            if missing:
                raise NotFound("computer", missing[0])
        if data.group_keys:
            known = set(s.scalars(select(RuleGroup.key).where(RuleGroup.key.in_(data.group_keys))))
            unknown = [k for k in data.group_keys if k not in known]
            if unknown:
                raise ValidationFailed(f"Unknown group with id={unknown[0]!r}.", field="group_ids")

    def delete(self, actor: Actor, uid: Ref) -> None:
        """Delete a schedule; its runs stay (their jobs still name it)."""
        with self._audit.mutation(actor, "schedule.delete", "schedule", uid, perm=Perm.MANAGE_SCHEDULES) as m:
            row = m.session.scalar(select(Schedule).where(_named(uid)))
            if row is None:
                raise NotFound("schedule", uid)
            _may_change(actor, row)
            m.object_id = row.uid
            m.detail = {"name": row.name}
            m.session.delete(row)

    # ------------------------------------------------------------ ticks

    def run_due(self) -> TickResult:
        """Fire the schedules whose tick has come (the ``schedules.run`` duty)."""
        now = self._clock()
        result = TickResult()
        with UnitOfWork(self._db, readonly=True) as uow:
            due = [
                (r[0], r[1])
                for r in uow.session.execute(
                    select(Schedule.id, Schedule.next_run_at)
                    .where(Schedule.next_run_at <= now)
                    .order_by(Schedule.next_run_at, Schedule.id)
                    .limit(MAX_DUE)
                )
            ]
        for schedule_id, tick in due:
            try:
                self._fire(schedule_id, tick, now, result)
            except Exception:  # one broken schedule must not hold the others up
                log.exception("schedule %s failed at its tick %s", schedule_id, tick)
        return result

    def _fire(self, schedule_id: int, tick: datetime, now: datetime, result: TickResult) -> None:
        system = system_actor("schedule")
        with UnitOfWork(self._db) as uow:
            s = uow.session
            row = s.get(Schedule, schedule_id)
            if row is None or row.next_run_at != tick:
                return  # deleted or changed since it was read
            following = next_tick(row.cron, now)
            claimed = s.execute(
                update(Schedule)
                .where(Schedule.id == schedule_id, Schedule.next_run_at == tick)
                .values(next_run_at=following, last_run_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return  # another process fired it
            uid, data, previous = row.uid, _input(row), row.last_batch_id
            actor = _creator(s, row)
            why = ""
            targets: list[int] = []
            groups: list[str] = []
            if actor is None:
                why = f"its creator {row.created_by!r} is disabled or deleted"
            elif not data.overlaps and previous is not None and _going(s, previous, now):
                why = "the previous run is still going"
            else:
                try:
                    for perm in (Perm.MANAGE_SCHEDULES, *_perms(data.kind)):
                        actor.require(perm)
                    targets, groups = _targets(s, actor, data)
                except PermissionDenied as exc:
                    why = f"the run was refused: {exc}"
                else:
                    if not targets and not groups:
                        why = "no target is left"
            if why:
                result_ = "failed" if why.startswith("the run was refused") else "ok"
                self._audit.add(
                    s, system, "schedule.skip", "schedule", uid, result_, reason=why, tick=tick.isoformat()
                )
                result.skipped[uid] = why
                return
        assert actor is not None
        timeout = timedelta(seconds=data.timeout_sec)
        expires = timeout
        if data.catch_up or not data.concurrent:  # a missed run (or a turn) waits until the next tick
            expires = max(min(following - now, MAX_CATCH_UP), timeout)
        request = CommandRequest(
            command=data.content,
            interpreter=data.interpreter or None,
            cwd=data.cwd or None,
            sudo=data.sudo,
            timeout_sec=data.timeout_sec,
            origin={"schedule": uid, "interpreter": data.interpreter},
            is_script=data.kind == SCRIPT,
        )
        try:
            created = self._jobs.create_commands(
                actor,
                request,
                computer_ids=targets,
                rule_groups=groups,
                expires_in=expires,
                order=RunOrder(sequential=not data.concurrent, abort_on_error=data.abort_on_error),
                name=RUN_NAME,
                schedule_id=schedule_id,
            )
        except FleetdeckError as exc:
            why = f"the run was refused: {exc}"
            self._audit.record(system, "schedule.skip", "schedule", uid, "failed", reason=why)
            result.skipped[uid] = why
            return
        with UnitOfWork(self._db) as uow:
            uow.session.execute(
                update(Schedule).where(Schedule.id == schedule_id).values(last_batch_id=created.batch_id)
            )
            self._audit.add(uow.session, system, "schedule.run", "schedule", uid, batch=created.batch_id)
        result.ran[uid] = created.batch_id


def _named(ref: Ref) -> ColumnElement[bool]:
    if isinstance(ref, int):
        return Schedule.id == ref
    return Schedule.uid == ref


def _may_change(actor: Actor, row: Schedule) -> None:
    if actor.role is not Role.ADMIN and actor.username != row.created_by:
        raise PermissionDenied(f"{actor.username} may change only their own schedules", perm="schedule")


def _going(s: Session, batch_id: int, now: datetime) -> bool:
    """Whether a run is still going: a job sent or running, or queued (not expired) for a
    computer that is online (its turn, or its delivery, is coming)."""
    online = select(Computer.id).where(Computer.online.is_(True))
    stmt = select(Job.id).where(
        Job.batch_id == batch_id,
        or_(
            Job.status.in_([JobStatus.SENT.value, JobStatus.RUNNING.value]),
            (Job.status == JobStatus.QUEUED.value)
            & or_(Job.expires_at.is_(None), Job.expires_at > now)
            & Job.computer_id.in_(online),
        ),
    )
    return s.scalar(stmt.limit(1)) is not None


def _targets(s: Session, actor: Actor, data: ScheduleInput) -> tuple[list[int], list[str]]:
    """The computers (given ones still there and reachable, then the tagged ones) and the rule
    groups (still there) of a run; core decides the groups' members when it makes the jobs."""
    scope = reach(s, actor, Perm.RUN_COMMANDS, Computer.id)
    ids: list[int] = []
    if data.computer_ids:
        stmt = select(Computer.id).where(Computer.id.in_(data.computer_ids))
        found = set(s.scalars(stmt if scope is None else stmt.where(scope)))
        ids = [c for c in data.computer_ids if c in found]
    if data.tags:
        tagged = select(Computer.id).where(condition({"tags": {data.tag_operator: list(data.tags)}}))
        if scope is not None:
            tagged = tagged.where(scope)
        ids = list(dict.fromkeys([*ids, *s.scalars(tagged.order_by(Computer.id))]))
    groups: list[str] = []
    if data.group_keys:
        known = set(s.scalars(select(RuleGroup.key).where(RuleGroup.key.in_(data.group_keys))))
        groups = [k for k in data.group_keys if k in known]
    return ids, groups
