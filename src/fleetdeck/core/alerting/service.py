"""Alerting: rules over computers' measurements, the problems they open and resolve, and the
notifications those send.

- ``evaluate`` runs on every measurement a computer sends (the monitoring intake calls it with
  the latest measurement and the recent ones): a rule that holds and has no open problem for the
  computer opens one and queues its ``notify`` templates ("triggered"); an open problem whose
  rule no longer holds (or is gone, or is ignored by a holding rule) is resolved and notifies
  again ("resolved"). One transaction per measurement; nothing is sent inside it.
- ``dispatch`` (the ``notifications.send`` duty, one process at a time under its lease) sends
  queued notifications: ``smtp`` through core's mail port, any other transport is the name of a
  script in the server's alert scripts directory, run with the notification as JSON on stdin
  (bounded time and output). Each ends ``done`` or ``error`` with what happened.
- ``test`` runs a ruleset over given data without storing anything.
- Reading and changing rules, templates and problems is for admins (``Perm.MANAGE_SETTINGS``);
  every change is audited.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from fleetdeck.core import query as q
from fleetdeck.core.alerting import rules as r
from fleetdeck.core.alerting import templates as t
from fleetdeck.core.alerting.expr import HISTORY, METRICS
from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.computers import attributes
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.mail.mailer import Mail, Mailer
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import (
    AlertNotification,
    AlertProblem,
    AlertRuleset,
    Computer,
    Measurement,
    NotificationTemplate,
)
from fleetdeck.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

SMTP = "smtp"
MAX_TEMPLATE_ID = 100
MAX_SUBJECT = 1000
MAX_BODY = 64 * 1024
MAX_RECIPIENTS = 50
MAX_TRANSPORT = 255
MAX_CUSTOM = 4096
SCRIPT_TIMEOUT_SEC = 30.0
MAX_SCRIPT_OUTPUT = 64 * 1024
DISPATCH_BATCH = 50
MAIL_TIMEOUT_SEC = 60.0
RULESET_TTL_SEC = 5.0  # a ruleset saved by another server process is used this late at most
PROBLEM_FIELDS: q.Fields = {
    "problem_id": AlertProblem.id,
    "rule_id": AlertProblem.rule_id,
    "client_name": AlertProblem.client_name,
    "active": AlertProblem.active,
    "created_at": AlertProblem.created_at,
    "resolved_at": AlertProblem.resolved_at,
}
NOTIFICATION_FIELDS: q.Fields = {
    "notification_id": AlertNotification.id,
    "reference_id": AlertNotification.problem_id,
    "subject": AlertNotification.subject,
    "state": AlertNotification.state,
    "transport": AlertNotification.transport,
    "timestamp": AlertNotification.created_at,
}


@dataclass(frozen=True, slots=True)
class TemplateInput:
    transport: str
    subject: str = ""
    body: str = ""
    html: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)
    recipients: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    id: str
    transport: str
    subject: str
    body: str
    html: bool
    data: Mapping[str, Any]
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProblemInfo:
    id: int
    rule_id: str
    severity: str
    computer_uid: str
    client_name: str
    actions: list[Any]
    active: bool
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotificationInfo:
    id: int
    problem_id: int | None
    template_id: str
    transport: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    content_type: str
    state: str
    out: str
    err: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one evaluation did (or, for ``test``, would do)."""

    opened: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    log_output: list[str] = field(default_factory=list)
    errors: list[r.Problem] = field(default_factory=list)


def _template_info(row: NotificationTemplate) -> TemplateInfo:
    return TemplateInfo(
        id=row.id,
        transport=row.transport,
        subject=row.subject,
        body=row.body,
        html=row.html,
        data=dict(row.data or {}),
        recipients=tuple(row.recipients or ()),
    )


def _notification_info(row: AlertNotification) -> NotificationInfo:
    return NotificationInfo(
        id=row.id,
        problem_id=row.problem_id,
        template_id=row.template_id,
        transport=row.transport,
        recipients=tuple(row.recipients or ()),
        subject=row.subject,
        body=row.body,
        content_type=row.content_type,
        state=row.state,
        out=row.out,
        err=row.err,
        created_at=row.created_at,
    )


