"""Deployment rule re-evaluation (the rule's jobs follow its groups and the installations).

A rule is evaluated when it is created or updated, when computers join or leave its computer
group, when its package group's members change, and when installation records of one of its
computers are added or removed. Evaluation plans the jobs every member computer should have
(``planning.plan_computer``, package group order, no dependency expansion) and upserts them
by (rule, computer, package, install/uninstall):

* procedure, success codes, upgrade behaviour and download are frozen once the existing job
  succeeded or failed; post action, its timeout and the sequence are always refreshed;
* the existing state is kept for (succeeded -> already installed), (failed -> queued) and
  (waiting or running -> queued); otherwise the new state replaces it. Results stay.

Jobs of the rule that were not planned (the computer or package left its group) are deleted.
Evaluation may be restricted to some computers; then only their jobs are touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from fleetdeck.core.deployments.planning import (
    Planned,
    family_mates,
    installed_by_computer,
    load_packages,
    plan_computer,
)
from fleetdeck.core.jobs.entities import FINAL, PENDING, JobStatus
from fleetdeck.core.packages import states
from fleetdeck.core.ports import Clock, JobNotifier
from fleetdeck.storage.tables import Computer, DeploymentRule, GroupMember, Job, PackageGroupMember

_FAILED = {s.value for s in FINAL} - {
    JobStatus.SUCCEEDED.value,
    JobStatus.SKIPPED.value,
    JobStatus.EXPIRED.value,
}
_KEPT_AFTER_RESULT = _FAILED | {JobStatus.SUCCEEDED.value}
_PENDING = {s.value for s in PENDING}
_NOTIFY_KEY = "fleetdeck.jobs_queued"


def _keep_state(old: str, new: Planned) -> bool:
    if old == JobStatus.SUCCEEDED.value and new.skip_reason == "already_installed":
        return True
    return new.status is JobStatus.QUEUED and (old in _FAILED or old in _PENDING)


def evaluate_rule(
    s: Session, rule: DeploymentRule, now: datetime, computer_ids: Iterable[int] | None = None
) -> set[int]:
    """Bring the rule's jobs up to date; returns computers that got (re)queued jobs."""
    members_stmt = select(GroupMember.computer_id).where(GroupMember.group_id == rule.computer_group_id)
    existing_stmt = select(Job).where(Job.rule_id == rule.id)
    scope = set(computer_ids) if computer_ids is not None else None
    if scope is not None:
        members_stmt = members_stmt.where(GroupMember.computer_id.in_(scope))
        existing_stmt = existing_stmt.where(Job.computer_id.in_(scope))
    members = sorted(set(s.scalars(members_stmt)))
    package_ids = list(
        s.scalars(
            select(PackageGroupMember.package_id)
            .where(PackageGroupMember.group_id == rule.package_group_id)
            .order_by(PackageGroupMember.sequence, PackageGroupMember.package_id)
        )
    )
    existing = {(j.computer_id, j.package_id or 0, j.kind): j for j in s.scalars(existing_stmt)}
    packages = load_packages(s, package_ids)
    installed = installed_by_computer(s, members)
    everything = {**family_mates(s, installed), **packages}
    ordered = [(packages[p], False) for p in package_ids if p in packages]
    computers = (
        {c.id: c for c in s.scalars(select(Computer).where(Computer.id.in_(members)))} if members else {}
    )
    produced: set[tuple[int, int, str]] = set()
    queued: set[int] = set()
    for cid in members:
        for plan in plan_computer(computers[cid], ordered, installed.get(cid, {}), everything):
            produced.add(plan.key)
            if _upsert(s, rule, existing.get(plan.key), plan, now):
                queued.add(cid)
    stale = [j.id for key, j in existing.items() if key not in produced]
    if stale:
        states.jobs_gone(s, stale, now)
        s.execute(delete(Job).where(Job.id.in_(stale)))
    s.flush()
    if queued:
        fresh = select(Job.id).where(
            Job.rule_id == rule.id, Job.computer_id.in_(queued), Job.status == JobStatus.QUEUED.value
        )
        states.requested(s, list(s.scalars(fresh)), now)
    return queued


