"""Alerting in core (core/alerting/service.py) on the test database: measurements open and
resolve problems, problems queue notifications, the duty sends them through a real local SMTP
server or a real script, and only admins see or change any of it (audited)."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core import query as q
from fleetdeck.core.alerting.service import AlertingService, TemplateInput
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from tests import factories as f
from tests.conftest import BACKEND
from tests.factories import ManualClock
from tests.mailbox import Inbox, smtp  # noqa: F401  (the fixture)
from tests.unit.core.test_reads import write_transactions
from tests.waiting import wait_for

MAIL = TemplateInput(
    transport="smtp",
    subject="[{{.Rule.Severity}}] {{.Rule.ID}} {{.Outcome}} on {{.Client.Name}}",
    body="problem {{.Problem.ID}} of {{ .Client.ID }}: {{.Rule.Expr}}",
    recipients=("ops@example.org",),
)


def rules(*items: dict[str, Any], vars: list[str] | None = None) -> dict[str, Any]:
    return {"vars": vars or [], "rules": list(items)}


def rule(rid: str, expr: str, severity: str = "High", notify: list[str] | None = None) -> dict[str, Any]:
    return {"id": rid, "severity": severity, "expr": expr, "actions": [{"notify": notify}] if notify else []}


@pytest.fixture
def alerting(runtime: Runtime, clock: ManualClock, tmp_path: Path) -> AlertingService:
    """The service of the runtime (its mail port is the one ``smtp`` points at), on the test's
    clock, with a scripts directory of the test's own."""
    return AlertingService(
        runtime.db, runtime.services.audit, clock, runtime.services.mail, tmp_path / "scripts"
    )


@pytest.fixture
def web1(svc: Services, admin: Actor) -> int:
    return f.computer(svc, admin, "web1", os="Debian")


def test_a_problem_opens_once_notifies_and_resolves(
    alerting: AlertingService, svc: Services, admin: Actor, web1: int, clock: ManualClock
) -> None:
    alerting.create_template(admin, MAIL, "mail")
    alerting.set_ruleset(admin, rules(rule("hot", "cpu_usage_percent > 90", notify=["mail"])))
    cool = {"cpu_usage_percent": 10.0}
    hot = {"cpu_usage_percent": 95.0}

    assert alerting.evaluate(web1, cool, [cool]).opened == []
    first = alerting.evaluate(web1, hot, [cool, hot])
    assert [p["rule_id"] for p in first.opened] == ["hot"]
    clock.now += timedelta(minutes=1)
    again = alerting.evaluate(web1, hot, [cool, hot, hot])  # still hot: the same problem
    assert again.opened == [] and again.notifications == []
    page = alerting.problems(admin, q.Query())
    assert page.total == 1
    (problem,) = page.items
    assert (problem.rule_id, problem.severity, problem.client_name, problem.active) == (
        "hot",
        "High",
        "web1",
        True,
    )
    uid = svc.computers.get(admin, web1).summary.uid
    assert problem.computer_uid == uid

    clock.now += timedelta(minutes=1)
    done = alerting.evaluate(web1, cool, [hot, cool])
    assert [p["problem_id"] for p in done.resolved] == [problem.id]
    closed = alerting.problem(admin, problem.id)
    assert closed.active is False and closed.resolved_at == clock.now

    sent = alerting.notifications(admin, q.Query(sort=(q.SortKey("notification_id"),)))
    assert [n.state for n in sent.items] == ["queued", "queued"]
    triggered, resolved = (alerting.notification(admin, n.id) for n in sent.items)
    assert triggered.subject == "[High] hot triggered on web1"
    assert triggered.body == f"problem {problem.id} of {uid}: cpu_usage_percent > 90"
    assert resolved.subject == "[High] hot resolved on web1"
    assert triggered.recipients == ("ops@example.org",) and triggered.problem_id == problem.id


