"""Deployments (job containers): deploy and uninstall packages, list, remove; Wake-on-LAN.

Deployment rules are in ``rules.py`` (same service object); which jobs a computer gets is in
``planning.py``; delivery conditions (start, end, time frames, IP ranges) are enforced by the
job engine (``core/jobs/delivery.py``).

``shutdown_waked_after_completion``: the wake marks the last job of every offline target for
shutdown, and the mark is kept or reverted later (``core/jobs/wol_shutdown.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, system_actor
from fleetdeck.core.deployments import actions, containers
from fleetdeck.core.deployments.entities import (
    ActionsApplied,
    ContainerCreated,
    ContainerInfo,
    DeploymentJob,
    PackageAction,
)
from fleetdeck.core.deployments.evaluation import RuleTriggers
from fleetdeck.core.deployments.planning import (
    DEPLOYMENT,
    Planned,
    drop_pending,
    expand_dependencies,
    family_mates,
    installed_by_computer,
    load_packages,
    plan_computer,
    uninstall_job,
)
from fleetdeck.core.deployments.rules import Rules
from fleetdeck.core.deployments.validation import Schedule, all_pending, no_jobs, schedule
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.groups.rules import reach, reaches
from fleetdeck.core.jobs import wol_shutdown
from fleetdeck.core.jobs.entities import PENDING, JobStatus
from fleetdeck.core.jobs.outcomes import record_installation
from fleetdeck.core.packages import states
from fleetdeck.core.packages.states import ListedState, PackageStateInfo
from fleetdeck.core.ports import Clock, JobNotifier, Waker
from fleetdeck.core.query import Page
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import (
    Computer,
    Group,
    GroupMember,
    Installation,
    Job,
    JobBatch,
    Package,
    PackageGroupMember,
)
from fleetdeck.storage.uow import UnitOfWork

T = TypeVar("T")

KIND = DEPLOYMENT
_HOUSEKEEPING = system_actor("housekeeping")
_PENDING = [s.value for s in PENDING]
_AUDIT_ACTIONS = {
    PackageAction.INSTALL: "deployment.create",
    PackageAction.UNINSTALL: "deployment.uninstall",
    PackageAction.WITHDRAW: "deployment.withdraw",
    PackageAction.FORGET: "deployment.forget",
}


class DeploymentService(Rules):
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        notifier: JobNotifier,
        waker: Waker,
        settings: SettingsService,
    ) -> None:
        super().__init__(db, audit, clock, RuleTriggers(clock, notifier))
        self._notifier = notifier
        self._waker = waker
        self._settings = settings

    # ------------------------------------------------------------ creating

    def deploy(
        self,
        actor: Actor,
        name: str,
        *,
        description: str = "",
        computer_ids: Sequence[int] = (),
        computer_group_ids: Sequence[int] = (),
        package_ids: Sequence[int] = (),
        package_group_ids: Sequence[int] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        use_wol: bool = False,
        shutdown_waked_after_completion: bool = False,
        restart_timeout_min: int | None = 5,
        force_same_version: bool = False,
        sequence_mode: int = 0,
        priority: int = 0,
        agent_ip_ranges: Sequence[str] = (),
        time_frames: Sequence[str] = (),
        precheck: Callable[[datetime], None] | None = None,
    ) -> ContainerCreated:
        """Install packages (and their dependencies) on computers. Unknown ids are skipped;
        groups contribute their direct members; see ``planning.py`` for the per-computer rules.
        A job that would repeat one still pending for the same computer and package is not
        created (unless ``force_same_version``: then a repeat is what is asked for); the
        planning is serialised (``storage.locks``), so concurrent deploys of one package to one
        computer create one job between them.

        ``precheck(now)`` runs first after the permission check, inside the audited mutation: a
        transport whose clients expect the failures in a fixed order checks that order there
        (core's own checks follow and may run in any order)."""
        with self._audit.mutation(actor, "deployment.create", "job_batch", perm=Perm.DEPLOY) as m:
            now = self._clock()
            if precheck is not None:
                precheck(now)
            sch = schedule(
                name,
                start,
                end,
                restart_timeout_min,
                sequence_mode,
                priority,
                agent_ip_ranges,
                time_frames,
                now,
            )
            s = m.session
            serialize(s, Serial.PACKAGE_JOBS)
            # computers a user's groups do not reach are skipped like unknown ones
            targets = _computers(
                s, computer_ids, computer_group_ids, reach(s, actor, Perm.DEPLOY, Computer.id)
            )
            wanted = _packages(s, package_ids, package_group_ids)
            if not targets or not wanted:
                raise no_jobs()
            plans, dropped = _plan_installs(s, targets, wanted, force_same_version)
            if dropped:
                m.detail = {"already_pending": [list(k) for k in dropped]}
                if not plans:
                    raise all_pending()
            batch, job_ids = self._create(
                s,
                actor,
                sch,
                description,
                plans,
                now,
                use_wol,
                shutdown_waked_after_completion,
                force_same_version,
            )
            m.object_id = str(batch.id)
            m.detail = {
                **m.detail,
                "name": sch.name,
                "computers": len(targets),
                "packages": wanted,
                "jobs": len(job_ids),
            }
        self._after_create(batch.id, sch.start, now, use_wol)
        return ContainerCreated(id=batch.id, job_ids=job_ids)

    def uninstall(
        self,
        actor: Actor,
        name: str,
        *,
        description: str = "",
        installation_ids: Sequence[int] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        use_wol: bool = False,
        shutdown_waked_after_completion: bool = False,
        restart_timeout_min: int | None = 5,
        sequence_mode: int = 0,
        priority: int = 0,
        agent_ip_ranges: Sequence[str] = (),
    ) -> ContainerCreated:
        """Uninstall jobs (sequence 0) for installation records; unknown ids are skipped."""
        with self._audit.mutation(actor, "deployment.uninstall", "job_batch", perm=Perm.DEPLOY) as m:
            now = self._clock()
            sch = schedule(
                name, start, end, restart_timeout_min, sequence_mode, priority, agent_ip_ranges, (), now
            )
            s = m.session
            serialize(s, Serial.PACKAGE_JOBS)
            rows = s.execute(
                select(Installation.computer_id, Package)
                .join(Package, Package.id == Installation.package_id)
                .where(Installation.id.in_(set(installation_ids)))
                .order_by(Installation.computer_id, Installation.id)
            ).all()
            plans, dropped = drop_pending(s, [uninstall_job(cid, pkg, 0) for cid, pkg in rows])
            if dropped:
                m.detail = {"already_pending": [list(k) for k in dropped]}
                if not plans:
                    raise all_pending()
            if not plans:
                raise no_jobs()
            batch, job_ids = self._create(
                s, actor, sch, description, plans, now, use_wol, shutdown_waked_after_completion, False
            )
            m.object_id = str(batch.id)
            m.detail = {
                **m.detail,
                "name": sch.name,
                "installations": sorted(set(installation_ids)),
                "jobs": len(job_ids),
            }
        self._after_create(batch.id, sch.start, now, use_wol)
        return ContainerCreated(id=batch.id, job_ids=job_ids)

    def request_package_action(
        self, actor: Actor, computer_id: int, family_key: str, action: PackageAction, *, name: str
    ) -> ActionsApplied:
        """One client-centred request (opsi's ``setProductActionRequest``); see
        ``apply_package_actions``."""
        return self.apply_package_actions(actor, computer_id, [(family_key, action)], name=name)

    def apply_package_actions(
        self,
        actor: Actor,
        computer_id: int,
        steps: Sequence[tuple[str, PackageAction]],
        *,
        name: str,
    ) -> ActionsApplied:
        """Carry out ``(family key, action)`` on one computer in this order, deciding each from
        what is pending and installed at that moment, all in one transaction serialised against
        every other creator of package jobs: two concurrent requests to install a family on a
        computer create one job. Consecutive installs go into one deployment named ``name``
        (its jobs run in that order, after every earlier deployment's); an uninstall is a
        deployment of its own, so the order holds across them. An install or uninstall already
        pending (queued or sent) is left as it is (``unchanged``). Unknown family: NotFound;
        uninstalling a family that is not installed: ValidationFailed (``not_installed``);
        FORGET needs the packages permission besides the deploy permission."""
        kinds = {a for _, a in steps}
        audit_action = _AUDIT_ACTIONS[next(iter(kinds))] if len(kinds) == 1 else "deployment.apply_actions"
        by_batch = audit_action in ("deployment.create", "deployment.uninstall")
        object_type, oid = ("job_batch", "") if by_batch else ("computer", str(computer_id))
        with self._audit.mutation(actor, audit_action, object_type, oid, perm=Perm.DEPLOY) as m:
            if PackageAction.FORGET in kinds:
                actor.require(Perm.MANAGE_PACKAGES)
            s = m.session
            serialize(s, Serial.PACKAGE_JOBS)
            if s.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            now = self._clock()
            sch, out, created = self._steps(s, actor, computer_id, steps, name, now)
            if by_batch and created:
                m.object_id = str(created[0][0].id)
            m.detail = {
                "computer_id": computer_id,
                "steps": [[k, a.value] for k, a in steps],
                "containers": [b.id for b, _ in created],
                "withdrawn": out.withdrawn,
                "forgotten": out.forgotten,
                "unchanged": out.unchanged,
            }
        for batch, _ in created:
            self._after_create(batch.id, sch.start, now, False)
        if out.held:
            self._notifier.jobs_cancelled(out.held)
        return ActionsApplied(
            container_ids=tuple(b.id for b, _ in created),
            job_ids=tuple(j for _, ids in created for j in ids),
            withdrawn=tuple(out.withdrawn),
            forgotten=tuple(out.forgotten),
            unchanged=tuple(out.unchanged),
        )

    def set_package_state(
        self,
        actor: Actor,
        computer_id: int,
        family_key: str,
        changes: Mapping[str, Any],
        *,
        name: str,
    ) -> PackageStateInfo:
        """An admin's change of a package family's state on a computer (opsi's productOnClient
        update), in one transaction serialised like ``apply_package_actions``. ``changes``:
        fields of ``states.FIELDS``, the others stay. The state is created when there is none.

        - ``installation_status`` also corrects the installation records (``installed``
          records the package of the given versions, else the newest, unless one of the family
          is recorded; ``not_installed`` forgets the family's records): no job runs.
        - ``action_request``: setup/update/always/once install the newest package (a job, as
          ``apply_package_actions``; one already pending is kept); ``uninstall`` of an
          installed family uninstalls it (a job); ``none`` withdraws what has not started.
          ``uninstall`` of a family that is not installed, and ``custom`` (fleetdeck runs no
          custom scripts), are stored as requested and create no job. The stored request is
          the word given, until the job that carries it ends (job outcomes set ``none``).
        """
        checked = states.check(changes)
        # a computer reports its own state (opsi-script, opsiclientd): what ran, not requests
        own = actor.computer_id is not None and actor.computer_id == computer_id
        perm = None if own else Perm.DEPLOY
        with self._audit.mutation(actor, "package_state.set", "computer", computer_id, perm=perm) as m:
            if own and checked.get("action_request", "none") != "none":
                actor.require(Perm.DEPLOY)
            s = m.session
            serialize(s, Serial.PACKAGE_JOBS)
            if s.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            fam = actions.families(s, [family_key])[family_key]
            now = self._clock()
            request = checked.pop("action_request", None)
            status = checked.get("installation_status")
            if status is not None:
                if not own:
                    actor.require(Perm.MANAGE_PACKAGES)
                self._correct_installations(s, computer_id, fam, status, checked, now)
            state = states.row(s, computer_id, actions.family_id(s, fam), now)
            states.put(s, state, checked, now)
            step = _request_step(request, bool(actions.installed_package_ids(s, computer_id, fam)))
            sch, out, created = (
                self._steps(s, actor, computer_id, [(family_key, step)], name, now)
                if step is not None
                else (None, actions.Outcome(), [])
            )
            if request is not None:
                s.refresh(state)
                state.action_request = request
                if step is None:
                    state.job_id = None
                state.modified_at = now
                s.flush()
            m.detail = {
                "family_key": family_key,
                "changes": {**checked, **({"action_request": request} if request else {})},
                "containers": [b.id for b, _ in created],
                "withdrawn": out.withdrawn,
            }
            info = PackageStateInfo._make(states.read(s, [computer_id], [family_key])[0])
        for batch, _ in created:
            self._after_create(batch.id, sch.start if sch else now, now, False)
        if out.held:
            self._notifier.jobs_cancelled(out.held)
        return info

    def package_states(
        self,
        actor: Actor,
        computer_ids: Sequence[int] | None,
        family_keys: Sequence[str] | None,
        consume: Callable[[dict[int, str], Iterator[ListedState]], T],
    ) -> T:
        """``consume(family keys by id, states)`` over the stored states (all, or of these
        computers / families), by computer and family, inside one read transaction: two
        queries (``states.listing``: the driver's tuples with the family's id, handed over as
        they are made), as opsi's complete list is half a million of them."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return states.listing(uow.session, computer_ids, family_keys, consume)

    def _correct_installations(
        self,
        s: Session,
        computer_id: int,
        fam: actions.Family,
        status: str,
        given: Mapping[str, Any],
        now: datetime,
    ) -> None:
        current = list(
            s.scalars(
                select(Installation).where(
                    Installation.computer_id == computer_id, Installation.package_id.in_(fam.package_ids)
                )
            )
        )
        if status == "installed" and not current:
            match = s.scalar(
                select(Package.id).where(
                    Package.id.in_(fam.package_ids),
                    Package.version == given.get("version"),
                    Package.package_version == given.get("package_version"),
                )
            )
            record_installation(s, computer_id, match or fam.newest, "", None, now, 0)
        elif status == "not_installed" and current:
            for row in current:
                s.delete(row)
            s.flush()
        else:
            return
        self.triggers.installations_changed(s, {computer_id})

    def _steps(
        self,
        s: Session,
        actor: Actor,
        computer_id: int,
        steps: Sequence[tuple[str, PackageAction]],
        name: str,
        now: datetime,
    ) -> tuple[Schedule, actions.Outcome, list[tuple[JobBatch, list[int]]]]:
        """The body of ``apply_package_actions``, inside the caller's serialised transaction."""
        fams = actions.families(s, [k for k, _ in steps])
        sch = schedule(name, None, None, 5, 0, 0, (), (), now)
        out = actions.Outcome()
        created: list[tuple[JobBatch, list[int]]] = []
        run: list[int] = []
        forgot = False

        def create(plans: Sequence[Planned]) -> None:
            if plans:
                created.append(self._create(s, actor, sch, "", plans, now, False, False, False))

        def flush() -> None:
            if run:
                create(_plan_installs(s, [computer_id], list(run), False)[0])
                run.clear()

        for key, act in steps:
            fam = fams[key]
            pending = actions.not_started(s, computer_id, fam)
            if act is PackageAction.INSTALL:
                if not actions.wants(act, pending):
                    out.unchanged.append(key)
                elif fam.newest not in run:
                    run.append(fam.newest)
                continue
            flush()
            if act is PackageAction.WITHDRAW:
                actions.withdraw(s, computer_id, fam, out, now)
            elif act is PackageAction.FORGET:
                forgot = actions.forget(s, computer_id, fam, out, now) or forgot
            elif not actions.wants(act, pending):
                out.unchanged.append(key)
            else:
                installed = load_packages(s, actions.installed_package_ids(s, computer_id, fam))
                if not installed:
                    raise actions.not_installed(key, computer_id)
                pkgs = sorted(installed.values(), key=lambda p: p.id)
                create(drop_pending(s, [uninstall_job(computer_id, p, 0) for p in pkgs])[0])
        flush()
        if forgot:
            self.triggers.installations_changed(s, {computer_id})
        return sch, out, created

    def _create(
        self,
        s: Session,
        actor: Actor,
        sch: Schedule,
        description: str,
        plans: Sequence[Planned],
        now: datetime,
        use_wol: bool,
        shutdown_waked: bool,
        force: bool,
    ) -> tuple[JobBatch, list[int]]:
        if not plans:
            raise no_jobs()
        batch = JobBatch(
            kind=KIND,
            name=sch.name,
            description=description,
            created_at=now,
            created_by=actor.username,
            expires_at=sch.end,
            start_at=sch.start,
            end_at=sch.end,
            priority=sch.priority,
            sequence_mode=sch.sequence_mode,
            use_wol=use_wol,
            wol_sent=-1 if not use_wol else 0,
            shutdown_waked_after_completion=shutdown_waked,
            restart_timeout_min=sch.restart_timeout_min,
            force_same_version=force,
            agent_ip_ranges=sch.agent_ip_ranges,
            time_frames=sch.time_frames,
        )
        s.add(batch)
        s.flush()
        jobs = [
            Job(
                batch_id=batch.id,
                computer_id=p.computer_id,
                kind=p.kind,
                spec={"upgrade_behavior": p.upgrade_behavior},
                status=p.status.value,
                skip_reason=p.skip_reason,
                sequence=p.sequence,
                package_id=p.package_id,
                procedure=p.procedure,
                success_codes=p.success_codes,
                post_action=p.post_action,
                post_action_timeout_min=sch.restart_timeout_min,
                download=p.download,
                created_at=now,
                created_by=actor.username,
                expires_at=sch.end,
            )
            for p in plans
        ]
        s.add_all(jobs)
        s.flush()
        states.requested(s, [j.id for j in jobs], now)
        return batch, [j.id for j in jobs]

    def _after_create(self, batch_id: int, start: datetime, now: datetime, use_wol: bool) -> None:
        if use_wol and start <= now:
            self._wake([batch_id])
        with UnitOfWork(self._db, readonly=True) as uow:
            targets = sorted(
                set(
                    uow.session.scalars(
                        select(Job.computer_id).where(
                            Job.batch_id == batch_id, Job.status == JobStatus.QUEUED.value
                        )
                    )
                )
            )
        if targets:
            self._notifier.jobs_queued(targets)

    # ------------------------------------------------------------ Wake-on-LAN and timing

    def tick(self) -> int:
        """Periodic: wake the computers of deployments whose start time has come, and decide the
        shutdown marks of earlier wakes whose time is up. Returns the number of deployments woken."""
        now = self._clock()
        self._settle_wol_shutdowns(now)
        with UnitOfWork(self._db, readonly=True) as uow:
            due = list(
                uow.session.scalars(
                    select(JobBatch.id).where(
                        JobBatch.kind == KIND,
                        JobBatch.use_wol.is_(True),
                        JobBatch.wol_sent == 0,
                        JobBatch.start_at <= now,
                    )
                )
            )
        if due:
            self._wake(due)
        return len(due)

    def _wake(self, batch_ids: Sequence[int]) -> None:
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            s = uow.session
            targets: set[int] = set()
            for batch in s.scalars(select(JobBatch).where(JobBatch.id.in_(batch_ids))):
                cids = set(
                    s.scalars(
                        select(Job.computer_id).where(Job.batch_id == batch.id, Job.status.in_(_PENDING))
                    )
                )
                targets |= cids
                if batch.shutdown_waked_after_completion:
                    marked = wol_shutdown.mark(s, batch.id, cids, now)
                    if marked:
                        self._audit.add(
                            s,
                            _HOUSEKEEPING,
                            "deployment.wol_shutdown_set",
                            "job_batch",
                            batch.id,
                            jobs=marked,
                        )
                batch.wol_sent = 1
        if targets:
            self._waker.wake(sorted(targets))

    def _settle_wol_shutdowns(self, now: datetime) -> None:
        with UnitOfWork(self._db, readonly=True) as uow:
            if not wol_shutdown.any_marked(uow.session):
                return
        expiry = wol_shutdown.expiry(self._settings)
        with UnitOfWork(self._db) as uow:
            decided = wol_shutdown.settle(uow.session, now, expiry)
            if decided:
                self._audit.add(
                    uow.session,
                    _HOUSEKEEPING,
                    "job.wol_shutdown_decided",
                    "job",
                    kept=decided.kept,
                    reverted=decided.reverted,
                )

    # ------------------------------------------------------------ containers

    def list_containers(self, actor: Actor) -> list[ContainerInfo]:
        """Every container; a user in user groups sees those with a job on a computer they
        reach, with the status and counts of those jobs alone."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            return containers.container_infos(s, KIND, self._clock(), jobs=_mine(s, actor))

    def get_container(self, actor: Actor, container_id: int) -> ContainerInfo:
        """One container (as ``list_containers`` shows it); NotFound when not seen."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            found = containers.container_infos(s, KIND, self._clock(), [container_id], _mine(s, actor))
            if not found:
                raise NotFound("job container", container_id)
            return found[0]

    def container_jobs(self, actor: Actor, container_id: int) -> list[DeploymentJob]:
        self.get_container(actor, container_id)
        with UnitOfWork(self._db, readonly=True) as uow:
            return containers.deployment_jobs(
                uow.session, Job.batch_id == container_id, *_mine(uow.session, actor)
            )

    def container_jobs_page(
        self,
        actor: Actor,
        container_id: int,
        *,
        statuses: Sequence[JobStatus] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> Page[DeploymentJob]:
        """One page of a container's jobs (by computer, then sequence), optionally only those in
        ``statuses``, with the total that matches: a deployment of 10,000 jobs is never read
        whole for a screen that shows 50."""
        actor.require(Perm.READ)
        if not 0 <= offset < 2**62 or not 0 < limit <= 1000:
            raise ValidationFailed("offset must be >= 0 and limit 1-1000", field="limit")
        conditions: list[Any] = [Job.batch_id == container_id]
        if statuses:
            conditions.append(Job.status.in_([s.value for s in statuses]))
        with UnitOfWork(self._db, readonly=True) as uow:
            batch = uow.session.get(JobBatch, container_id)
            if batch is None or batch.kind != KIND:
                raise NotFound("job container", container_id)
            s = uow.session
            conditions.extend(_mine(s, actor))
            total = containers.count_jobs(s, *conditions)
            jobs = containers.deployment_jobs(s, *conditions, offset=offset, limit=limit)
            return Page(jobs, total)

    def container_jobs_by_id(
        self, actor: Actor, container_id: int, job_ids: Sequence[int]
    ) -> list[DeploymentJob]:
        """These jobs of the container (others and unknown ids are left out): what a page that
        shows some of them follows live."""
        actor.require(Perm.READ)
        if not job_ids:
            return []
        with UnitOfWork(self._db, readonly=True) as uow:
            return containers.deployment_jobs(
                uow.session,
                Job.batch_id == container_id,
                Job.id.in_(list(job_ids)[:1000]),
                *_mine(uow.session, actor),
            )

    def computer_jobs(self, actor: Actor, computer_ids: Sequence[int] | None = None) -> list[DeploymentJob]:
        """Every package job of these computers (all computers: None), oldest first per computer:
        for views that show a package's state per computer (opsi's productOnClient)."""
        actor.require(Perm.READ)
        conditions = [Job.package_id.is_not(None), JobBatch.kind == KIND]
        if computer_ids is not None:
            conditions.append(Job.computer_id.in_(list(computer_ids)))
        with UnitOfWork(self._db, readonly=True) as uow:
            jobs = containers.deployment_jobs(uow.session, *conditions, *_mine(uow.session, actor))
        return sorted(jobs, key=lambda j: (j.computer_id, j.created_at, j.id))

    def get_job(self, actor: Actor, job_id: int) -> DeploymentJob:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            found = containers.deployment_jobs(
                uow.session, Job.id == job_id, Job.package_id.is_not(None), *_mine(uow.session, actor)
            )
            if not found:
                raise NotFound("deployment job", job_id)
            return found[0]

    def remove_container(self, actor: Actor, container_id: int) -> None:
        """Delete the container and its jobs; jobs an agent holds are cancelled there."""
        with self._audit.mutation(
            actor, "deployment.delete", "job_batch", container_id, perm=Perm.DEPLOY
        ) as m:
            s = m.session
            batch = s.get(JobBatch, container_id)
            if batch is None or batch.kind != KIND:
                raise NotFound("job container", container_id)
            scope = reach(s, actor, Perm.DEPLOY, Computer.id)
            if scope is not None:  # a user in user groups removes only what is all theirs
                outside = select(Job.id).where(
                    Job.batch_id == container_id, Job.computer_id.not_in(select(Computer.id).where(scope))
                )
                if s.scalar(outside.limit(1)) is not None:
                    raise NotFound("job container", container_id)
            held = _held(s, Job.batch_id == container_id)
            m.detail = {"name": batch.name}
            gone = list(s.scalars(select(Job.id).where(Job.batch_id == container_id)))
            states.jobs_gone(s, gone, self._clock())
            s.execute(delete(Job).where(Job.batch_id == container_id))
            s.execute(delete(JobBatch).where(JobBatch.id == container_id))
        if held:
            self._notifier.jobs_cancelled(held)

    def remove_job(self, actor: Actor, job_id: int) -> None:
        with self._audit.mutation(actor, "deployment.delete_job", "job", job_id, perm=Perm.DEPLOY) as m:
            s = m.session
            job = s.get(Job, job_id)
            batch = s.get(JobBatch, job.batch_id) if job is not None else None
            if job is None or batch is None or batch.kind != KIND:
                raise NotFound("deployment job", job_id)
            if not reaches(s, actor, Perm.DEPLOY, job.computer_id):
                raise NotFound("deployment job", job_id)  # on a computer the user's groups do not reach
            held = _held(s, Job.id == job_id)
            m.detail = {"container_id": batch.id, "computer_id": job.computer_id}
            states.jobs_gone(s, [job.id], self._clock())
            s.delete(job)
        if held:
            self._notifier.jobs_cancelled(held)


def _mine(s: Session, actor: Actor) -> list[ColumnElement[bool]]:
    """The condition on jobs keeping those on computers ``actor`` may read (none or one)."""
    scope = reach(s, actor, Perm.READ, Job.computer_id)
    return [] if scope is None else [scope]


def _held(s: Session, condition: object) -> list[tuple[int, int]]:
    return [
        (cid, jid)
        for jid, cid in s.execute(
            select(Job.id, Job.computer_id).where(
                condition,  # type: ignore[arg-type]
                Job.status.in_([JobStatus.SENT.value, JobStatus.RUNNING.value]),
            )
        )
    ]


def _plan_installs(
    s: Session, targets: Sequence[int], wanted: Sequence[int], force: bool
) -> tuple[list[Planned], list[tuple[int, int, str]]]:
    """The jobs that install ``wanted`` (with dependencies) on ``targets``, without those that
    repeat a pending job (``planning.drop_pending``); and the dropped ones' keys. ``force``
    (OCO's force_install_same_version) installs again even what is installed or pending: the
    caller asks for the repeat on purpose."""
    expanded = expand_dependencies(s, wanted)
    installed = installed_by_computer(s, targets)
    pkgs = {**family_mates(s, installed), **load_packages(s, [p for p, _ in expanded])}
    ordered = [(pkgs[p], auto) for p, auto in expanded if p in pkgs]
    comps = {c.id: c for c in s.scalars(select(Computer).where(Computer.id.in_(targets)))}
    plans = [
        plan
        for cid in targets
        for plan in plan_computer(comps[cid], ordered, installed.get(cid, {}), pkgs, force=force)
    ]
    return (plans, []) if force else drop_pending(s, plans)


def _computers(
    s: Session, computer_ids: Sequence[int], group_ids: Sequence[int], scope: ColumnElement[bool] | None
) -> list[int]:
    """The known computers among ``computer_ids`` and the groups' members, only those
    ``scope`` (a condition on ``computers``) keeps."""
    ids = set()
    if computer_ids:
        given = select(Computer.id).where(Computer.id.in_(set(computer_ids)))
        ids = set(s.scalars(given if scope is None else given.where(scope)))
    if group_ids:
        members = (
            select(GroupMember.computer_id)
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.group_id.in_(set(group_ids)), Group.kind == "computer")
        )
        if scope is not None:
            members = members.where(GroupMember.computer_id.in_(select(Computer.id).where(scope)))
        ids |= set(s.scalars(members))
    return sorted(ids)


def _packages(s: Session, package_ids: Sequence[int], group_ids: Sequence[int]) -> list[int]:
    known = (
        set(s.scalars(select(Package.id).where(Package.id.in_(set(package_ids))))) if package_ids else set()
    )
    out = list(dict.fromkeys(p for p in package_ids if p in known))
    for gid in dict.fromkeys(group_ids):
        for pid in s.scalars(
            select(PackageGroupMember.package_id)
            .where(PackageGroupMember.group_id == gid)
            .order_by(PackageGroupMember.sequence)
        ):
            if pid not in out:
                out.append(pid)
    return out


def _request_step(request: str | None, installed: bool) -> PackageAction | None:
    """The package action an opsi-style request word asks for (None: only stored)."""
    if request in ("setup", "update", "always", "once"):
        return PackageAction.INSTALL
    if request == "uninstall":
        return PackageAction.UNINSTALL if installed else None
    if request == "none":
        return PackageAction.WITHDRAW
    return None
