"""The UI's report pages through HTTP: create, edit, delete (admins), run as a paged table, the
CSV download (every row, formula-looking values defused), ad-hoc SQL; errors of the query next
to the field or on the result page, never a 500; an operator or viewer runs reports but sees no
write action and is refused if forced; every run is in the audit log with ``via`` = ``web``."""

from __future__ import annotations

import csv
import io
import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.query import Query
from tests import factories
from tests.web.conftest import login, user_actor

# 250 rows from nothing, the same on SQLite and PostgreSQL
NUMBERS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)"
    " SELECT i, 'row ' || i AS label FROM n ORDER BY i"
)


@pytest.fixture
def ada(runtime: Runtime) -> Actor:
    return user_actor(runtime, "ada", Role.ADMIN)


def _cells(html: str) -> list[list[str]]:
    body = html.split('id="result"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_create_run_page_edit_delete(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    csrf = login(client, "ada")
    mark = factories.audit_mark(runtime.services)
    r = client.post("/reports", data={"csrf_token": csrf, "name": "Numbers", "query": NUMBERS, "notes": "n"})
    assert r.status_code == 200 and "Report created." in r.text
    [report] = runtime.services.reports.find(ada, Query()).items
    assert (report.name, report.notes, report.created_by) == ("Numbers", "n", "ada")
    listing = client.get("/reports").text
    assert f'<a href="/reports/{report.id}">Numbers</a>' in listing
    # run: 100 rows a page, paged in order
    run = client.get(f"/reports/{report.id}/run")
    assert run.status_code == 200
    assert "250 rows, 1\N{EN DASH}100 shown" in run.text and "page 1 of 3" in run.text
    cells = _cells(run.text)
    assert len(cells) == 100 and cells[0] == ["1", "row 1"] and cells[-1] == ["100", "row 100"]
    last = _cells(client.get(f"/reports/{report.id}/run?page=3").text)
    assert [c[0] for c in last] == [str(i) for i in range(201, 251)]
    assert _cells(client.get(f"/reports/{report.id}/run?page=99").text) == last  # past the end: the last
    # edit
    r = client.post(
        f"/reports/{report.id}",
        data={"csrf_token": csrf, "name": "Few", "query": "SELECT 1 AS one", "notes": "", "group": ""},
    )
    assert r.status_code == 200 and "Report saved." in r.text
    info = runtime.services.reports.get(ada, report.id)
    assert (info.name, info.query, info.notes) == ("Few", "SELECT 1 AS one", "")
    assert _cells(client.get(f"/reports/{report.id}/run").text) == [["1"]]
    r = client.post(f"/reports/{report.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Report deleted." in r.text
    assert runtime.services.reports.find(ada, Query()).total == 0
    assert client.get(f"/reports/{report.id}/run").status_code == 404
    audit = [(a.action, a.via) for a in factories.audit_since(runtime.services, mark)]
    assert [a for a, _ in audit if a.startswith("report.")] == [
        "report.create",
        "report.execute",
        "report.execute",
        "report.execute",
        "report.update",
        "report.execute",
        "report.delete",
    ]
    assert {v for a, v in audit if a.startswith("report.")} == {"web"}


def test_csv_download_has_every_row(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    report = runtime.services.reports.create(ada, "Numbers, all", NUMBERS)
    tricky = runtime.services.reports.create(
        ada, "Tricky", "SELECT '=HYPERLINK(1)' AS f, -5 AS n, 'a,b \"c\"' AS t, NULL AS z"
    )
    login(client, "ada")
    r = client.get(f"/reports/{report.id}/csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="Numbers--all.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["i", "label"] and len(rows) == 251 and rows[250] == ["250", "row 250"]
    rows = list(csv.reader(io.StringIO(client.get(f"/reports/{tricky.id}/csv").text)))
    assert rows == [["f", "n", "t", "z"], ["'=HYPERLINK(1)", "-5", 'a,b "c"', ""]]


def test_truncated_result_is_said(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    runtime.services.settings.set(ada, "reports.max_rows", 120)
    report = runtime.services.reports.create(ada, "Numbers", NUMBERS)
    login(client, "ada")
    run = client.get(f"/reports/{report.id}/run").text
    assert 'id="truncated"' in run and "120 rows" in run
    r = client.get(f"/reports/{report.id}/csv")
    assert r.headers["x-fleetdeck-truncated"] == "true" and len(r.text.splitlines()) == 121


def test_failing_reports_say_why(client: TestClient, runtime: Runtime, ada: Actor, alice: Actor) -> None:
    bad = runtime.services.reports.create(ada, "Bad", "SELECT nope FROM nothing")
    users = runtime.services.reports.create(ada, "Users", "SELECT username FROM users")
    login(client, "ada")
    r = client.get(f"/reports/{bad.id}/run")
    assert r.status_code == 400 and 'id="report-error"' in r.text and "SQL error" in r.text
    r = client.get(f"/reports/{bad.id}/csv")
    assert r.status_code == 400 and 'id="report-error"' in r.text
    client.cookies.clear()
    login(client, "alice")  # an operator may not read user accounts through a report either
    r = client.get(f"/reports/{users.id}/run")
    assert r.status_code == 400 and "may not read users" in r.text


def test_adhoc_sql(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    csrf = login(client, "ada")
    assert client.get("/reports/sql").status_code == 200
    r = client.post("/reports/sql", data={"csrf_token": csrf, "query": NUMBERS})
    assert r.status_code == 200 and "250 rows, the first 100 shown" in r.text
    assert len(_cells(r.text)) == 100
    for query, status, message in (
        ("", 400, "Enter a query"),
        ("DELETE FROM users", 400, "Only SELECT queries are allowed"),
        ("SELECT nope FROM nothing", 400, "SQL error"),
        ("SELECT * FROM settings", 400, "may not read"),
    ):
        r = client.post("/reports/sql", data={"csrf_token": csrf, "query": query})
        assert r.status_code == status and 'id="query-error"' in r.text and message in r.text, query
    runs = [a for a in factories.audit_since(runtime.services, 0) if a.action == "report.run_sql"]
    assert [(a.result, a.via) for a in runs] == [
        ("ok", "web"),
        ("invalid", "web"),
        ("failed", "web"),
        ("failed", "web"),
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Enter a name."),
        ({"name": "n" * 256}, "name", "at most 255"),
        ({"query": " "}, "query", "Enter the query"),
        ({"query": "UPDATE users SET role = 'admin'"}, "query", "Only SELECT queries are allowed"),
        ({"group": "misc"}, "group", "Choose a report group"),
        ({"group": "999999"}, "group", "no longer exists"),
        ({"notes": "x" * 10_001}, "notes", "at most 10000"),
    ],
)
def test_bad_report_forms(
    client: TestClient, runtime: Runtime, ada: Actor, fields: dict[str, str], field: str, message: str
) -> None:
    csrf = login(client, "ada")
    r = client.post("/reports", data={"csrf_token": csrf, "name": "R", "query": "SELECT 1", **fields})
    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text and message in r.text
    assert runtime.services.reports.find(ada, Query()).total == 0
    existing = runtime.services.reports.create(ada, "Kept", "SELECT 2")
    r = client.post(
        f"/reports/{existing.id}", data={"csrf_token": csrf, "name": "R", "query": "SELECT 1", **fields}
    )
    assert r.status_code == 400 and f'id="{field}-error"' in r.text
    assert runtime.services.reports.get(ada, existing.id).query == "SELECT 2"


@pytest.mark.parametrize("who", ["alice", "victor"])
def test_others_run_but_cannot_change(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor, victor: Actor, who: str
) -> None:
    report = runtime.services.reports.create(ada, "One", "SELECT 1 AS one")
    csrf = login(client, who)
    listing = client.get("/reports").text
    assert f'href="/reports/{report.id}/run"' in listing
    assert "<form" not in listing.split('id="main"', 1)[1] and "/reports/sql" not in listing
    detail = client.get(f"/reports/{report.id}").text
    assert "<form" not in detail.split('id="main"', 1)[1] and "SELECT 1 AS one" in detail
    assert _cells(client.get(f"/reports/{report.id}/run").text) == [["1"]]
    assert client.get("/reports/sql").status_code == 403
    mark = factories.audit_mark(runtime.services)
    for path, data in (
        ("/reports", {"name": "x", "query": "SELECT 1"}),
        (f"/reports/{report.id}", {"name": "x", "query": "SELECT 1"}),
        (f"/reports/{report.id}/delete", {}),
        ("/reports/sql", {"query": "SELECT 1"}),
    ):
        r = client.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code == 403 and "lacks permission manage_reports" in r.text, path
    assert len([a for a in factories.audit_since(runtime.services, mark) if a.result == "denied"]) == 4
    assert runtime.services.reports.get(ada, report.id).name == "One"


def test_report_forms_need_the_csrf_token(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    report = runtime.services.reports.create(ada, "One", "SELECT 1")
    login(client, "ada")
    for path in ("/reports", f"/reports/{report.id}", f"/reports/{report.id}/delete", "/reports/sql"):
        r = client.post(path, data={"name": "x", "query": "SELECT 2"})
        assert r.status_code == 403 and "security token" in r.text, path
    assert runtime.services.reports.get(ada, report.id).name == "One"