def test_dispatch_sends_mail_through_the_smtp_server(
    alerting: AlertingService,
    admin: Actor,
    web1: int,
    smtp: Inbox,  # noqa: F811
) -> None:
    alerting.create_template(admin, MAIL, "mail")
    alerting.set_ruleset(admin, rules(rule("hot", "cpu_usage_percent > 90", notify=["mail"])))
    alerting.evaluate(web1, {"cpu_usage_percent": 99.0}, [])
    assert alerting.dispatch() == 1
    wait_for(lambda: len(smtp.messages) == 1, timeout=30, what="the alert mail")
    msg = smtp.messages[0]
    assert msg["To"] == "ops@example.org"
    assert msg["Subject"] == "[High] hot triggered on web1"
    (n,) = alerting.notifications(admin, q.Query()).items
    assert (n.state, n.err) == ("done", "")
    assert alerting.dispatch() == 0  # nothing is sent twice


def test_without_a_mail_server_the_notification_ends_in_error(
    alerting: AlertingService, admin: Actor, web1: int
) -> None:
    alerting.create_template(admin, MAIL, "mail")
    alerting.set_ruleset(admin, rules(rule("hot", "cpu_usage_percent > 90", notify=["mail"])))
    alerting.evaluate(web1, {"cpu_usage_percent": 99.0}, [])
    assert alerting.dispatch() == 0
    (n,) = alerting.notifications(admin, q.Query()).items
    assert n.state == "error" and "smtp.host" in n.err


@pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock and BEGIN IMMEDIATE are SQLite's")
def test_dispatch_takes_the_write_lock_only_to_mark_and_to_record(
    alerting: AlertingService, runtime: Runtime, admin: Actor, web1: int
) -> None:
    """Reading each notification before sending it is a read: on SQLite a dispatch of two
    takes the write lock once to mark them and once per result, never to read one."""
    alerting.create_template(admin, MAIL, "m1")
    alerting.create_template(admin, MAIL, "m2")
    alerting.set_ruleset(admin, rules(rule("hot", "true", notify=["m1", "m2"])))
    alerting.evaluate(web1, {}, [])
    with write_transactions(runtime.db.engine) as writes:
        assert alerting.dispatch() == 0  # no mail server: both end in error
    assert len(writes) == 3
    assert sorted(n.state for n in alerting.notifications(admin, q.Query()).items) == ["error", "error"]


