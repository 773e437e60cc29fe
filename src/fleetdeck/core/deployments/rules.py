"""Deployment rules: create, update, delete, list, and their jobs (part of DeploymentService)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, aliased

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.deployments import containers
from fleetdeck.core.deployments.entities import DeploymentJob, RuleInfo
from fleetdeck.core.deployments.evaluation import RuleTriggers, evaluate_rule
from fleetdeck.core.deployments.validation import check_name, check_priority, check_sequence_mode
from fleetdeck.core.errors import NotFound, Reason, ValidationFailed
from fleetdeck.core.groups.rules import reach
from fleetdeck.core.packages import states
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import DeploymentRule, Group, Job, JobBatch
from fleetdeck.storage.uow import UnitOfWork


def _check_groups(s: Session, computer_group_id: int, package_group_id: int) -> None:
    for gid, kind in ((computer_group_id, "computer"), (package_group_id, "package")):
        g = s.get(Group, gid)
        if g is None or g.kind != kind:
            raise NotFound(f"{kind} group", gid)


def _check_timeout(minutes: int) -> None:
    if minutes < 1:
        raise ValidationFailed(
            "post_action_timeout_min must be at least 1",
            field="post_action_timeout_min",
            reason=Reason.INVALID,
        )


class Rules:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, triggers: RuleTriggers) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self.triggers = triggers

    def list_rules(self, actor: Actor) -> list[RuleInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return self._infos(uow.session)

    def get_rule(self, actor: Actor, rule_id: int) -> RuleInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            found = self._infos(uow.session, rule_id)
            if not found:
                raise NotFound("deployment rule", rule_id)
            return found[0]

    def rule_jobs(self, actor: Actor, rule_id: int) -> list[DeploymentJob]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            if uow.session.get(DeploymentRule, rule_id) is None:
                raise NotFound("deployment rule", rule_id)
            # a user in user groups: the rule's jobs on the computers they reach
            scope = reach(uow.session, actor, Perm.READ, Job.computer_id)
            mine = [] if scope is None else [scope]
            return containers.deployment_jobs(uow.session, Job.rule_id == rule_id, *mine)

    def create_rule(
        self,
        actor: Actor,
        name: str,
        computer_group_id: int,
        package_group_id: int,
        *,
        notes: str = "",
        enabled: bool = True,
        priority: int = 0,
        sequence_mode: int = 0,
        post_action_timeout_min: int = 5,
    ) -> RuleInfo:
        with self._audit.mutation(actor, "deployment_rule.create", "deployment_rule", perm=Perm.DEPLOY) as m:
            name = check_name(name)
            check_priority(priority)
            check_sequence_mode(sequence_mode)
            _check_timeout(post_action_timeout_min)
            s = m.session
            _check_groups(s, computer_group_id, package_group_id)
            now = self._clock()
            batch = JobBatch(
                kind="deployment_rule",
                name=name,
                description=notes,
                created_at=now,
                created_by=actor.username,
                enabled=enabled,
                priority=priority,
                sequence_mode=sequence_mode,
            )
            s.add(batch)
            s.flush()
            rule = DeploymentRule(
                name=name,
                notes=notes,
                computer_group_id=computer_group_id,
                package_group_id=package_group_id,
                enabled=enabled,
                priority=priority,
                sequence_mode=sequence_mode,
                post_action_timeout_min=post_action_timeout_min,
                batch_id=batch.id,
                created_at=now,
                created_by=actor.username,
                updated_at=now,
            )
            s.add(rule)
            s.flush()
            self.triggers.notify_after_commit(s, evaluate_rule(s, rule, now))
            m.object_id = str(rule.id)
            m.detail = {
                "name": name,
                "computer_group_id": computer_group_id,
                "package_group_id": package_group_id,
            }
            return self._infos(s, rule.id)[0]

    def update_rule(
        self,
        actor: Actor,
        rule_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        computer_group_id: int | None = None,
        package_group_id: int | None = None,
        enabled: bool | None = None,
        priority: int | None = None,
        sequence_mode: int | None = None,
        post_action_timeout_min: int | None = None,
    ) -> RuleInfo:
        with self._audit.mutation(
            actor, "deployment_rule.update", "deployment_rule", rule_id, perm=Perm.DEPLOY
        ) as m:
            s = m.session
            rule = s.get(DeploymentRule, rule_id)
            if rule is None:
                raise NotFound("deployment rule", rule_id)
            if name is not None:
                rule.name = check_name(name)
            if priority is not None:
                check_priority(priority)
                rule.priority = priority
            if sequence_mode is not None:
                check_sequence_mode(sequence_mode)
                rule.sequence_mode = sequence_mode
            if post_action_timeout_min is not None:
                _check_timeout(post_action_timeout_min)
                rule.post_action_timeout_min = post_action_timeout_min
            if notes is not None:
                rule.notes = notes
            if enabled is not None:
                rule.enabled = enabled
            _check_groups(
                s, computer_group_id or rule.computer_group_id, package_group_id or rule.package_group_id
            )
            rule.computer_group_id = computer_group_id or rule.computer_group_id
            rule.package_group_id = package_group_id or rule.package_group_id
            now = self._clock()
            rule.updated_at = now
            batch = s.get(JobBatch, rule.batch_id)
            assert batch is not None
            batch.name, batch.description, batch.enabled = rule.name, rule.notes, rule.enabled
            batch.priority, batch.sequence_mode = rule.priority, rule.sequence_mode
            s.flush()
            self.triggers.notify_after_commit(s, evaluate_rule(s, rule, now))
            m.detail = {"name": rule.name, "enabled": rule.enabled}
            return self._infos(s, rule_id)[0]

    def delete_rule(self, actor: Actor, rule_id: int) -> None:
        with self._audit.mutation(
            actor, "deployment_rule.delete", "deployment_rule", rule_id, perm=Perm.DEPLOY
        ) as m:
            rule = m.session.get(DeploymentRule, rule_id)
            if rule is None:
                raise NotFound("deployment rule", rule_id)
            m.detail = {"name": rule.name}
            batch_id = rule.batch_id
            gone = list(m.session.scalars(select(Job.id).where(Job.rule_id == rule_id)))
            states.jobs_gone(m.session, gone, self._clock())
            m.session.execute(delete(Job).where(Job.rule_id == rule_id))
            m.session.execute(delete(DeploymentRule).where(DeploymentRule.id == rule_id))
            m.session.execute(delete(JobBatch).where(JobBatch.id == batch_id))

    @staticmethod
    def _infos(s: Session, rule_id: int | None = None) -> list[RuleInfo]:
        cg, pg = aliased(Group), aliased(Group)
        stmt = (
            select(DeploymentRule, cg.name, pg.name)
            .join(cg, cg.id == DeploymentRule.computer_group_id)
            .join(pg, pg.id == DeploymentRule.package_group_id)
            .order_by(DeploymentRule.id)
        )
        if rule_id is not None:
            stmt = stmt.where(DeploymentRule.id == rule_id)
        rows = s.execute(stmt).all()
        # one query for the job counts of every rule, not one per rule
        counts = containers.counts_by_status(s, [r.batch_id for r, _, _ in rows])
        return [
            RuleInfo(
                id=r.id,
                name=r.name,
                notes=r.notes,
                computer_group_id=r.computer_group_id,
                computer_group_name=cname,
                package_group_id=r.package_group_id,
                package_group_name=pname,
                enabled=r.enabled,
                priority=r.priority,
                sequence_mode=r.sequence_mode,
                post_action_timeout_min=r.post_action_timeout_min,
                container_id=r.batch_id,
                created_at=r.created_at,
                created_by=r.created_by,
                updated_at=r.updated_at,
                counts=counts[r.batch_id],
            )
            for r, cname, pname in rows
        ]