def _upsert(s: Session, rule: DeploymentRule, old: Job | None, plan: Planned, now: datetime) -> bool:
    """Returns True when the job is queued afresh (an agent should be told)."""
    if old is None:
        s.add(
            Job(
                batch_id=rule.batch_id,
                rule_id=rule.id,
                computer_id=plan.computer_id,
                kind=plan.kind,
                spec={"upgrade_behavior": plan.upgrade_behavior},
                status=plan.status.value,
                skip_reason=plan.skip_reason,
                priority=0,
                sequence=plan.sequence,
                package_id=plan.package_id,
                procedure=plan.procedure,
                success_codes=plan.success_codes,
                post_action=plan.post_action,
                post_action_timeout_min=rule.post_action_timeout_min,
                download=plan.download,
                created_at=now,
                created_by=f"rule:{rule.name}"[:150],
            )
        )
        return plan.status is JobStatus.QUEUED
    if old.status not in _KEPT_AFTER_RESULT:
        old.procedure, old.success_codes, old.download = plan.procedure, plan.success_codes, plan.download
        old.spec = {**old.spec, "upgrade_behavior": plan.upgrade_behavior}
    old.post_action, old.post_action_timeout_min, old.sequence = (
        plan.post_action,
        rule.post_action_timeout_min,
        plan.sequence,
    )
    if _keep_state(old.status, plan):
        return False
    requeued = plan.status is JobStatus.QUEUED and old.status != JobStatus.QUEUED.value
    old.status, old.skip_reason = plan.status.value, plan.skip_reason
    if plan.status is JobStatus.QUEUED:
        old.sent_at, old.started_at, old.finished_at, old.phase, old.progress = None, None, None, "", None
        old.cancel_requested = False
    return requeued


class RuleTriggers:
    """The hooks other services call inside their transactions; notifies agents after commit."""

    def __init__(self, clock: Clock, notifier: JobNotifier) -> None:
        self._clock = clock
        self._notifier = notifier

    def notify_after_commit(self, s: Session, computer_ids: set[int]) -> None:
        if not computer_ids:
            return
        pending: set[int] | None = s.info.get(_NOTIFY_KEY)
        if pending is None:
            pending = s.info[_NOTIFY_KEY] = set()

            def fire(session: Session) -> None:
                ids = session.info.pop(_NOTIFY_KEY, set())
                if ids:
                    self._notifier.jobs_queued(sorted(ids))

            event.listen(s, "after_commit", fire, once=True)
        pending |= computer_ids

    def _run(self, s: Session, rules: Iterable[DeploymentRule], computer_ids: set[int] | None) -> None:
        now = self._clock()
        queued: set[int] = set()
        for rule in rules:
            queued |= evaluate_rule(s, rule, now, computer_ids)
        self.notify_after_commit(s, queued)

    def computer_group_changed(self, s: Session, group_id: int, computer_ids: Iterable[int]) -> None:
        rules = s.scalars(select(DeploymentRule).where(DeploymentRule.computer_group_id == group_id)).all()
        self._run(s, rules, set(computer_ids))

    def package_group_changed(self, s: Session, group_id: int) -> None:
        rules = s.scalars(select(DeploymentRule).where(DeploymentRule.package_group_id == group_id)).all()
        self._run(s, rules, None)

    def installations_changed(self, s: Session, computer_ids: set[int]) -> None:
        groups = select(GroupMember.group_id).where(GroupMember.computer_id.in_(computer_ids))
        rules = s.scalars(select(DeploymentRule).where(DeploymentRule.computer_group_id.in_(groups))).all()
        self._run(s, rules, computer_ids)