def _check_template(data: TemplateInput) -> None:
    def bad(fld: str, msg: str) -> ValidationFailed:
        return ValidationFailed(msg, field=fld)

    transport = data.transport
    if not transport or len(transport) > MAX_TRANSPORT:
        raise bad("transport", f'transport is "smtp" or a script name of 1-{MAX_TRANSPORT} characters')
    if transport != SMTP and (
        "/" in transport or "\\" in transport or transport.startswith(".") or not transport.isprintable()
    ):
        raise bad("transport", "a script transport is the name of a file in the alert scripts directory")
    if len(data.subject) > MAX_SUBJECT:
        raise bad("subject", f"the subject is at most {MAX_SUBJECT} characters")
    if len(data.body) > MAX_BODY:
        raise bad("body", f"the body is at most {MAX_BODY} characters")
    if len(data.recipients) > MAX_RECIPIENTS:
        raise bad("recipients", f"at most {MAX_RECIPIENTS} recipients")
    for rcpt in data.recipients:
        if not isinstance(rcpt, str) or not rcpt or len(rcpt) > 320 or any(c in rcpt for c in "\r\n,;<>"):
            raise bad("recipients", f"invalid recipient {str(rcpt)[:80]!r}")
        if transport == SMTP and "@" not in rcpt:
            raise bad("recipients", f"{rcpt!r} is not an e-mail address")
    if transport == SMTP and not data.recipients:
        raise bad("recipients", "an smtp template needs at least one recipient")
    if len(json.dumps(dict(data.data), default=str)) > MAX_CUSTOM:
        raise bad("data", f"data is at most {MAX_CUSTOM} characters as JSON")
    for fld, text in (("subject", data.subject), ("body", data.body)):
        try:
            t.check(text)
        except t.TemplateError as exc:
            raise bad(fld, str(exc)) from None


