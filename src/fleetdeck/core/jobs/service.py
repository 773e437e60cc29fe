"""Jobs: creation, the delivery state machine, results, cancellation and expiry.

Exactly-once rests on three rules shared with the agent (see protocol/messages.py):
1. A job is marked ``sent`` when it is handed to a connection, never re-sent on that connection.
2. On every hello the agent lists the jobs it holds; ``sent``/``running`` jobs it does not hold
   are queued again (the frame was lost), and the ones it holds are never re-sent.
3. A result is acknowledged only after it is committed; the agent keeps it until then, and a
   result for a job that is already final changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, Update, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, system_actor
from fleetdeck.core.computers.entities import CAPABILITIES, capabilities, incapable
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.groups.rules import access, has_tags, reach, reaches
from fleetdeck.core.groups.rules import condition as rule_condition
from fleetdeck.core.jobs import delivery, outcomes, wol_shutdown
from fleetdeck.core.jobs.entities import (
    ABORT_ON_ERROR,
    ACTION_KIND,
    ACTIONS,
    FILE_PUT_KIND,
    FINAL,
    PACKAGE_KINDS,
    SEQUENTIAL,
    ActionRequest,
    BatchCreated,
    BatchInfo,
    CommandRequest,
    JobInfo,
    JobStatus,
    RunOrder,
    TagTarget,
)
from fleetdeck.core.packages import states
from fleetdeck.core.people.scope import visible
from fleetdeck.core.ports import Clock, JobNotifier, JobWatch, NullJobWatch
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.core.settings.configs import Config, check_config, store_config
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.protocol import messages as msg
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import Computer, GroupMember, Job, JobBatch, RuleGroup
from fleetdeck.storage.uow import UnitOfWork

INTERPRETERS = ("sh", "bash", "zsh", "powershell", "cmd")
# Interpreters only agents announcing a protocol feature get (the others would refuse the whole
# JobRun frame): a job for an agent without it fails at delivery, with the reason.
INTERPRETER_FEATURES = {"zsh": msg.FEATURE_ZSH}
MAX_COMMAND = 64 * 1024
MAX_TIMEOUT = 7 * 24 * 3600
MAX_MESSAGE = 4096
MAX_ACTION_DELAY_MIN = 24 * 60
MAX_WAIT_SEC = 2 * 3600  # how long one call may wait for jobs to finish
_FINAL_VALUES = [s.value for s in FINAL]

# Called inside the transaction that changed installation records (computer ids); deployment
# rules use it to re-evaluate. Returns nothing; it may add jobs in the same session.
InstallationHook = Callable[[Session, set[int]], None]

FIELDS = {
    "id": Job.id,
    "batch_id": Job.batch_id,
    "computer_id": Job.computer_id,
    "kind": Job.kind,
    "status": Job.status,
    "exit_code": Job.exit_code,
    "created_at": Job.created_at,
    "created_by": Job.created_by,
    "started_at": Job.started_at,
    "finished_at": Job.finished_at,
}


BATCH_FIELDS = {
    "id": JobBatch.id,
    "kind": JobBatch.kind,
    "name": JobBatch.name,
    "created_at": JobBatch.created_at,
    "created_by": JobBatch.created_by,
    "schedule_id": JobBatch.schedule_id,
}


def _batch_info(b: JobBatch, counts: dict[str, int], job_ids: list[int]) -> BatchInfo:
    return BatchInfo(
        id=b.id,
        kind=b.kind,
        name=b.name,
        spec=dict(b.spec),
        created_at=b.created_at,
        created_by=b.created_by,
        expires_at=b.expires_at,
        counts=counts,
        job_ids=job_ids,
        sequence_mode=b.sequence_mode,
        schedule_id=b.schedule_id,
    )


def job_info(j: Job) -> JobInfo:
    return JobInfo(
        id=j.id,
        batch_id=j.batch_id,
        computer_id=j.computer_id,
        kind=j.kind,
        spec=dict(j.spec),
        status=JobStatus(j.status),
        exit_code=j.exit_code,
        stdout=j.stdout,
        stderr=j.stderr,
        message=j.message,
        output_truncated=j.output_truncated,
        cancel_requested=j.cancel_requested,
        created_at=j.created_at,
        created_by=j.created_by,
        sent_at=j.sent_at,
        started_at=j.started_at,
        finished_at=j.finished_at,
        expires_at=j.expires_at,
    )


def _validate_command(req: CommandRequest) -> dict[str, object]:
    if not req.command.strip():
        raise ValidationFailed("command must not be empty", field="command")
    if len(req.command.encode()) > MAX_COMMAND:
        raise ValidationFailed(f"command is longer than {MAX_COMMAND} bytes", field="command")
    if req.interpreter is not None and req.interpreter not in INTERPRETERS:
        raise ValidationFailed(f"interpreter must be one of {', '.join(INTERPRETERS)}", field="interpreter")
    if not 1 <= req.timeout_sec <= MAX_TIMEOUT:
        raise ValidationFailed(f"timeout_sec must be between 1 and {MAX_TIMEOUT}", field="timeout_sec")
    env = req.env or {}
    for k in env:
        if not k or "=" in k or "\0" in k or "\0" in env[k]:
            raise ValidationFailed(f"invalid environment variable {k!r}", field="env")
    spec: dict[str, object] = {"command": req.command, "timeout_sec": req.timeout_sec}
    if req.interpreter:
        spec["interpreter"] = req.interpreter
    if req.cwd:
        spec["cwd"] = req.cwd
    if env:
        spec["env"] = dict(env)
    if req.origin:
        spec["origin"] = dict(req.origin)
    if req.is_script:
        spec["is_script"] = True
    if req.sudo:
        spec["sudo"] = True
    return spec


def _validate_action(req: ActionRequest) -> dict[str, object]:
    if req.action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if not 0 <= req.delay_min <= MAX_ACTION_DELAY_MIN:
        raise ValidationFailed(f"delay_min must be between 0 and {MAX_ACTION_DELAY_MIN}", field="delay_min")
    if req.action == "message":
        if not req.message.strip():
            raise ValidationFailed("message must not be empty", field="message")
        if len(req.message.encode()) > MAX_MESSAGE:
            raise ValidationFailed(f"message is longer than {MAX_MESSAGE} bytes", field="message")
        return {"action": req.action, "message": req.message}
    return {"action": req.action, "delay_min": req.delay_min}


class JobService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        notifier: JobNotifier,
        settings: SettingsService,
        max_output_bytes: int = 1024 * 1024,
        watch: JobWatch | None = None,
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._notifier = notifier
        self._settings = settings
        self._max_output = max_output_bytes
        self._watch = watch or NullJobWatch()
        self.installation_hooks: list[InstallationHook] = []

    # ------------------------------------------------------------ users' side

    def create_commands(
        self,
        actor: Actor,
        request: CommandRequest,
        *,
        computer_ids: Sequence[int] = (),
        group_ids: Sequence[int] = (),
        expires_in: timedelta | None = None,
        order: RunOrder | None = None,
        name: str = "",
        rule_groups: Sequence[str] = (),
        tags: TagTarget | None = None,
        schedule_id: int | None = None,
    ) -> BatchCreated:
        """One command job per computer. ``order``: all at once (default) or one computer after
        the other, in the order of ``computer_ids`` then the groups' members (``RunOrder``).
        ``rule_groups``: keys of groups defined by inventory rules, whose members are targets too.
        ``tags``: the computers with those tags (connected or not) are targets too, in id order.
        ``schedule_id``: the schedule whose tick this run is (``core.jobs.schedules``)."""
        self._audit.require(actor, run_perm(actor), "command.create", "job_batch")
        if request.is_script:
            self._audit.require(actor, Perm.RUN_SCRIPTS, "command.create", "job_batch")
        spec = _validate_command(request)
        detail = {"command": request.command[:200]}
        return self._create_batch(
            actor,
            "command",
            spec,
            "command.create",
            detail,
            computer_ids,
            group_ids,
            expires_in,
            order,
            name,
            rule_groups=rule_groups,
            tags=tags,
            schedule_id=schedule_id,
        )

    def create_actions(
        self,
        actor: Actor,
        request: ActionRequest,
        *,
        computer_ids: Sequence[int] = (),
        group_ids: Sequence[int] = (),
        expires_in: timedelta | None = None,
    ) -> BatchCreated:
        """Reboot, shut down, or show a message: one job per computer, run by its agent.

        Same permission as commands (a reboot is as disruptive as any command). Callers that
        mean "now or never" give a short ``expires_in``, so a computer that comes back days
        later is not rebooted out of the blue.
        """
        self._audit.require(actor, run_perm(actor), f"action.{request.action}", "job_batch")
        spec = _validate_action(request)
        detail = {"action": request.action}
        return self._create_batch(
            actor, ACTION_KIND, spec, f"action.{request.action}", detail, computer_ids, group_ids, expires_in
        )

    def create_file_puts(
        self,
        actor: Actor,
        spec: dict[str, object],
        *,
        computer_ids: Sequence[int] = (),
        group_ids: Sequence[int] = (),
        rule_groups: Sequence[str] = (),
        tags: TagTarget | None = None,
    ) -> BatchCreated:
        """One ``file_put`` job per computer (``core/jobs/files.py`` checked ``spec`` and keeps
        the file). Needs UPLOAD_FILES, not RUN_COMMANDS: rportd's ``uploads`` permission.
        ``rule_groups``: keys of groups defined by inventory rules, whose members (those the
        actor may reach, decided in the jobs' transaction) are targets too."""
        detail = {
            "dest": str(spec.get("dest", ""))[:200],
            "size": spec.get("size"),
            "upload": spec.get("upload"),
        }
        return self._create_batch(
            actor,
            FILE_PUT_KIND,
            spec,
            "file.put",
            detail,
            computer_ids,
            group_ids,
            None,
            perm=Perm.UPLOAD_FILES,
            rule_groups=rule_groups,
            tags=tags,
        )

    def redeliver(self, actor: Actor, computer_ids: Sequence[int]) -> None:
        """Ask the hub to hand queued jobs of these computers to their agents now (opsi's
        "process action requests"; normally jobs are pushed the moment they are queued)."""
        actor.require(Perm.RUN_COMMANDS)
        if computer_ids:
            self._notifier.jobs_queued(sorted(set(computer_ids)))

    def _create_batch(
        self,
        actor: Actor,
        kind: str,
        spec: dict[str, object],
        action: str,
        detail: Mapping[str, object],
        computer_ids: Sequence[int],
        group_ids: Sequence[int],
        expires_in: timedelta | None,
        order: RunOrder | None = None,
        name: str = "",
        perm: Perm | None = None,
        rule_groups: Sequence[str] = (),
        tags: TagTarget | None = None,
        schedule_id: int | None = None,
    ) -> BatchCreated:
        if tags is not None and not tags.tags:
            raise ValidationFailed("please specify tags in the tags list", field="tags")
        if not computer_ids and not group_ids and not rule_groups and tags is None:
            raise ValidationFailed("give at least one computer or group", field="computer_ids")
        if expires_in is not None and expires_in.total_seconds() <= 0:
            raise ValidationFailed("expiry must be in the future", field="expires_in_sec")
        with self._audit.mutation(actor, action, "job_batch", perm=perm or run_perm(actor)) as m:
            s = m.session
            # an end user reaches only the computers assigned to them: others are "not found",
            # and a group's other members are left out
            scope = visible(actor, Perm.RUN_COMMANDS, Computer.id)
            # a user in user groups reaches only what their groups may (core.groups.rules)
            reach = access(s, actor)
            targets = set(computer_ids)
            wanted = select(Computer.id).where(Computer.id.in_(targets))
            if reach is not None:
                wanted = wanted.where(reach)
            found = set(s.scalars(wanted if scope is None else wanted.where(scope))) if targets else set()
            in_groups: list[int] = []
            missing = sorted(targets - found)
            if missing:
                raise NotFound("computer", missing[0])
            if group_ids:
                from fleetdeck.storage.tables import Group

                gids = set(group_ids)
                known = set(s.scalars(select(Group.id).where(Group.id.in_(gids))))
                if gids - known:
                    raise NotFound("group", sorted(gids - known)[0])
                members = select(GroupMember.computer_id).where(GroupMember.group_id.in_(gids))
                narrowed = visible(actor, Perm.RUN_COMMANDS, GroupMember.computer_id)
                if narrowed is not None:
                    members = members.where(narrowed)
                if reach is not None:
                    members = members.where(GroupMember.computer_id.in_(select(Computer.id).where(reach)))
                in_groups = list(s.scalars(members.order_by(GroupMember.computer_id)))
                found |= set(in_groups)
            ruled: list[int] = []
            if rule_groups:
                ruled = _rule_group_members(s, list(dict.fromkeys(rule_groups)), scope, reach)
                in_groups = list(dict.fromkeys([*in_groups, *ruled]))
                found |= set(ruled)
            if tags is not None:
                tagged = _tagged(s, tags, scope, reach)
                if not tagged and not found:
                    raise ValidationFailed("at least 1 client should be specified", field="tags")
                ruled = list(dict.fromkeys([*ruled, *tagged]))
                in_groups = list(dict.fromkeys([*in_groups, *tagged]))
                found |= set(tagged)
            if not found:
                raise ValidationFailed("the groups have no members", field="group_ids")
            _refuse_incapable(s, kind, targets | set(ruled), group_ids)
            ordered = sorted(found)
            run = order or RunOrder()
            # one at a time: the order asked for (the ids given, then the groups' members)
            turn = list(dict.fromkeys([*computer_ids, *in_groups]))
            batch_id, job_ids = self._insert_batch(
                s,
                actor,
                kind,
                spec,
                ordered,
                expires_in,
                mode=run.mode,
                turns=turn if run.sequential else None,
                name=name,
                schedule_id=schedule_id,
            )
            m.object_id = str(batch_id)
            m.detail = {"computers": len(ordered), **detail}
        self._notifier.jobs_queued(ordered)
        return BatchCreated(batch_id=batch_id, job_ids=job_ids)

    def announce(
        self, actor: Actor, entries: Sequence[Config], message: str | None, *, expires_in: timedelta
    ) -> list[int]:
        """Store the config ``entries`` (a message and its validity, say, for agents and
        transports to read later) and, with a ``message``, show it at once on every connected
        computer (a ``message`` action each, expiring after ``expires_in``), in one transaction:
        stored in one call and queued in a second, a failure or a refusal in between left the
        texts stored and nobody told. Needs the settings permission, and with a message the
        commands permission too; audited ``config.put`` (the keys) and, in the same
        transaction, ``action.message`` for the batch. Returns the computers notified."""
        for entry in entries:
            check_config(entry)
        spec = _validate_action(ActionRequest(action="message", message=message)) if message else None
        if expires_in.total_seconds() <= 0:
            raise ValidationFailed("expiry must be in the future", field="expires_in_sec")
        keys = ",".join(e.key for e in entries)
        ordered: list[int] = []
        with self._audit.mutation(actor, "config.put", "config", keys, perm=Perm.MANAGE_SETTINGS) as m:
            if spec is not None:
                actor.require(Perm.RUN_COMMANDS)
            s = m.session
            serialize(s, Serial.CONFIG_ENTRIES)  # as ConfigService's writers: a merge reads first
            for entry in entries:
                store_config(s, entry)
            m.detail = {"default_values": {e.key: list(e.default_values) for e in entries}}
            if spec is not None:
                # connected agents only: a polling agent shows no messages
                ordered = sorted(
                    s.scalars(
                        select(Computer.id).where(Computer.online.is_(True), Computer.node_id.is_not(None))
                    )
                )
            if ordered:
                batch_id, _ = self._insert_batch(s, actor, ACTION_KIND, spec or {}, ordered, expires_in)
                self._audit.add(
                    s,
                    actor,
                    "action.message",
                    "job_batch",
                    batch_id,
                    computers=len(ordered),
                )
        if ordered:
            self._notifier.jobs_queued(ordered)
        return ordered

    def _insert_batch(
        self,
        s: Session,
        actor: Actor,
        kind: str,
        spec: dict[str, object],
        ordered: list[int],
        expires_in: timedelta | None,
        *,
        mode: int = 0,
        turns: list[int] | None = None,
        name: str = "",
        schedule_id: int | None = None,
    ) -> tuple[int, list[int]]:
        """A batch with one queued job per computer (ascending ids), in the caller's
        transaction; (batch id, job ids in computer order). ``turns``: the computers in the
        order they take their turn (a sequential batch; ``Job.sequence`` = the position)."""
        now = self._clock()
        expires = now + expires_in if expires_in is not None else None
        position = {cid: i for i, cid in enumerate(turns or [])}
        batch = JobBatch(
            kind=kind,
            spec=spec,
            created_at=now,
            created_by=actor.username,
            expires_at=expires,
            sequence_mode=mode,
            name=name[:200],
            schedule_id=schedule_id,
        )
        s.add(batch)
        s.flush()
        rows = [
            {
                "batch_id": batch.id,
                "computer_id": cid,
                "kind": kind,
                "spec": spec,
                "status": JobStatus.QUEUED.value,
                "sequence": position.get(cid, 0),
                "created_at": now,
                "created_by": actor.username,
                "expires_at": expires,
            }
            for cid in ordered
        ]
        # A plain executemany, then the ids: with RETURNING, insertmanyvalues has psycopg parse
        # one 1000-row statement per page (~0.4 ms per job). One job per computer, so the
        # batch's jobs in computer order line up with ``ordered``. Core, not the ORM's bulk
        # insert, which spends ~30 µs of Python per row sorting out which keys are columns.
        s.execute(insert(cast(Table, Job.__table__)), rows)
        job_ids = list(s.scalars(select(Job.id).where(Job.batch_id == batch.id).order_by(Job.computer_id)))
        return batch.id, job_ids

    def get(self, actor: Actor, job_id: int) -> JobInfo:
        visible(actor, Perm.READ, Job.computer_id)  # PermissionDenied before any read
        with UnitOfWork(self._db, readonly=True) as uow:
            j = uow.session.get(Job, job_id)
            if j is None or not reaches(uow.session, actor, Perm.READ, j.computer_id):
                raise NotFound("job", job_id)
            return job_info(j)

    def find(self, actor: Actor, query: Query) -> Page[JobInfo]:
        visible(actor, Perm.READ, Job.computer_id)  # PermissionDenied before any read
        with UnitOfWork(self._db, readonly=True) as uow:
            jobs, counted = select(Job), select(func.count()).select_from(Job)
            # an end user: the jobs of their computers; a user in user groups: of what they reach
            scope = reach(uow.session, actor, Perm.READ, Job.computer_id)
            if scope is not None:
                jobs, counted = jobs.where(scope), counted.where(scope)
            stmt, count = apply_query(jobs, counted, query, FIELDS, default_sort="-id")
            assert count is not None
            return Page(
                items=[job_info(j) for j in uow.session.scalars(stmt)], total=uow.session.scalar(count) or 0
            )

    def wait(self, actor: Actor, job_ids: Sequence[int], timeout: float) -> list[JobInfo]:
        """The jobs (in the order given) once all are final, or as they are after ``timeout``
        seconds. No polling: final results are announced on the bus after commit, and the
        statuses are read once after subscribing, so a job that finished just before is seen.
        Jobs deleted while waiting (a deployment removed) are left out."""
        actor.require(Perm.READ)
        if not 0 <= timeout <= MAX_WAIT_SEC:
            raise ValidationFailed(f"timeout must be between 0 and {MAX_WAIT_SEC} s", field="timeout")
        ids = list(dict.fromkeys(job_ids))
        with UnitOfWork(self._db, readonly=True) as uow:
            known_ = select(Job.id).where(Job.id.in_(ids))
            scope = reach(uow.session, actor, Perm.READ, Job.computer_id)  # others' jobs: "not found"
            known = set(uow.session.scalars(known_ if scope is None else known_.where(scope)))
        missing = [jid for jid in ids if jid not in known]
        if missing:
            raise NotFound("job", missing[0])
        if ids and timeout > 0:
            self._watch.wait_final(ids, timeout, self._final_among)
        with UnitOfWork(self._db, readonly=True) as uow:
            found = {j.id: job_info(j) for j in uow.session.scalars(select(Job).where(Job.id.in_(ids)))}
        return [found[jid] for jid in ids if jid in found]

    def final_among(self, actor: Actor, job_ids: Sequence[int]) -> set[int]:
        """Which of these jobs are final (or gone): one read, for watchers that subscribed."""
        actor.require(Perm.READ)
        return self._final_among(job_ids)

    def _final_among(self, job_ids: Sequence[int]) -> set[int]:
        ids = set(job_ids)
        with UnitOfWork(self._db, readonly=True) as uow:
            open_ = set(
                uow.session.scalars(select(Job.id).where(Job.id.in_(ids), Job.status.not_in(_FINAL_VALUES)))
            )
        return ids - open_

    def get_batch(self, actor: Actor, batch_id: int) -> BatchInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            b = s.get(JobBatch, batch_id)
            if b is None:
                raise NotFound("batch", batch_id)
            # a user in user groups sees only the batch's jobs on computers they reach, and a
            # batch with none of those is "not found"
            mine = [Job.batch_id == batch_id]
            scope = reach(s, actor, Perm.READ, Job.computer_id)
            if scope is not None:
                mine.append(scope)
            # Counted by the database: a UI or script polling a 10,000-job batch should not
            # make the server walk every row in Python while it stores the results.
            counts: dict[str, int] = {
                st: n
                for st, n in s.execute(select(Job.status, func.count()).where(*mine).group_by(Job.status))
            }
            if scope is not None and not counts:
                raise NotFound("batch", batch_id)
            job_ids = list(s.scalars(select(Job.id).where(*mine).order_by(Job.id)))
            return _batch_info(b, counts, job_ids)

    def find_batches(self, actor: Actor, query: Query) -> Page[BatchInfo]:
        """Batches (newest first by default), without their counts and job ids: one count and
        one select whatever the page size. Filter on ``name`` for the batches of one origin."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            batches, counted = select(JobBatch), select(func.count()).select_from(JobBatch)
            scope = reach(uow.session, actor, Perm.READ, Job.computer_id)
            if scope is not None:  # a user in user groups: batches with a job on what they reach
                theirs = select(Job.id).where(Job.batch_id == JobBatch.id, scope).exists()
                batches, counted = batches.where(theirs), counted.where(theirs)
            stmt, count = apply_query(
                batches,
                counted,
                query,
                BATCH_FIELDS,
                default_sort="-id",
            )
            assert count is not None
            items = [_batch_info(b, {}, []) for b in uow.session.scalars(stmt)]
            return Page(items=items, total=uow.session.scalar(count) or 0)

    def cancel(self, actor: Actor, job_id: int) -> JobInfo:
        """Queued jobs are cancelled at once; delivered ones are stopped by their agent."""
        notify: list[tuple[int, int]] = []
        with self._audit.mutation(actor, "job.cancel", "job", job_id, perm=Perm.RUN_COMMANDS) as m:
            j = m.session.get(Job, job_id)
            if j is None or not reaches(m.session, actor, Perm.RUN_COMMANDS, j.computer_id):
                raise NotFound("job", job_id)
            status = JobStatus(j.status)
            if status in FINAL:
                raise Conflict(f"job {job_id} is already {status.value}")
            if status is JobStatus.QUEUED:
                j.status = JobStatus.CANCELLED.value
                j.finished_at = self._clock()
                j.message = f"cancelled by {actor.username}"
                m.session.flush()
                states.ended(m.session, [j.id], self._clock())
            else:
                j.cancel_requested = True
                notify.append((j.computer_id, j.id))
            info = job_info(j)
            batch_id = j.batch_id
        if notify:
            self._notifier.jobs_cancelled(notify)
        if info.status in FINAL:
            self._notifier.jobs_finished([job_id])
            self._changed({batch_id})
        return info

    # ------------------------------------------------------------ agents' side

    def on_hello(self, computer_id: int, known_job_ids: Iterable[int]) -> list[int]:
        """Reconcile what the agent holds with what the database says was delivered. Returns the
        jobs the agent holds that somebody asked to cancel meanwhile (it gets JobCancel for
        them): found in the same transaction, since a reconnect storm pays per transaction."""
        known = set(known_job_ids)
        if not known:
            # The usual hello holds no jobs: then there is only work if jobs were delivered to
            # this computer. Look first, so a (re)connect storm does not queue for SQLite's write
            # lock once per agent for nothing.
            with UnitOfWork(self._db, readonly=True) as uow:
                delivered = uow.session.scalar(
                    select(Job.id)
                    .where(
                        Job.computer_id == computer_id,
                        Job.status.in_([JobStatus.SENT.value, JobStatus.RUNNING.value]),
                    )
                    .limit(1)
                )
            if delivered is None:
                return []  # nothing delivered, so nothing to cancel either
        now = self._clock()
        finished: list[int] = []
        batches: set[int] = set()
        with UnitOfWork(self._db) as uow:
            s = uow.session
            rows = s.execute(
                select(Job.id, Job.status, Job.expires_at, Job.cancel_requested, Job.batch_id).where(
                    Job.computer_id == computer_id,
                    Job.status.in_([JobStatus.SENT.value, JobStatus.RUNNING.value]),
                )
            ).all()
            lost = [r for r in rows if r[0] not in known]
            batches.update(r[4] for r in lost)  # each one ends or goes back to the queue
            for jid, _status, expires_at, cancel, _batch in lost:
                if cancel:
                    values = {"status": JobStatus.CANCELLED.value, "finished_at": now, "message": "cancelled"}
                    finished.append(jid)
                elif expires_at is not None and expires_at <= now:
                    values = {"status": JobStatus.EXPIRED.value, "finished_at": now}
                    finished.append(jid)
                else:
                    values = {"status": JobStatus.QUEUED.value, "sent_at": None}
                s.execute(update(Job).where(Job.id == jid).values(**values))
            states.ended(s, finished, now)
            if known:
                batches.update(
                    s.scalars(
                        update(Job)
                        .where(
                            Job.id.in_(known),
                            Job.computer_id == computer_id,
                            Job.status == JobStatus.QUEUED.value,
                        )
                        .values(status=JobStatus.SENT.value, sent_at=now)
                        .returning(Job.batch_id)
                    )
                )
            cancels = list(s.scalars(_cancel_requested(computer_id)))
        if finished:
            self._notifier.jobs_finished(finished)
        self._changed(batches)  # the deployment page shows requeued, expired and cancelled jobs
        return cancels

    def claim_for_delivery(
        self,
        computer_ids: Sequence[int],
        remotes: Mapping[int, str] | None = None,
        features: Mapping[int, Iterable[str]] | None = None,
    ) -> list[tuple[int, msg.JobSpec]]:
        """Queued jobs of these (connected) computers that may run now, marked sent, in the order
        to run them. ``remotes``: the address each agent connects from (for IP-range conditions).
        ``features``: what each agent announced in its hello (protocol FEATURE_*); a command job
        whose interpreter needs a feature its agent lacks (zsh) fails now instead, with the
        reason. Without ``features`` every agent is taken to have them all."""
        if not computer_ids:
            return []
        now = self._clock()
        refused: list[int] = []
        batches: set[int] = set()
        with UnitOfWork(self._db) as uow:
            claimed = self._claim(uow, computer_ids, remotes, now)
            if features is not None:
                claimed, refused = self._refuse_unsupported(uow.session, claimed, features, now, batches)
        self.finished(refused)
        self._changed(batches)
        return claimed

    def _refuse_unsupported(
        self,
        s: Session,
        claimed: list[tuple[int, msg.JobSpec]],
        features: Mapping[int, Iterable[str]],
        now: datetime,
        batches: set[int],
    ) -> tuple[list[tuple[int, msg.JobSpec]], list[int]]:
        """Fail the claimed jobs their agents cannot decode (an interpreter they do not offer),
        in ``s``; returns the rest and the ids failed."""
        keep: list[tuple[int, msg.JobSpec]] = []
        failed: list[tuple[int, msg.JobResult]] = []
        for cid, spec in claimed:
            interpreter = spec.command.interpreter if spec.command is not None else None
            need = INTERPRETER_FEATURES.get(interpreter or "")
            if need is None or need in set(features.get(cid, ())):
                keep.append((cid, spec))
                continue
            why = (
                f"not run: the agent of computer {cid} does not offer {interpreter} ({interpreter} is"
                f" not installed there, it runs on Windows, or the agent is older than this server)"
            )
            failed.append(
                (
                    cid,
                    msg.JobResult(job_id=spec.id, status="failed", finished_at=now.timestamp(), message=why),
                )
            )
        if failed:
            self._store_results(s, failed, now, batches)
            ids = [r.job_id for _, r in failed]
            self._audit.add(
                s, system_actor("delivery"), "job.incapable", "job", job_ids=ids, reason="interpreter"
            )
        return keep, [r.job_id for _, r in failed]

    def _claim(
        self,
        uow: UnitOfWork,
        computer_ids: Sequence[int],
        remotes: Mapping[int, str] | None,
        now: datetime,
    ) -> list[tuple[int, msg.JobSpec]]:
        # The look for marks is cheap (an index); deciding them reads every connected
        # computer's marked jobs, which a fan-out to thousands should not pay for nothing.
        decided = (
            wol_shutdown.on_connected(uow.session, computer_ids, now, wol_shutdown.expiry(self._settings))
            if wol_shutdown.any_marked(uow.session)
            else None
        )
        if decided:
            self._audit.add(
                uow.session,
                system_actor("delivery"),
                "job.wol_shutdown_decided",
                "job",
                kept=decided.kept,
                reverted=decided.reverted,
            )
        return delivery.claim(uow.session, computer_ids, remotes or {}, now, now.astimezone())

    def claim_for_polling(self, s: Session, computer_id: int, remote: str) -> list[msg.JobSpec]:
        """Every open package job of a computer whose agent polls (they stay queued until the
        agent reports on them), in the order to run them, held back as ``claim_for_delivery``
        holds them back; in the caller's transaction ``s`` (the poll's own: one write
        transaction per poll). The poll counts as coming online for the Wake-on-LAN shutdown
        marks."""
        now = self._clock()
        if wol_shutdown.any_marked(s):
            wol_shutdown.on_connected(s, [computer_id], now, wol_shutdown.expiry(self._settings))
        claimed = delivery.claim(s, [computer_id], {computer_id: remote}, now, now.astimezone(), polled=True)
        return [spec for _, spec in claimed]

    def fail_incapable(self, s: Session, computer_id: int, hostname: str, agent_kind: str) -> list[int]:
        """A computer whose new agent (``agent_kind``, it just took the computer over) cannot
        run some of the jobs queued for it before: those fail now with the reason
        (AgentIncapable's text) instead of waiting for an agent that never takes them until they
        expire. In the caller's transaction ``s``; the caller tells ``jobs_finished`` the ids
        after it commits."""
        can = capabilities(agent_kind)
        kinds = [kind for kind, need in _NEEDS.items() if need not in can]
        if not kinds:
            return []
        kind_of: dict[int, str] = {
            jid: kind
            for jid, kind in s.execute(
                select(Job.id, Job.kind).where(
                    Job.computer_id == computer_id,
                    Job.status == JobStatus.QUEUED.value,
                    Job.kind.in_(kinds),
                )
            )
        }
        ids = sorted(kind_of)
        if not ids:
            return []
        now = self._clock()
        results = [
            (
                computer_id,
                msg.JobResult(
                    job_id=jid,
                    status="failed",
                    finished_at=now.timestamp(),
                    message=incapable(
                        computer_id, hostname, agent_kind, f"run {_NEEDS[kind_of[jid]]}"
                    ).message,
                ),
            )
            for jid in ids
        ]
        self._store_results(s, results, now)
        self._audit.add(
            s, system_actor("polling-agent"), "job.incapable", "job", job_ids=ids, agent_kind=agent_kind
        )
        return ids

    def finished(self, job_ids: Sequence[int]) -> None:
        """Tell whoever waits on these jobs that they ended (after the transaction that ended
        them committed)."""
        if job_ids:
            self._notifier.jobs_finished(list(job_ids))

    def report_polled(
        self,
        computer_id: int,
        job_id: int,
        *,
        update: msg.JobUpdate | None = None,
        output: str | None = None,
        result: msg.JobResult | None = None,
    ) -> JobStatus:
        """What a polling agent reports about one of its jobs: progress (``update``, with the
        output so far), or the end (``result``; a package job's success code list decides).
        NotFound for no such job, PermissionDenied (recorded) for another computer's job.
        Returns the job's status afterwards."""
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            s = uow.session
            row = s.execute(select(Job.computer_id, Job.status, Job.batch_id).where(Job.id == job_id)).first()
            if row is None:
                raise NotFound("job", job_id)
            owner = row[0]
            cancel: list[tuple[int, int]] = []
            if owner != computer_id:
                status = JobStatus(row[1])
            elif result is not None:
                _ack, cancel = self._store_results(s, [(computer_id, result)], now)
            elif row[1] not in _FINAL_VALUES:
                if update is not None:
                    self._store_update(s, computer_id, update, row[1])
                if output:
                    text, cut = _cap(output, self._max_output)
                    s.execute(update_job(job_id).values(stdout=text, output_truncated=cut))
            if owner == computer_id:
                status = JobStatus(s.scalar(select(Job.status).where(Job.id == job_id)) or row[1])
        if owner != computer_id:
            self._audit.record(
                system_actor("polling-agent"),
                "agent.foreign_job",
                "job",
                job_id,
                result="denied",
                computer_id=computer_id,
                job_computer_id=owner,
            )
            raise PermissionDenied(f"job {job_id} is not this computer's job")
        if result is not None and status in FINAL:
            self._notifier.jobs_finished([job_id])
        if cancel:
            self._notifier.jobs_cancelled(cancel)
        if row[1] not in _FINAL_VALUES and (update is not None or result is not None):
            self._changed({row[2]})
        return status

    def computers_with_queued(self, *, connected_only: bool = False) -> set[int]:
        with UnitOfWork(self._db, readonly=True) as uow:
            return delivery.computers_with_queued(uow.session, connected_only=connected_only)

    def announce_queued(self) -> int:
        """Periodic (housekeeping): tell the hubs about every connected computer with queued
        jobs, so jobs held back when it connected (a later start, outside a time frame) go out
        once their time comes. Returns how many computers were announced."""
        ids = self.computers_with_queued(connected_only=True)
        if ids:
            self._notifier.jobs_queued(sorted(ids))
        return len(ids)

    def agent_may_report(self, actor: Actor, computer_id: int, job_id: int, frame: str) -> bool:
        """May this computer's agent send ``frame`` (output, update, result) naming ``job_id``?

        True: the job is this computer's. False: there is no such job (deleted, or a stale id
        in the agent's journal); nobody can be watching it and storing a result finds nothing.
        Another computer's job is a security event: an agent trying to write into a job it
        never ran. It is recorded (``agent.foreign_job``, result ``denied``) and refused with
        PermissionDenied; the transport drops the frame and the connection.
        """
        with UnitOfWork(self._db, readonly=True) as uow:
            owner = uow.session.scalar(select(Job.computer_id).where(Job.id == job_id))
        if owner is None:
            return False
        if owner != computer_id:
            self._audit.record(
                actor,
                "agent.foreign_job",
                "job",
                job_id,
                result="denied",
                computer_id=computer_id,
                job_computer_id=owner,
                frame=frame,
            )
            raise PermissionDenied(f"job {job_id} is not this computer's job")
        return True

    def record_updates(self, updates: Sequence[tuple[int, msg.JobUpdate]]) -> None:
        """``accepted``/``running`` notices, batched. Stale ones (job already final) are ignored."""
        if not updates:
            return
        ids = [u.job_id for _, u in updates]
        with UnitOfWork(self._db) as uow:
            s = uow.session
            current = {
                r[0]: (r[1], r[2], r[3])
                for r in s.execute(
                    select(Job.id, Job.computer_id, Job.status, Job.batch_id).where(Job.id.in_(ids))
                )
            }
            batches: set[int] = set()
            rows = []
            shown: list[tuple[int, str]] = []
            for cid, u in updates:
                owner, status, batch_id = current.get(u.job_id, (None, None, None))
                if owner != cid or status in _FINAL_VALUES or batch_id is None:
                    continue
                at = datetime.fromtimestamp(u.at, self._clock().tzinfo)
                if u.status == "running":
                    row: dict[str, object] = {"id": u.job_id, "status": JobStatus.RUNNING.value}
                    if status != JobStatus.RUNNING.value:
                        row["started_at"] = at
                    if u.phase:
                        row["phase"] = u.phase[:10]
                        row.update(_progress(u))
                    text = u.phase or "running"
                    shown.append((u.job_id, f"{text} {u.progress}%" if u.progress is not None else text))
                    rows.append(row)
                    batches.add(batch_id)
                    status = JobStatus.RUNNING.value
                elif status == JobStatus.QUEUED.value:
                    rows.append({"id": u.job_id, "status": JobStatus.SENT.value, "sent_at": at})
                    batches.add(batch_id)
            if rows:
                s.execute(update(Job), rows)
            states.progress(s, shown, self._clock())
        self._changed(batches)

    def _store_update(self, s: Session, computer_id: int, u: msg.JobUpdate, status: str) -> None:
        """One progress notice of a polling agent (``record_updates`` batches the connected ones)."""
        at = datetime.fromtimestamp(u.at, self._clock().tzinfo)
        values: dict[str, object] = {"status": JobStatus.RUNNING.value}
        if status != JobStatus.RUNNING.value:
            values["started_at"] = at
        if u.phase:
            values["phase"] = u.phase[:10]
            values.update(_progress(u))
        s.execute(update_job(u.job_id).values(**values))

    def record_results(self, results: Sequence[tuple[int, msg.JobResult]]) -> list[tuple[int, int]]:
        """Store final results in one transaction; returns (computer_id, job_id) pairs to acknowledge."""
        if not results:
            return []
        batches: set[int] = set()
        with UnitOfWork(self._db) as uow:
            ack, cancel = self._store_results(uow.session, results, self._clock(), batches)
            wake = _next_turns(uow.session, batches)
        if cancel:
            self._notifier.jobs_cancelled(cancel)
        if wake:
            self._notifier.jobs_queued(wake)
        self._changed(batches)
        return ack

    def _store_results(
        self,
        s: Session,
        results: Sequence[tuple[int, msg.JobResult]],
        now: datetime,
        batches: set[int] | None = None,
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Store results in ``s``: what to acknowledge, and the jobs to cancel on agents as a
        consequence (a failed step of a deployment that stops at the first failure). The
        batches of the jobs stored are added to ``batches`` (for ``jobs_changed`` after commit)."""
        ids = [r.job_id for _, r in results]
        ack: list[tuple[int, int]] = []
        current: dict[int, tuple[int, str]] = {}
        batch_of: dict[int, int] = {}
        package_jobs: dict[int, str | None] = {}  # id -> success codes
        for jid, job_owner, job_status, kind, codes, batch_id in s.execute(
            select(Job.id, Job.computer_id, Job.status, Job.kind, Job.success_codes, Job.batch_id).where(
                Job.id.in_(ids)
            )
        ):
            current[jid] = (job_owner, job_status)
            batch_of[jid] = batch_id
            if kind in PACKAGE_KINDS:
                package_jobs[jid] = codes
        rows: list[dict[str, Any]] = []
        seen: set[int] = set()
        for cid, r in results:
            owner, status = current.get(r.job_id, (None, None))
            if owner is not None and owner != cid:
                continue  # not this agent's job: never acknowledge, never store
            ack.append((cid, r.job_id))
            if owner is None or status in _FINAL_VALUES or r.job_id in seen:
                continue
            seen.add(r.job_id)
            stdout, cut_out = _cap(r.stdout, self._max_output)
            stderr, cut_err = _cap(r.stderr, self._max_output)
            rows.append(
                {
                    "job_id": r.job_id,
                    "status": (
                        outcomes.judge(r.status, r.exit_code, package_jobs[r.job_id])
                        if r.job_id in package_jobs
                        else JobStatus(r.status).value
                    ),
                    "exit_code": r.exit_code,
                    "stdout": stdout,
                    "stderr": stderr,
                    "message": r.message[:4000],
                    "output_truncated": r.truncated or cut_out or cut_err,
                    "started_at": _ts(r.started_at, now),
                    "finished_at": _ts(r.finished_at, now) or now,
                }
            )
        if rows:
            s.execute(_STORE_RESULT, rows)
        if batches is not None:
            batches.update(batch_of[row["job_id"]] for row in rows)
        failed = {batch_of[row["job_id"]] for row in rows if row["status"] != JobStatus.SUCCEEDED.value}
        aborted = _abort_sequences(s, failed, now)
        finished = [{**row, "id": row["job_id"]} for row in rows if row["job_id"] in package_jobs]
        outcome = outcomes.apply(s, finished, now) if finished else outcomes.Outcome()
        if outcome.installations_changed:
            for hook in self.installation_hooks:
                hook(s, outcome.installations_changed)
        return ack, [*outcome.cancel, *aborted]

    def fail_lost(self, grace: timedelta) -> int:
        """Periodic (housekeeping): fail the delivered jobs whose agent went away for good.

        A job handed to an agent is ``sent`` or ``running`` until the agent reports. An agent
        that is killed and restarted reports it failed (its journal, agent/journal.py); one
        that never comes back (the machine died, the agent was removed) would leave the job
        ``running`` forever. So a delivered job of an offline computer is failed as lost once
        its own timeout has run out (the agent would have stopped it by then) and ``grace``
        more has passed (time for an agent to come back with the result it holds). A result
        that arrives after that is acknowledged and dropped: the job has ended, once.
        Returns how many jobs were failed."""
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            s = uow.session
            rows = s.execute(
                select(Job.id, Job.computer_id, Job.kind, Job.spec, Job.sent_at, Job.started_at)
                .join(Computer, Computer.id == Job.computer_id)
                .where(
                    Job.status.in_([JobStatus.SENT.value, JobStatus.RUNNING.value]),
                    Computer.online.is_(False),
                    Job.sent_at <= now - grace,
                )
                .with_for_update(of=Job)
            ).all()
            lost: list[tuple[int, msg.JobResult]] = []
            for jid, cid, kind, spec, sent_at, started_at in rows:
                began = _aware(started_at or sent_at, now)
                if began + timedelta(seconds=_job_timeout(kind, spec)) + grace > now:
                    continue
                message = LOST_MESSAGE.format(grace=int(grace.total_seconds()))
                started = began.timestamp() if started_at is not None else None
                result = msg.JobResult(
                    job_id=jid,
                    status="failed",
                    started_at=started,
                    finished_at=now.timestamp(),
                    message=message,
                )
                lost.append((cid, result))
            if not lost:
                return 0
            batches: set[int] = set()
            _ack, cancel = self._store_results(s, lost, now, batches)
            ids = [r.job_id for _, r in lost]
            self._audit.add(s, system_actor("housekeeping"), "job.lost", "job", job_ids=ids)
        self._notifier.jobs_finished(ids)
        self._changed(batches)
        if cancel:
            self._notifier.jobs_cancelled(cancel)
        return len(ids)

    def expire_overdue(self) -> int:
        """Periodic (housekeeping): queued jobs past their expiry are expired."""
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            ids = delivery.expire_all_queued(uow.session, now)
            wake = _next_turns(uow.session, _batches_of(uow.session, ids)) if ids else []
        if ids:
            self._notifier.jobs_finished(ids)
        if wake:
            self._notifier.jobs_queued(wake)
        return len(ids)

    def _changed(self, batches: set[int]) -> None:
        """After commit: the pages that show these batches live read them again (none: no word)."""
        if batches:
            self._notifier.jobs_changed(sorted(batches))

    def cancel_requested(self, computer_id: int) -> list[int]:
        with UnitOfWork(self._db, readonly=True) as uow:
            return list(uow.session.scalars(_cancel_requested(computer_id)))


LOST_MESSAGE = (
    "lost: the agent went offline while the job was running and did not report within the"
    " job's timeout and {grace} s more"
)


_NEEDS = {"command": "commands", ACTION_KIND: "actions", FILE_PUT_KIND: "files"}


def _abort_sequences(s: Session, batch_ids: set[int], now: datetime) -> list[tuple[int, int]]:
    """A failed job of a sequential command batch that aborts on error: the computers whose
    turn has not come fail as aborted (deployments do the same in ``outcomes.apply``)."""
    if not batch_ids:
        return []
    abort = SEQUENTIAL | ABORT_ON_ERROR
    out: list[tuple[int, int]] = []
    for bid in s.scalars(
        select(JobBatch.id).where(
            JobBatch.id.in_(batch_ids), JobBatch.kind == "command", JobBatch.sequence_mode == abort
        )
    ):
        out.extend(outcomes.abort_rest(s, bid, now))
    return out


def _batches_of(s: Session, job_ids: Sequence[int]) -> set[int]:
    return set(s.scalars(select(Job.batch_id).where(Job.id.in_(job_ids)).distinct()))


def _next_turns(s: Session, batch_ids: set[int]) -> list[int]:
    """The computers whose turn has come in these sequential batches: the first queued job
    of each (claim hands over no later one while an earlier one is open)."""
    if not batch_ids:
        return []
    seq = select(JobBatch.id).where(JobBatch.id.in_(batch_ids), JobBatch.sequence_mode >= SEQUENTIAL)
    first = (
        select(Job.batch_id, func.min(Job.sequence).label("turn"))
        .where(Job.batch_id.in_(seq), Job.status == JobStatus.QUEUED.value)
        .group_by(Job.batch_id)
        .subquery()
    )
    return sorted(
        set(
            s.scalars(
                select(Job.computer_id).join(
                    first, (first.c.batch_id == Job.batch_id) & (first.c.turn == Job.sequence)
                )
            )
        )
    )


def _tagged(
    s: Session,
    tags: TagTarget,
    scope: ColumnElement[bool] | None,
    reach: ColumnElement[bool] | None,
) -> list[int]:
    """The computers with ``tags`` the actor may reach, by id (one statement)."""
    stmt = select(Computer.id).where(has_tags(tags.tags, tags.match_all))
    for narrowed in (scope, reach):
        if narrowed is not None:
            stmt = stmt.where(narrowed)
    return list(s.scalars(stmt.order_by(Computer.id)))


def _rule_group_members(
    s: Session,
    keys: list[str],
    scope: ColumnElement[bool] | None,
    reach: ColumnElement[bool] | None,
) -> list[int]:
    """The computers of the rule groups ``keys`` the actor may reach, by id (two statements);
    ValidationFailed naming the first key that is no group."""
    rows = {r.key: r.rules for r in s.scalars(select(RuleGroup).where(RuleGroup.key.in_(keys)))}
    unknown = [k for k in keys if k not in rows]
    if unknown:
        raise ValidationFailed(f"Unknown group with id={unknown[0]!r}.", field="group_ids")
    stmt = select(Computer.id).where(or_(*(rule_condition(rows[k]) for k in keys)))
    for narrowed in (scope, reach):
        if narrowed is not None:
            stmt = stmt.where(narrowed)
    return list(s.scalars(stmt.order_by(Computer.id)))


def _refuse_incapable(s: Session, kind: str, computer_ids: set[int], group_ids: Sequence[int]) -> None:
    """AgentIncapable when a target computer's agent cannot run jobs of ``kind`` (a polling
    agent runs package jobs only); named by the first such computer, in one query."""
    need = _NEEDS.get(kind)
    if need is None:
        return
    kinds = [k for k, caps in CAPABILITIES.items() if need not in caps]
    where = [Computer.id.in_(computer_ids)] if computer_ids else []
    if group_ids:
        members = select(GroupMember.computer_id).where(GroupMember.group_id.in_(set(group_ids)))
        where.append(Computer.id.in_(members))
    row = s.execute(
        select(Computer.id, Computer.hostname, Computer.agent_kind)
        .where(or_(*where), Computer.agent_kind.in_(kinds))
        .order_by(Computer.id)
        .limit(1)
    ).first()
    if row is not None:
        raise incapable(row[0], row[1], row[2], f"run {need}")


def _job_timeout(kind: str, spec: Mapping[str, Any]) -> float:
    """How long the agent lets the job run (it stops it then): the spec's timeout, or the
    default of its kind (actions have none: they report at once)."""
    default = delivery.DEFAULT_PACKAGE_TIMEOUT_SEC if kind in PACKAGE_KINDS else 0
    if kind == "command":
        default = msg.CommandSpec(command="").timeout_sec
    value = spec.get("timeout_sec", default)
    return float(value) if isinstance(value, int | float) else float(default)


def _aware(at: datetime, now: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); compare them with an aware clock."""
    return at.replace(tzinfo=now.tzinfo) if at.tzinfo is None and now.tzinfo is not None else at


def _store_result_statement() -> Update:
    """One Core UPDATE by id, run as an executemany; the SET clause comes from the keys of the
    rows (every column but ``job_id``). The ORM's bulk update by primary key did the same in
    SQL but cost ~0.15 ms of Python per row, a third of storing a fan-out's results."""
    t = cast(Table, Job.__table__)
    return update(t).where(t.c.id == bindparam("job_id", type_=t.c.id.type))


_STORE_RESULT = _store_result_statement()


def update_job(job_id: int) -> Update:
    return update(Job).where(Job.id == job_id)


def _cancel_requested(computer_id: int) -> Select[int]:
    """Delivered jobs of this computer that somebody asked to cancel."""
    return select(Job.id).where(
        Job.computer_id == computer_id,
        Job.cancel_requested.is_(True),
        Job.status.in_([JobStatus.SENT.value, JobStatus.RUNNING.value]),
    )


def _cap(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[:limit].decode(errors="ignore"), True


def _ts(value: float | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, now.tzinfo)


def _progress(u: msg.JobUpdate) -> dict[str, int]:
    """The progress values a notice sets. One that carries none (the unpack and execute phases)
    keeps the download's last numbers, so a finished download stays at 100 % (and its bytes)
    instead of going back to null. Byte counts that make no sense (negative) are dropped."""
    values = {"progress": u.progress, "progress_bytes": u.bytes_done, "progress_total": u.bytes_total}
    return {k: v for k, v in values.items() if v is not None and v >= 0}


def run_perm(actor: Actor) -> Perm:
    """The permission job creation checks first: the narrowed one for an end user (whose
    targets are then limited to their computers), ``RUN_COMMANDS`` for everyone else."""
    if not actor.can(Perm.RUN_COMMANDS) and actor.can(Perm.RUN_ASSIGNED):
        return Perm.RUN_ASSIGNED
    return Perm.RUN_COMMANDS
