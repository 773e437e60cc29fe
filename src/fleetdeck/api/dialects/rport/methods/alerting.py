"""rport's alerting routes (``/monitoring/rules``, ``/monitoring/problems``,
``/monitoring/notification-templates``, ``/notification-logs``) over core's alerting service.

All are for the Administrators group (403 otherwise), as rport's. Answers: the ruleset as
``{data: {vars, rules}}``; ``PUT``/``DELETE`` of rules, ``PUT`` of a problem, and template writes
204 with no body; a ruleset with mistakes 400 with one error per mistake (``title`` the place,
``detail`` what is wrong); deleting a template a rule notifies 403. ``PUT /monitoring/rules/test``
answers 200 with ``{data: {problems, notifications, log_output, validation_errors, error}}``
(rport's document says 204 with a body, which HTTP does not allow).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.filters import time_condition
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import (
    NOTIFICATIONS,
    PROBLEM_TIMES,
    PROBLEMS,
    SYNTAX,
    ProblemBody,
    RulesetBody,
    TemplateBody,
    TestRulesBody,
)
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.alerting.service import NotificationInfo, ProblemInfo, TemplateInfo, TemplateInput
from fleetdeck.core.errors import Conflict, ValidationFailed

MAX_ID = 2**63 - 1
_TEXT_OPS = {q.Op.EQ: q.Op.IEQ, q.Op.IN: q.Op.IIN}
_NOTIFICATION_FIELDS = {"reference_id": "reference_id", "timestamp": "timestamp"}


def _number(raw: object, what: str) -> int:
    text = str(raw)
    if not text.isascii() or not text.isdigit() or int(text) > MAX_ID:
        raise RportError(400, f"invalid {what} {text[:40]!r}")
    return int(text)


def _ruleset(body: RulesetBody) -> dict[str, Any]:
    return {
        "vars": list(body.vars or []),
        "rules": [
            {"id": r.id, "severity": r.severity, "expr": r.expr, "actions": list(r.actions or [])}
            for r in body.rules or []
        ],
    }


def _template_input(body: TemplateBody) -> TemplateInput:
    data: dict[str, Any] = {}
    if body.data is not None:
        data = {
            k: v
            for k, v in {
                "subject": body.data.subject,
                "severity": body.data.severity,
                "client": body.data.client,
                "webhook_url": body.data.webhook_url,
                "custom_data": body.data.custom_data,
            }.items()
            if v
        }
    return TemplateInput(
        transport=body.transport,
        subject=body.subject,
        body=body.body,
        html=body.html,
        data=data,
        recipients=tuple(body.recipients or ()),
    )


def _template(info: TemplateInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "transport": info.transport,
        "subject": info.subject,
        "body": info.body,
        "html": info.html,
        "data": dict(info.data),
        "recipients": list(info.recipients),
    }


def _problem(p: ProblemInfo) -> dict[str, Any]:
    return {
        "problem_id": str(p.id),
        "rule_id": p.rule_id,
        "client_id": p.computer_uid,
        "client_name": p.client_name,
        "severity": p.severity,
        "actions": p.actions,
        "active": p.active,
        "created_at": render.time(p.created_at),
        "resolved_at": render.time(p.resolved_at),
        "client_update_id": "",
        "measurement_update_id": "",
    }


def _notification(n: NotificationInfo, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "notification_id": str(n.id),
        "state": n.state,
        "transport": n.transport,
        "timestamp": render.time(n.created_at),
        "out": n.out,
        "err": n.err,
    }
    if full:
        data.update(
            reference_id=str(n.problem_id or ""),
            recipients=list(n.recipients),
            subject=n.subject,
            content_type=n.content_type,
            body=n.body,
        )
    return data


def _ruleset_refused(exc: ValidationFailed) -> RportError | None:
    problems = exc.detail.get("problems") if exc.detail else None
    if not problems:
        return None
    first = problems[0]
    return RportError(400, first["err"], first["prefix"])


# ---------------------------------------------------------------- rules


@route("GET", "/monitoring/rules", admin=True)
def rules_get(ctx: Context) -> Response:
    return render.ok(ctx.services.alerting.ruleset(ctx.me))


@route("PUT", "/monitoring/rules", admin=True)
def rules_put(ctx: Context) -> Response:
    body = ctx.decode(RulesetBody)
    try:
        ctx.services.alerting.set_ruleset(ctx.me, _ruleset(body))
    except ValidationFailed as exc:
        refused = _ruleset_refused(exc)
        raise refused or exc from None
    return render.empty(204)


@route("DELETE", "/monitoring/rules", admin=True)
def rules_delete(ctx: Context) -> Response:
    ctx.services.alerting.delete_ruleset(ctx.me)
    return render.empty(204)


@route("PUT", "/monitoring/rules/test", admin=True)
def rules_test(ctx: Context) -> Response:
    body = ctx.decode(TestRulesBody)
    templates = {t.id: _template_input(t) for t in body.templates or []}
    outcome = ctx.services.alerting.test(
        ctx.me,
        _ruleset(body.ruleset or RulesetBody()),
        templates,
        list(body.client_data or []),
        list(body.measurements or []),
    )
    errors = [{"prefix": p.prefix, "err": p.err} for p in outcome.errors]
    return render.ok(
        {
            "problems": [{**p, "active": True} for p in outcome.opened]
            + [{**p, "active": False} for p in outcome.resolved],
            "notifications": outcome.notifications,
            "log_output": "\n".join(outcome.log_output),
            "validation_errors": errors,
            "error": errors[0]["err"] if errors else "",
        }
    )


# ---------------------------------------------------------------- problems


def _translate(expr: q.Expr) -> q.Expr:
    if isinstance(expr, q.AnyOf):
        return q.AnyOf(tuple(_translate(c) for c in expr.conds))
    if isinstance(expr, q.AllOf):
        return q.AllOf(tuple(_translate(c) for c in expr.conds))
    if expr.field in PROBLEM_TIMES or expr.field == "timestamp":
        return time_condition(expr.field, expr)
    if expr.field == "active":
        values = expr.value if isinstance(expr.value, list) else [expr.value]
        flags = []
        for v in values:
            if str(v).lower() not in ("true", "false", "1", "0"):
                raise RportError(400, f"invalid boolean value {str(v)[:40]!r} for filter[active]")
            flags.append(str(v).lower() in ("true", "1"))
        return q.Cond("active", q.Op.IN, flags) if len(flags) > 1 else q.Cond("active", q.Op.EQ, flags[0])
    if expr.field in ("problem_id", "reference_id"):
        values = expr.value if isinstance(expr.value, list) else [expr.value]
        return q.Cond(expr.field, q.Op.IN, [_number(v, expr.field) for v in values])
    return q.Cond(expr.field, _TEXT_OPS.get(expr.op, expr.op), expr.value)


def _query(request: listing.ListRequest) -> q.Query:
    query = request.query
    return q.Query(
        where=tuple(_translate(e) for e in query.where),
        sort=query.sort,
        limit=query.limit,
        offset=query.offset,
    )


@route("GET", "/monitoring/problems", admin=True)
def problems_list(ctx: Context) -> Response:
    request = listing.parse(ctx.params, PROBLEMS, SYNTAX)
    page = ctx.services.alerting.problems(ctx.me, _query(request))
    fields = request.fields["problems"]
    return render.ok([{k: _problem(p)[k] for k in fields} for p in page.items], meta={"count": page.total})


@route("GET", "/monitoring/problems/{problem_id}", admin=True)
def problem_get(ctx: Context) -> Response:
    pid = _number(ctx.path_params["problem_id"], "problem id")
    return render.ok(_problem(ctx.services.alerting.problem(ctx.me, pid)))


@route("PUT", "/monitoring/problems/{problem_id}", admin=True)
def problem_put(ctx: Context) -> Response:
    pid = _number(ctx.path_params["problem_id"], "problem id")
    body = ctx.decode(ProblemBody)
    ctx.services.alerting.set_problem_active(ctx.me, pid, body.active)
    return render.empty(204)


# ---------------------------------------------------------------- templates


@route("GET", "/monitoring/notification-templates", admin=True)
def templates_list(ctx: Context) -> Response:
    return render.ok([_template(t) for t in ctx.services.alerting.templates(ctx.me)])


@route("POST", "/monitoring/notification-templates", admin=True)
def template_create(ctx: Context) -> Response:
    body = ctx.decode(TemplateBody)
    ctx.services.alerting.create_template(ctx.me, _template_input(body), body.id)
    return render.empty(204)


@route("GET", "/monitoring/notification-templates/{template_id}", admin=True)
def template_get(ctx: Context) -> Response:
    return render.ok(_template(ctx.services.alerting.template(ctx.me, str(ctx.path_params["template_id"]))))


@route("PUT", "/monitoring/notification-templates/{template_id}", admin=True)
def template_put(ctx: Context) -> Response:
    body = ctx.decode(TemplateBody)
    tid = str(ctx.path_params["template_id"])
    if body.id and body.id != tid:
        raise RportError(400, "the template id cannot be changed")
    ctx.services.alerting.update_template(ctx.me, tid, _template_input(body))
    return render.empty(204)


@route("DELETE", "/monitoring/notification-templates/{template_id}", admin=True)
def template_delete(ctx: Context) -> Response:
    try:
        ctx.services.alerting.delete_template(ctx.me, str(ctx.path_params["template_id"]))
    except Conflict as exc:
        raise RportError(403, exc.message) from None  # rport: a template in use is 403
    return render.empty(204)


# ---------------------------------------------------------------- notification log


@route("GET", "/notification-logs", admin=True)
def notifications_list(ctx: Context) -> Response:
    request = listing.parse(ctx.params, NOTIFICATIONS, SYNTAX)
    page = ctx.services.alerting.notifications(ctx.me, _query(request))
    fields = request.fields["notifications"]
    return render.ok(
        [{k: _notification(n)[k] for k in fields} for n in page.items], meta={"count": page.total}
    )


@route("GET", "/notification-logs/{notification_id}", admin=True)  # rport: {notification-id}
def notification_get(ctx: Context) -> Response:
    nid = _number(ctx.path_params["notification_id"], "notification id")
    return render.ok(_notification(ctx.services.alerting.notification(ctx.me, nid), full=True))