class AlertingService:
    def __init__(
        self, db: Database, audit: AuditLog, clock: Clock, mail: Mailer, scripts_dir: Path | None = None
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._mail = mail
        self._scripts_dir = scripts_dir
        # Whether any rule exists, read at most every RULESET_TTL_SEC: with none (most
        # installations) a measurement costs alerting no statement at all.
        self._rules_lock = threading.Lock()
        self._rules_checked = -RULESET_TTL_SEC
        self._has_rules = False

    # ------------------------------------------------------------ ruleset

    def ruleset(self, actor: Actor) -> dict[str, Any]:
        actor.require(Perm.MANAGE_SETTINGS)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(AlertRuleset, 1)
            return dict(row.ruleset) if row is not None else {"vars": [], "rules": []}

    def set_ruleset(self, actor: Actor, raw: object) -> None:
        """Replace every rule. A ruleset with anything wrong is refused whole (ValidationFailed,
        its ``detail["problems"]`` listing each place); templates named by ``notify`` must exist."""
        self._audit.require(actor, Perm.MANAGE_SETTINGS, "alert_rules.update", "alert_rules")
        ruleset, problems = r.parse(raw)
        with self._audit.mutation(actor, "alert_rules.update", "alert_rules", perm=Perm.MANAGE_SETTINGS) as m:
            s = m.session
            known = set(
                s.scalars(
                    select(NotificationTemplate.id).where(NotificationTemplate.id.in_(ruleset.templates))
                )
            )
            problems += [
                r.Problem("rules", f"unknown notification template {tid!r}")
                for tid in sorted(ruleset.templates - known)
            ]
            if problems:
                raise ValidationFailed(
                    f"{problems[0].prefix}: {problems[0].err}" if problems[0].prefix else problems[0].err,
                    field="ruleset",
                    problems=[{"prefix": p.prefix, "err": p.err} for p in problems],
                )
            row = s.get(AlertRuleset, 1)
            now = self._clock()
            if row is None:
                s.add(
                    AlertRuleset(id=1, ruleset=dict(ruleset.raw), updated_at=now, updated_by=actor.username)
                )
            else:
                row.ruleset = dict(ruleset.raw)
                row.updated_at, row.updated_by = now, actor.username
            m.detail = {"rules": [rule.id for rule in ruleset.rules]}
        self._forget_rules()

    def delete_ruleset(self, actor: Actor) -> None:
        """Remove every rule; the problems they had open are resolved (by this admin), since no
        measurement will ever resolve them. No notification goes out for these."""
        with self._audit.mutation(actor, "alert_rules.delete", "alert_rules", perm=Perm.MANAGE_SETTINGS) as m:
            row = m.session.get(AlertRuleset, 1)
            if row is not None:
                m.session.delete(row)
            resolved = m.session.execute(
                update(AlertProblem)
                .where(AlertProblem.active)
                .values(active=False, resolved_at=self._clock(), resolved_by=actor.username)
            )
            m.detail = {"resolved_problems": resolved.rowcount}  # type: ignore[attr-defined]
        self._forget_rules()

    def _forget_rules(self) -> None:
        with self._rules_lock:
            self._rules_checked = -RULESET_TTL_SEC

    def _rules_exist(self) -> bool:
        now = time.monotonic()
        with self._rules_lock:
            if now - self._rules_checked < RULESET_TTL_SEC:
                return self._has_rules
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(AlertRuleset, 1)
            has = row is not None and bool((row.ruleset or {}).get("rules"))
        with self._rules_lock:
            self._has_rules, self._rules_checked = has, now
        return has

    def on_measurement(self, computer_id: int, measurement: object) -> None:
        """The monitoring intake's hook: run the rules over a stored measurement and the ones
        before it (at most ``expr.HISTORY``). Without rules nothing is read. Alerting's own
        failure is logged, never passed to the intake (the measurement is stored already)."""
        if not self._rules_exist():
            return
        try:
            latest = {k: getattr(measurement, k) for k in METRICS if hasattr(measurement, k)}
            with UnitOfWork(self._db, readonly=True) as uow:
                cols = [getattr(Measurement, k) for k in METRICS]
                rows = uow.session.execute(
                    select(*cols)
                    .where(Measurement.computer_id == computer_id)
                    .order_by(Measurement.taken_at.desc(), Measurement.id.desc())
                    .limit(HISTORY)
                ).all()
            history = [dict(zip(METRICS, row, strict=True)) for row in reversed(rows)]
            self.evaluate(computer_id, latest, history or [latest])
        except Exception:
            log.exception("alert rules for computer %s failed", computer_id)

    # ------------------------------------------------------------ templates

    def templates(self, actor: Actor) -> list[TemplateInfo]:
        actor.require(Perm.MANAGE_SETTINGS)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.scalars(select(NotificationTemplate).order_by(NotificationTemplate.id))
            return [_template_info(row) for row in rows]

    def template(self, actor: Actor, template_id: str) -> TemplateInfo:
        actor.require(Perm.MANAGE_SETTINGS)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(NotificationTemplate, template_id[: MAX_TEMPLATE_ID + 1])
            if row is None:
                raise NotFound("notification template", template_id)
            return _template_info(row)

    def create_template(self, actor: Actor, data: TemplateInput, template_id: str = "") -> TemplateInfo:
        self._audit.require(
            actor, Perm.MANAGE_SETTINGS, "notification_template.create", "notification_template"
        )
        _check_template(data)
        tid = template_id or uuid.uuid4().hex
        if len(tid) > MAX_TEMPLATE_ID or not tid.isprintable() or not tid.strip():
            raise ValidationFailed(f"a template id is 1-{MAX_TEMPLATE_ID} printable characters", field="id")
        with self._audit.mutation(
            actor, "notification_template.create", "notification_template", tid, perm=Perm.MANAGE_SETTINGS
        ) as m:
            if m.session.get(NotificationTemplate, tid) is not None:
                raise Conflict(f"notification template {tid!r} exists")
            row = NotificationTemplate(id=tid, created_at=self._clock(), created_by=actor.username)
            self._fill(row, data)
            m.session.add(row)
            m.detail = {"transport": data.transport, "recipients": len(data.recipients)}
            m.session.flush()
            return _template_info(row)

    def update_template(self, actor: Actor, template_id: str, data: TemplateInput) -> TemplateInfo:
        self._audit.require(
            actor, Perm.MANAGE_SETTINGS, "notification_template.update", "notification_template"
        )
        _check_template(data)
        with self._audit.mutation(
            actor,
            "notification_template.update",
            "notification_template",
            template_id,
            perm=Perm.MANAGE_SETTINGS,
        ) as m:
            row = m.session.get(NotificationTemplate, template_id[: MAX_TEMPLATE_ID + 1])
            if row is None:
                raise NotFound("notification template", template_id)
            self._fill(row, data)
            m.detail = {"transport": data.transport, "recipients": len(data.recipients)}
            return _template_info(row)

    @staticmethod
    def _fill(row: NotificationTemplate, data: TemplateInput) -> None:
        row.transport = data.transport
        row.subject, row.body, row.html = data.subject, data.body, data.html
        row.data = dict(data.data)
        row.recipients = list(data.recipients)

    def delete_template(self, actor: Actor, template_id: str) -> None:
        """A template a rule notifies is not deleted (Conflict naming the rule)."""
        with self._audit.mutation(
            actor,
            "notification_template.delete",
            "notification_template",
            template_id,
            perm=Perm.MANAGE_SETTINGS,
        ) as m:
            s = m.session
            row = s.get(NotificationTemplate, template_id[: MAX_TEMPLATE_ID + 1])
            if row is None:
                raise NotFound("notification template", template_id)
            stored = s.get(AlertRuleset, 1)
            ruleset, _ = r.parse(stored.ruleset if stored else {})
            users = [rule.id for rule in ruleset.rules if template_id in rule.notify]
            if users:
                raise Conflict(f"notification template {template_id!r} is used by rule {users[0]!r}")
            s.delete(row)

    # ------------------------------------------------------------ problems

    def problems(self, actor: Actor, query: q.Query) -> q.Page[ProblemInfo]:
        actor.require(Perm.MANAGE_SETTINGS)
        fields = {**PROBLEM_FIELDS, "client_id": Computer.uid}
        with UnitOfWork(self._db, readonly=True) as uow:
            base = cast(
                "Select[Any]",
                select(AlertProblem, Computer.uid).join(Computer, Computer.id == AlertProblem.computer_id),
            )
            count = (
                select(func.count())
                .select_from(AlertProblem)
                .join(Computer, Computer.id == AlertProblem.computer_id)
            )
            stmt, count_stmt = q.apply_query(base, count, query, fields, default_sort="-created_at")
            assert count_stmt is not None
            total = uow.session.scalar(count_stmt) or 0
            return q.Page(items=[self._problem(p, uid) for p, uid in uow.session.execute(stmt)], total=total)

    @staticmethod
    def _problem(row: AlertProblem, uid: str) -> ProblemInfo:
        return ProblemInfo(
            id=row.id,
            rule_id=row.rule_id,
            severity=row.severity,
            computer_uid=uid,
            client_name=row.client_name,
            actions=list(row.actions or []),
            active=row.active,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
        )

    def problem(self, actor: Actor, problem_id: int) -> ProblemInfo:
        actor.require(Perm.MANAGE_SETTINGS)
        with UnitOfWork(self._db, readonly=True) as uow:
            got = uow.session.execute(
                select(AlertProblem, Computer.uid)
                .join(Computer, Computer.id == AlertProblem.computer_id)
                .where(AlertProblem.id == problem_id)
            ).first()
            if got is None:
                raise NotFound("problem", problem_id)
            return self._problem(got[0], got[1])

    def set_problem_active(self, actor: Actor, problem_id: int, active: bool) -> None:
        """An admin closes a problem (it opens again only when its rule stops holding and holds
        again) or reopens a closed one."""
        with self._audit.mutation(
            actor, "alert_problem.update", "alert_problem", problem_id, perm=Perm.MANAGE_SETTINGS
        ) as m:
            row = m.session.get(AlertProblem, problem_id)
            if row is None:
                raise NotFound("problem", problem_id)
            if row.active != active:
                row.active = active
                row.resolved_at = None if active else self._clock()
                row.resolved_by = "" if active else actor.username
            m.detail = {"active": active}

    # ------------------------------------------------------------ notifications

    def notifications(self, actor: Actor, query: q.Query) -> q.Page[NotificationInfo]:
        actor.require(Perm.MANAGE_SETTINGS)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt, count_stmt = q.apply_query(
                select(AlertNotification),
                select(func.count()).select_from(AlertNotification),
                query,
                NOTIFICATION_FIELDS,
                default_sort="-timestamp",
            )
            assert count_stmt is not None
            total = uow.session.scalar(count_stmt) or 0
            return q.Page(items=[_notification_info(n) for n in uow.session.scalars(stmt)], total=total)

    def notification(self, actor: Actor, notification_id: int) -> NotificationInfo:
        actor.require(Perm.MANAGE_SETTINGS)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(AlertNotification, notification_id)
            if row is None:
                raise NotFound("notification", notification_id)
            return _notification_info(row)

    # ------------------------------------------------------------ evaluation

    def evaluate(
        self, computer_id: int, measurement: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
    ) -> Outcome:
        """Run the stored rules for one computer's new measurement (``history``: its recent
        measurements, oldest first, the new one last). Called by the intake, not by people: no
        actor, no audit row (the problems and notifications are the record)."""
        with UnitOfWork(self._db) as uow:
            s = uow.session
            stored = s.get(AlertRuleset, 1)
            open_rows = list(
                s.scalars(
                    select(AlertProblem).where(AlertProblem.computer_id == computer_id, AlertProblem.active)
                )
            )
            if stored is None and not open_rows:
                return Outcome()
            ruleset, _ = r.parse(stored.ruleset if stored else {})
            computer = s.get(Computer, computer_id)
            if computer is None:
                return Outcome()
            client = self._client_facts(s, computer)
            holding, failed = r.matched(ruleset, r.names_for(client, measurement, ruleset.vars), history)
            outcome = Outcome(errors=failed)
            now = self._clock()
            templates = {
                row.id: row
                for row in s.scalars(
                    select(NotificationTemplate).where(NotificationTemplate.id.in_(ruleset.templates))
                )
            }
            by_rule = {p.rule_id: p for p in open_rows}
            holding_ids = {rule.id for rule in holding}
            rules_by_id = {rule.id: rule for rule in ruleset.rules}
            for rule in holding:
                if rule.id in by_rule:
                    continue
                problem = AlertProblem(
                    rule_id=rule.id,
                    severity=rule.severity,
                    computer_id=computer_id,
                    client_name=computer.hostname,
                    actions=list(rule.actions),
                    active=True,
                    created_at=now,
                    resolved_at=None,
                )
                s.add(problem)
                s.flush()
                outcome.opened.append({"problem_id": problem.id, "rule_id": rule.id})
                outcome.log_output.extend(rule.logs)
                self._queue(s, rule, problem, client, "triggered", templates, now, outcome)
            for rule_id, problem in by_rule.items():
                if rule_id in holding_ids:
                    continue
                problem.active = False
                problem.resolved_at = now
                outcome.resolved.append({"problem_id": problem.id, "rule_id": rule_id})
                gone = rules_by_id.get(rule_id)
                if gone is not None:
                    self._queue(s, gone, problem, client, "resolved", templates, now, outcome)
            return outcome

    @staticmethod
    def _client_facts(s: Session, computer: Computer) -> dict[str, Any]:
        attrs = attributes.load(s, [computer.id]).get(computer.id, attributes.Attributes())
        return {
            "client_id": computer.uid,
            "client_name": computer.hostname,
            "os": computer.os,
            "os_family": computer.os_family,
            "tags": list(attrs.tags),
            "labels": dict(attrs.labels),
            "connection_state": "connected" if computer.online else "disconnected",
        }

    @staticmethod
    def _message(
        rule: r.Rule,
        template: NotificationTemplate | TemplateInput,
        problem_id: str,
        client: Mapping[str, Any],
        outcome: str,
        now: datetime,
    ) -> dict[str, Any]:
        data = dict(template.data or {})
        values = {
            "Rule.ID": rule.id,
            "Rule.Severity": rule.severity,
            "Rule.Expr": rule.expr.text,
            "Client.ID": str(client.get("client_id") or ""),
            "Client.Name": str(client.get("client_name") or ""),
            "Problem.ID": problem_id,
            "Outcome": outcome,
            "Timestamp": now.isoformat(),
            "Subject": str(data.get("subject") or ""),
            "Severity": str(data.get("severity") or rule.severity),
            "CustomData": json.dumps(data.get("custom_data")) if data.get("custom_data") is not None else "",
        }
        return {
            "subject": t.render(template.subject, values),
            "body": t.render(template.body, values),
            "content_type": "text/html" if template.html else "text/plain",
            "recipients": list(template.recipients or ()),
            "transport": template.transport,
        }

    def _queue(
        self,
        s: Session,
        rule: r.Rule,
        problem: AlertProblem,
        client: Mapping[str, Any],
        outcome_word: str,
        templates: Mapping[str, NotificationTemplate],
        now: datetime,
        outcome: Outcome,
    ) -> None:
        for tid in rule.notify:
            template = templates.get(tid)
            if template is None:
                continue  # deleted since the rules were saved: nothing to send
            msg = self._message(rule, template, str(problem.id), client, outcome_word, now)
            row = AlertNotification(
                problem_id=problem.id,
                template_id=tid,
                transport=msg["transport"],
                recipients=msg["recipients"],
                subject=msg["subject"][:MAX_SUBJECT],
                body=msg["body"],
                content_type=msg["content_type"],
                state="queued",
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            outcome.notifications.append(
                {"notification_id": row.id, "template_id": tid, "outcome": outcome_word}
            )

    # ------------------------------------------------------------ testing rules

    def test(
        self,
        actor: Actor,
        raw_ruleset: object,
        templates: Mapping[str, TemplateInput],
        clients: Sequence[Mapping[str, Any]],
        measurements: Sequence[Mapping[str, Any]],
    ) -> Outcome:
        """Run ``raw_ruleset`` over given clients and their measurements (oldest first) as the
        real evaluation would, storing and sending nothing. Problems open on the first
        measurement a rule holds for and resolve on the first it stops holding."""
        actor.require(Perm.MANAGE_SETTINGS)
        ruleset, problems = r.parse(raw_ruleset)
        for tid, data in templates.items():
            try:
                _check_template(data)
            except ValidationFailed as exc:
                problems.append(r.Problem(f"templates[{tid}]", exc.message))
        missing = sorted(ruleset.templates - set(templates))
        problems += [r.Problem("rules", f"unknown notification template {tid!r}") for tid in missing]
        outcome = Outcome(errors=problems)
        if problems:
            return outcome
        by_client = {str(c.get("id") or c.get("client_id") or ""): c for c in clients}
        history: dict[str, list[Mapping[str, Any]]] = {}
        open_: dict[tuple[str, str], int] = {}
        now = self._clock()
        seq = 0
        for m in measurements:
            cid = str(m.get("client_id") or "")
            c = by_client.get(cid, {})
            client = {
                "client_id": cid,
                "client_name": c.get("name") or c.get("client_name") or cid,
                **{k: c.get(k) for k in ("os", "os_family", "tags", "labels", "connection_state")},
            }
            seen = history.setdefault(cid, [])
            seen.append(m)
            holding, failed = r.matched(ruleset, r.names_for(client, m, ruleset.vars), seen)
            outcome.errors.extend(failed)
            holding_ids = {rule.id for rule in holding}
            for rule in holding:
                if (cid, rule.id) in open_:
                    continue
                seq += 1
                open_[(cid, rule.id)] = seq
                outcome.opened.append({"problem_id": str(seq), "rule_id": rule.id, "client_id": cid})
                outcome.log_output.extend(rule.logs)
                for tid in rule.notify:
                    outcome.notifications.append(
                        self._message(rule, templates[tid], str(seq), client, "triggered", now)
                    )
            for (ocid, rid), pid in list(open_.items()):
                if ocid != cid or rid in holding_ids:
                    continue
                del open_[(ocid, rid)]
                outcome.resolved.append({"problem_id": str(pid), "rule_id": rid, "client_id": cid})
                rule = next(x for x in ruleset.rules if x.id == rid)
                for tid in rule.notify:
                    outcome.notifications.append(
                        self._message(rule, templates[tid], str(pid), client, "resolved", now)
                    )
        return outcome

    # ------------------------------------------------------------ sending

    def dispatch(self, limit: int = DISPATCH_BATCH) -> int:
        """Send up to ``limit`` queued notifications (the ``notifications.send`` duty). Each is
        marked ``dispatching`` first in its own commit, so a crash mid-send leaves it visible as
        such instead of sending it twice."""
        with UnitOfWork(self._db) as uow:
            ids = list(
                uow.session.scalars(
                    select(AlertNotification.id)
                    .where(AlertNotification.state == "queued")
                    .order_by(AlertNotification.id)
                    .limit(limit)
                )
            )
            if not ids:
                return 0
            uow.session.execute(
                update(AlertNotification)
                .where(AlertNotification.id.in_(ids), AlertNotification.state == "queued")
                .values(state="dispatching", updated_at=self._clock())
            )
        sent = 0
        for nid in ids:
            with UnitOfWork(self._db, readonly=True) as uow:
                row = uow.session.get(AlertNotification, nid)
                if row is None:
                    continue
                info = _notification_info(row)
            out, err = self._send(info)
            with UnitOfWork(self._db) as uow:
                uow.session.execute(
                    update(AlertNotification)
                    .where(AlertNotification.id == nid)
                    .values(state="error" if err else "done", out=out, err=err, updated_at=self._clock())
                )
            sent += 0 if err else 1
        return sent

    def _send(self, n: NotificationInfo) -> tuple[str, str]:
        if n.transport == SMTP:
            if not self._mail.configured():
                return "", "no SMTP server or sender configured (smtp.host, smtp.sender)"
            try:
                self._mail.send(Mail(to=n.recipients, subject=n.subject, text=n.body)).result(
                    MAIL_TIMEOUT_SEC
                )
            except FutureTimeout:
                return "", f"the mail server did not take the message within {MAIL_TIMEOUT_SEC:.0f} s"
            except Exception as exc:  # the mail port's failure, kept with the notification
                return "", f"{type(exc).__name__}: {exc}"[:MAX_SCRIPT_OUTPUT]
            return f"sent to {len(n.recipients)} recipient(s)", ""
        return self._run_script(n)

    def _run_script(self, n: NotificationInfo) -> tuple[str, str]:
        if self._scripts_dir is None:
            return "", "no alert scripts directory is configured"
        path = (self._scripts_dir / n.transport).resolve()
        base = self._scripts_dir.resolve()
        if path.parent != base or not path.is_file():
            return "", f"no script {n.transport!r} in the alert scripts directory"
        payload = json.dumps(
            {
                "notification_id": n.id,
                "problem_id": n.problem_id,
                "recipients": list(n.recipients),
                "subject": n.subject,
                "body": n.body,
                "content_type": n.content_type,
            }
        )
        try:
            done = subprocess.run(
                [str(path)],
                input=payload.encode(),
                capture_output=True,
                timeout=SCRIPT_TIMEOUT_SEC,
                cwd=base,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return "", f"the script ran longer than {SCRIPT_TIMEOUT_SEC:.0f} s and was stopped"
        except OSError as exc:
            return "", f"the script could not be started: {exc.strerror or exc}"
        out = done.stdout[:MAX_SCRIPT_OUTPUT].decode(errors="replace")
        if done.returncode != 0:
            err = done.stderr[:MAX_SCRIPT_OUTPUT].decode(errors="replace").strip()
            return out, f"exit code {done.returncode}" + (f": {err}" if err else "")
        return out, ""
