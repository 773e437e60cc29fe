"""rport's alerting routes over core's alerting: rules, the test run, problems, notification
templates and the notification log, with rport's statuses (204 writes, 403 for non-admins and for
a template in use), its list rules, bad input, and list query counts that do not grow."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories as f
from tests.dialects.rport.conftest import API
from tests.dialects.rport.conftest import user as _user

TEMPLATE = {
    "id": "ops-mail",
    "transport": "smtp",
    "subject": "{{.Rule.ID}} {{.Outcome}} on {{.Client.Name}}",
    "body": "{{.Rule.Expr}}",
    "html": False,
    "data": {"severity": "High"},
    "recipients": ["ops@example.org"],
}
RULES = {
    "vars": ["limit=90"],
    "rules": [
        {
            "id": "cpu-high",
            "severity": "High",
            "expr": "cpu_usage_percent > limit && client_name == 'web1'",
            "actions": [{"notify": ["ops-mail"]}, {"log": "cpu high"}],
        }
    ],
}


def _errors(r: Any) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = r.json()["errors"]
    return errors


def _setup(client: Any, as_admin: dict[str, str]) -> None:
    r = client.post(f"{API}/monitoring/notification-templates", headers=as_admin, json=TEMPLATE)
    assert (r.status_code, r.content) == (204, b""), r.text
    r = client.put(f"{API}/monitoring/rules", headers=as_admin, json=RULES)
    assert (r.status_code, r.content) == (204, b""), r.text


def test_rules_and_templates_round_trip(client: Any, as_admin: dict[str, str]) -> None:
    assert client.get(f"{API}/monitoring/rules", headers=as_admin).json() == {
        "data": {"vars": [], "rules": []}
    }
    _setup(client, as_admin)
    assert client.get(f"{API}/monitoring/rules", headers=as_admin).json() == {"data": RULES}
    got = client.get(f"{API}/monitoring/notification-templates/ops-mail", headers=as_admin).json()
    assert got == {"data": TEMPLATE}
    assert client.get(f"{API}/monitoring/notification-templates", headers=as_admin).json() == {
        "data": [TEMPLATE]
    }
    changed = {**TEMPLATE, "subject": "{{.Outcome}}", "id": ""}
    r = client.put(f"{API}/monitoring/notification-templates/ops-mail", headers=as_admin, json=changed)
    assert r.status_code == 204, r.text
    got = client.get(f"{API}/monitoring/notification-templates/ops-mail", headers=as_admin).json()
    assert got["data"]["subject"] == "{{.Outcome}}"
    # in use by cpu-high: rport's 403; after the rules are gone it goes
    r = client.delete(f"{API}/monitoring/notification-templates/ops-mail", headers=as_admin)
    assert r.status_code == 403 and "cpu-high" in _errors(r)[0]["title"]
    assert client.delete(f"{API}/monitoring/rules", headers=as_admin).status_code == 204
    assert (
        client.delete(f"{API}/monitoring/notification-templates/ops-mail", headers=as_admin).status_code
        == 204
    )
    r = client.get(f"{API}/monitoring/notification-templates/ops-mail", headers=as_admin)
    assert r.status_code == 404


def test_a_measurement_opens_a_problem_listed_with_its_notification(
    client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor
) -> None:
    _setup(client, as_admin)
    svc = runtime.services
    web1 = f.computer(svc, admin, "web1")
    db1 = f.computer(svc, admin, "db1")
    svc.alerting.evaluate(web1, {"cpu_usage_percent": 95}, [])
    svc.alerting.evaluate(db1, {"cpu_usage_percent": 95}, [])  # client_name does not match
    r = client.get(f"{API}/monitoring/problems", headers=as_admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"] == {"count": 1}
    (problem,) = body["data"]
    uid = svc.computers.get(admin, web1).summary.uid
    assert problem["rule_id"] == "cpu-high" and problem["client_id"] == uid
    assert problem["client_name"] == "web1" and problem["active"] is True and problem["resolved_at"] is None
    pid = problem["problem_id"]
    assert client.get(f"{API}/monitoring/problems/{pid}", headers=as_admin).json()["data"] == problem

    logs = client.get(f"{API}/notification-logs", headers=as_admin).json()
    assert logs["meta"] == {"count": 1}
    (entry,) = logs["data"]
    assert (entry["state"], entry["transport"]) == ("queued", "smtp")
    full = client.get(f"{API}/notification-logs/{entry['notification_id']}", headers=as_admin).json()["data"]
    assert full["subject"] == "cpu-high triggered on web1" and full["reference_id"] == pid

    r = client.put(f"{API}/monitoring/problems/{pid}", headers=as_admin, json={"active": False})
    assert r.status_code == 204, r.text
    closed = client.get(
        f"{API}/monitoring/problems", headers=as_admin, params={"filter[active]": "false"}
    ).json()
    assert [p["problem_id"] for p in closed["data"]] == [pid]
    assert client.get(
        f"{API}/monitoring/problems", headers=as_admin, params={"filter[active]": "true"}
    ).json()["meta"] == {"count": 0}
    picked = client.get(
        f"{API}/monitoring/problems", headers=as_admin, params={"fields[problems]": "problem_id,rule_id"}
    ).json()["data"]
    assert picked == [{"problem_id": pid, "rule_id": "cpu-high"}]


def test_the_test_run_answers_problems_notifications_and_errors(
    client: Any, as_admin: dict[str, str]
) -> None:
    body = {
        "ruleset": RULES,
        "templates": [TEMPLATE],
        "client_data": [{"id": "c1", "name": "web1"}],
        "measurements": [
            {"client_id": "c1", "cpu_usage_percent": 99},
            {"client_id": "c1", "cpu_usage_percent": 1},
        ],
    }
    r = client.put(f"{API}/monitoring/rules/test", headers=as_admin, json=body)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [(p["rule_id"], p["active"]) for p in data["problems"]] == [
        ("cpu-high", True),
        ("cpu-high", False),
    ]
    assert [n["subject"] for n in data["notifications"]] == [
        "cpu-high triggered on web1",
        "cpu-high resolved on web1",
    ]
    assert data["log_output"] == "cpu high" and data["validation_errors"] == [] and data["error"] == ""
    bad = {**body, "ruleset": {"rules": [{"id": "x", "severity": "Bad", "expr": "true"}]}}
    data = client.put(f"{API}/monitoring/rules/test", headers=as_admin, json=bad).json()["data"]
    assert data["validation_errors"][0]["prefix"] == "rules[0].severity"
    assert data["error"] and data["problems"] == []
    # nothing was stored
    assert client.get(f"{API}/monitoring/problems", headers=as_admin).json()["meta"] == {"count": 0}


@pytest.mark.parametrize(
    ("method", "path", "body", "text"),
    [
        ("PUT", "/monitoring/rules", {"rules": [{"id": "a", "severity": "High", "expr": "cpu >"}]}, "syntax"),
        ("PUT", "/monitoring/rules", {"rules": [{"id": "a", "severity": "High", "expr": "1", "x": 1}]}, ""),
        ("PUT", "/monitoring/rules", {"id": "r", "rules": []}, ""),  # rport: the PUT carries no id
        (
            "PUT",
            "/monitoring/rules",
            {"rules": [{"id": "a", "severity": "High", "expr": "true", "actions": [{"notify": ["ghost"]}]}]},
            "ghost",
        ),
        ("PUT", "/monitoring/rules", "not json", ""),
        ("POST", "/monitoring/notification-templates", {**TEMPLATE, "transport": "../x"}, "script"),
        ("POST", "/monitoring/notification-templates", {**TEMPLATE, "subject": "{{.Nope}}"}, "placeholder"),
        ("POST", "/monitoring/notification-templates", {**TEMPLATE, "recipients": []}, "recipient"),
        ("PUT", "/monitoring/problems/abc", {"active": False}, "invalid problem id"),
        ("PUT", "/monitoring/problems/1", {"active": "no"}, ""),
        ("GET", "/monitoring/problems?page[limit]=501", None, "too big"),
        ("GET", "/monitoring/problems?sort=severity", None, "unsupported sort"),
        ("GET", "/monitoring/problems?filter[active]=maybe", None, "boolean"),
        ("GET", "/notification-logs?page[limit]=101", None, "too big"),
        ("GET", "/notification-logs?filter[timestamp][gt]=yesterday", None, "invalid time"),
        ("GET", "/notification-logs/x1", None, "invalid notification id"),
    ],
)
def test_bad_input_is_a_400_in_rports_envelope(
    client: Any, as_admin: dict[str, str], method: str, path: str, body: Any, text: str
) -> None:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    r = client.request(method, API + path, headers=as_admin, **kwargs)
    assert r.status_code == 400, (path, r.text)
    (error,) = _errors(r)
    assert set(error) == {"code", "title", "detail"}
    assert text.lower() in (error["title"] + " " + error["detail"]).lower()


def test_unknown_ids_are_404(client: Any, as_admin: dict[str, str]) -> None:
    for path in (
        "/monitoring/problems/77",
        "/notification-logs/77",
        "/monitoring/notification-templates/nope",
    ):
        assert client.get(API + path, headers=as_admin).status_code == 404, path
    assert (
        client.put(f"{API}/monitoring/problems/77", headers=as_admin, json={"active": False}).status_code
        == 404
    )


def test_only_administrators(client: Any, as_admin: dict[str, str]) -> None:
    headers = _user(client, as_admin, "ops", ["Operators"])
    for method, path in (
        ("GET", "/monitoring/rules"),
        ("PUT", "/monitoring/rules"),
        ("DELETE", "/monitoring/rules"),
        ("PUT", "/monitoring/rules/test"),
        ("GET", "/monitoring/problems"),
        ("GET", "/monitoring/problems/1"),
        ("PUT", "/monitoring/problems/1"),
        ("GET", "/monitoring/notification-templates"),
        ("POST", "/monitoring/notification-templates"),
        ("DELETE", "/monitoring/notification-templates/x"),
        ("GET", "/notification-logs"),
        ("GET", "/notification-logs/1"),
    ):
        r = client.request(method, API + path, headers=headers, json={})
        assert r.status_code == 403, (method, path, r.text)
        assert "Administrators" in _errors(r)[0]["title"]
    assert client.get(f"{API}/monitoring/rules").status_code == 401


def test_list_query_counts_do_not_grow(
    client: Any, as_admin: dict[str, str], runtime: Runtime, admin: Actor
) -> None:
    _setup(client, as_admin)
    anyone = {
        "rules": [
            {
                "id": "hot",
                "severity": "High",
                "expr": "cpu_usage_percent > 90",
                "actions": [{"notify": ["ops-mail"]}],
            }
        ]
    }
    assert client.put(f"{API}/monitoring/rules", headers=as_admin, json=anyone).status_code == 204
    svc = runtime.services

    def count(path: str) -> int:
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "alert_" in statement:
                statements.append(statement)

        event.listen(runtime.db.engine, "before_cursor_execute", seen)
        try:
            assert client.get(API + path, headers=as_admin).status_code == 200
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", seen)
        return len(statements)

    first = f.computer(svc, admin, "web1")
    svc.alerting.evaluate(first, {"cpu_usage_percent": 99}, [])
    one = (count("/monitoring/problems"), count("/notification-logs"))
    for i in range(6):
        svc.alerting.evaluate(f.computer(svc, admin, f"x{i}"), {"cpu_usage_percent": 99}, [])
    assert (count("/monitoring/problems"), count("/notification-logs")) == one == (2, 2)