def _script(directory: Path, name: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_a_script_transport_gets_the_notification_on_stdin(
    alerting: AlertingService, admin: Actor, web1: int, tmp_path: Path
) -> None:
    out = tmp_path / "got.json"
    _script(tmp_path / "scripts", "notify.sh", f"#!/bin/sh\ncat > {out}\necho delivered\n")
    _script(tmp_path / "scripts", "broken.sh", "#!/bin/sh\necho bad >&2\nexit 3\n")
    alerting.create_template(admin, TemplateInput("notify.sh", "{{.Rule.ID}}", "b", recipients=("x",)), "s1")
    alerting.create_template(admin, TemplateInput("broken.sh", "s", "b"), "s2")
    alerting.create_template(admin, TemplateInput("missing.sh", "s", "b"), "s3")
    alerting.set_ruleset(admin, rules(rule("any", "true", notify=["s1", "s2", "s3"])))
    alerting.evaluate(web1, {}, [])
    assert alerting.dispatch() == 1
    got = json.loads(out.read_text())
    assert got["subject"] == "any" and got["recipients"] == ["x"]
    by_template = {n.template_id: n for n in alerting.notifications(admin, q.Query()).items}
    assert (by_template["s1"].state, by_template["s1"].out.strip()) == ("done", "delivered")
    assert by_template["s2"].state == "error" and by_template["s2"].err == "exit code 3: bad"
    assert by_template["s3"].state == "error" and "no script" in by_template["s3"].err


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (TemplateInput("../bin/sh"), "transport"),
        (TemplateInput(""), "transport"),
        (TemplateInput("smtp"), "recipients"),  # mail needs someone to go to
        (TemplateInput("smtp", recipients=("not-an-address",)), "recipients"),
        (TemplateInput("smtp", recipients=("a@b.c\r\nBcc: x@y.z",)), "recipients"),
        (TemplateInput("smtp", "{{.Rule.Nope}}", recipients=("a@b.c",)), "subject"),
        (TemplateInput("smtp", "", "{{.Rule.ID", recipients=("a@b.c",)), "body"),
    ],
)
def test_bad_templates_are_refused(
    alerting: AlertingService, admin: Actor, data: TemplateInput, field: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        alerting.create_template(admin, data, "t")
    assert err.value.detail.get("field") == field
    assert alerting.templates(admin) == []


def test_a_ruleset_is_refused_whole_with_every_mistake(alerting: AlertingService, admin: Actor) -> None:
    good = rule("ok", "true")
    with pytest.raises(ValidationFailed) as err:
        alerting.set_ruleset(admin, rules(good, rule("bad", "nope > 1"), rule("x", "true", notify=["ghost"])))
    problems = err.value.detail["problems"]
    assert [p["prefix"] for p in problems] == ["rules[1].expr", "rules"]
    assert "ghost" in problems[1]["err"]
    assert alerting.ruleset(admin) == {"vars": [], "rules": []}
    alerting.set_ruleset(admin, rules(good))
    assert alerting.ruleset(admin)["rules"] == [good]


def test_a_var_nested_deeper_than_json_goes_is_refused_in_words(
    alerting: AlertingService, admin: Actor
) -> None:
    """``x=[[[[...`` (999 brackets, within the 1000 characters a value may have) made the JSON
    decoder raise RecursionError out of ``parse``: a 500 instead of a refusal."""
    with pytest.raises(ValidationFailed) as err:
        alerting.set_ruleset(admin, rules(rule("ok", "true"), vars=["x=" + "[" * 999]))
    assert err.value.detail["problems"] == [
        {"prefix": "vars[0]", "err": "a var's value is nested too deeply"}
    ]
    assert str(err.value) == "vars[0]: a var's value is nested too deeply"
    assert alerting.ruleset(admin) == {"vars": [], "rules": []}
    deep = "[" * 400 + "]" * 400  # as deep as a value of 1000 characters can be when it is closed
    alerting.set_ruleset(admin, rules(rule("ok", "true"), vars=["x=" + deep]))
    assert alerting.ruleset(admin)["vars"] == ["x=" + deep]


def test_a_template_in_use_stays(alerting: AlertingService, admin: Actor) -> None:
    alerting.create_template(admin, MAIL, "mail")
    with pytest.raises(Conflict):
        alerting.create_template(admin, MAIL, "mail")
    alerting.set_ruleset(admin, rules(rule("hot", "true", notify=["mail"])))
    with pytest.raises(Conflict, match="'hot'"):
        alerting.delete_template(admin, "mail")
    alerting.delete_ruleset(admin)
    alerting.delete_template(admin, "mail")
    with pytest.raises(NotFound):
        alerting.template(admin, "mail")


def test_an_admin_closes_a_problem_and_it_stays_closed_while_the_rule_holds(
    alerting: AlertingService, admin: Actor, web1: int
) -> None:
    alerting.set_ruleset(admin, rules(rule("hot", "cpu_usage_percent > 90")))
    hot = {"cpu_usage_percent": 99.0}
    (opened,) = alerting.evaluate(web1, hot, []).opened
    alerting.set_problem_active(admin, opened["problem_id"], False)
    assert alerting.problem(admin, opened["problem_id"]).active is False
    # closed by hand: the next hot measurement opens a new one (the old one stays closed)
    (again,) = alerting.evaluate(web1, hot, []).opened
    assert again["problem_id"] != opened["problem_id"]
    with pytest.raises(NotFound):
        alerting.set_problem_active(admin, 10**12, False)


def test_closing_and_reopening_a_problem_is_audited_as_the_problem(
    alerting: AlertingService, svc: Services, admin: Actor, web1: int
) -> None:
    alerting.set_ruleset(admin, rules(rule("hot", "cpu_usage_percent > 90")))
    (opened,) = alerting.evaluate(web1, {"cpu_usage_percent": 99.0}, []).opened
    pid = opened["problem_id"]
    mark = f.audit_mark(svc)
    alerting.set_problem_active(admin, pid, False)
    alerting.set_problem_active(admin, pid, True)
    assert alerting.problem(admin, pid).active is True
    assert f.audited(svc, mark) == [
        ("alert_problem.update", "alert_problem", str(pid), "ok", {"active": False}),
        ("alert_problem.update", "alert_problem", str(pid), "ok", {"active": True}),
    ]


def test_filters_and_paging_of_problems(alerting: AlertingService, svc: Services, admin: Actor) -> None:
    ids = [f.computer(svc, admin, f"pc{i}") for i in range(3)]
    alerting.set_ruleset(
        admin, rules(rule("hot", "cpu_usage_percent > 90"), rule("any", "true", "Information"))
    )
    for cid in ids:
        alerting.evaluate(cid, {"cpu_usage_percent": 99.0}, [])
    page = alerting.problems(admin, q.Query(where=(q.Cond("rule_id", q.Op.EQ, "hot"),), limit=2))
    assert page.total == 3 and len(page.items) == 2
    named = alerting.problems(admin, q.Query(where=(q.Cond("client_name", q.Op.LIKE, "pc1"),)))
    assert {p.rule_id for p in named.items} == {"hot", "any"}


def test_only_admins_and_every_change_audited(
    alerting: AlertingService, svc: Services, admin: Actor, web1: int
) -> None:
    operator = f.user(svc, Role.OPERATOR)
    mark = f.audit_mark(svc)
    for call in (
        lambda: alerting.ruleset(operator),
        lambda: alerting.set_ruleset(operator, rules()),
        lambda: alerting.delete_ruleset(operator),
        lambda: alerting.templates(operator),
        lambda: alerting.create_template(operator, MAIL, "m"),
        lambda: alerting.problems(operator, q.Query()),
        lambda: alerting.set_problem_active(operator, 1, False),
        lambda: alerting.notifications(operator, q.Query()),
        lambda: alerting.test(operator, rules(), {}, [], []),
    ):
        with pytest.raises(PermissionDenied):
            call()
    denied = f.audit_since(svc, mark)
    assert {a.action for a in denied} == {
        "alert_rules.update",
        "alert_rules.delete",
        "notification_template.create",
        "alert_problem.update",
    }
    assert all(a.result == "denied" for a in denied)
    mark = f.audit_mark(svc)
    alerting.create_template(admin, MAIL, "mail")
    alerting.update_template(admin, "mail", MAIL)
    alerting.set_ruleset(admin, rules(rule("hot", "true")))
    alerting.delete_ruleset(admin)
    alerting.delete_template(admin, "mail")
    assert [(a.action, a.result) for a in f.audit_since(svc, mark)] == [
        ("notification_template.create", "ok"),
        ("notification_template.update", "ok"),
        ("alert_rules.update", "ok"),
        ("alert_rules.delete", "ok"),
        ("notification_template.delete", "ok"),
    ]


def test_the_test_run_stores_nothing_and_follows_each_client(alerting: AlertingService, admin: Actor) -> None:
    outcome = alerting.test(
        admin,
        rules(rule("hot", "avg('cpu_usage_percent') > 50 && client_name == 'a'", notify=["m"])),
        {"m": MAIL},
        [{"id": "c1", "name": "a"}, {"id": "c2", "name": "b"}],
        [
            {"client_id": "c1", "cpu_usage_percent": 90},
            {"client_id": "c2", "cpu_usage_percent": 90},
            {"client_id": "c1", "cpu_usage_percent": 0},
            {"client_id": "c1", "cpu_usage_percent": 0},
        ],
    )
    assert outcome.errors == []
    assert [(p["client_id"], p["rule_id"]) for p in outcome.opened] == [("c1", "hot")]
    assert [p["client_id"] for p in outcome.resolved] == ["c1"]  # avg 30 after the third
    assert [n["subject"] for n in outcome.notifications] == [
        "[High] hot triggered on a",
        "[High] hot resolved on a",
    ]
    assert alerting.problems(admin, q.Query()).total == 0
    assert alerting.notifications(admin, q.Query()).total == 0
    bad = alerting.test(admin, rules(rule("x", "nope")), {}, [], [])
    assert bad.errors and bad.errors[0].prefix == "rules[0].expr"


def test_the_test_run_names_a_missing_template_under_rules(alerting: AlertingService, admin: Actor) -> None:
    """A rule that notifies a template the test run was not given is reported under ``rules``,
    as ``set_ruleset`` reports it, and nothing is evaluated."""
    outcome = alerting.test(
        admin,
        rules(rule("hot", "true", notify=["mail", "gone"])),
        {"mail": MAIL},
        [{"id": "c1", "name": "a"}],
        [{"client_id": "c1"}],
    )
    assert [(p.prefix, p.err) for p in outcome.errors] == [("rules", "unknown notification template 'gone'")]
    assert outcome.opened == [] and outcome.notifications == []


def test_a_deleted_computer_takes_its_problems_along(
    alerting: AlertingService, svc: Services, admin: Actor, web1: int
) -> None:
    alerting.set_ruleset(admin, rules(rule("any", "true")))
    alerting.evaluate(web1, {}, [])
    svc.computers.delete(admin, web1)
    assert alerting.problems(admin, q.Query()).total == 0
    assert alerting.evaluate(web1, {}, []).opened == []


def test_measurements_from_the_intake_run_the_rules(
    svc: Services, admin: Actor, web1: int, clock: ManualClock
) -> None:
    """The monitoring intake (what the agent endpoint stores) runs the stored rules with the
    computer's recent measurements; deleting the rules resolves what they had open."""
    agent = agent_actor(web1, "web1", "127.0.0.1")
    svc.monitoring.intake(agent, web1, m.Measurement(cpu_usage_percent=10, memory_usage_percent=5))
    svc.alerting.set_ruleset(admin, rules(rule("busy", "avg('cpu_usage_percent') > 50")))
    for cpu in (80.0, 90.0):
        clock.now += timedelta(minutes=1)
        svc.monitoring.intake(agent, web1, m.Measurement(cpu_usage_percent=cpu, memory_usage_percent=5))
    # averages 10 -> 45 (no problem) -> 60 (problem): the history came from the stored rows
    (problem,) = svc.alerting.problems(admin, q.Query()).items
    assert (problem.rule_id, problem.active, problem.created_at) == ("busy", True, clock.now)
    clock.now += timedelta(minutes=1)
    svc.monitoring.intake_batch([(web1, m.Measurement(cpu_usage_percent=0, memory_usage_percent=5))] * 3)
    assert svc.alerting.problem(admin, problem.id).active is False  # 10, 80, 90, 0, 0, 0: 30
    for _ in range(4):
        svc.monitoring.intake(agent, web1, m.Measurement(cpu_usage_percent=100, memory_usage_percent=5))
    (again,) = [p for p in svc.alerting.problems(admin, q.Query()).items if p.active]
    svc.alerting.delete_ruleset(admin)
    assert svc.alerting.problem(admin, again.id).active is False
    assert svc.alerting.problems(admin, q.Query(where=(q.Cond("active", q.Op.EQ, True),))).total == 0


def test_a_templates_data_fills_its_placeholders(
    alerting: AlertingService, admin: Actor, clock: ManualClock
) -> None:
    """rportd's template values from the template's ``data``: ``Subject``, ``Severity`` (the
    rule's when the data has none) and ``CustomData`` as JSON (empty without it); ``html``
    makes the message ``text/html``."""
    body = "{{.Subject}}|{{.Severity}}|{{.CustomData}}|{{.Timestamp}}"
    templates = {
        "full": TemplateInput(
            "smtp",
            "s",
            body,
            html=True,
            data={"subject": "Disk", "severity": "Critical", "custom_data": {"team": ["db", 2]}},
            recipients=("ops@example.org",),
        ),
        "bare": TemplateInput("smtp", "s", body, recipients=("ops@example.org",)),
    }
    outcome = alerting.test(
        admin,
        rules(rule("hot", "cpu_usage_percent > 50", notify=["full", "bare"])),
        templates,
        [{"id": "c1", "name": "a"}],
        [{"client_id": "c1", "cpu_usage_percent": 90}],
    )
    assert outcome.errors == []
    stamp = clock.now.isoformat()
    assert [(n["body"], n["content_type"]) for n in outcome.notifications] == [
        (f'Disk|Critical|{{"team": ["db", 2]}}|{stamp}', "text/html"),
        (f"|High||{stamp}", "text/plain"),
    ]
