"""The UI's report pages through HTTP: create, edit, delete (admins), run as a paged table, the
CSV download (every row, formula-looking values defused), ad-hoc SQL; errors of the query next
to the field or on the result page, never a 500; an operator or viewer runs reports but sees no
write action and is refused if forced; every run is in the audit log with ``via`` = ``web``."""

from __future__ import annotations

import csv
import io
import re
import warnings

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient
    from starlette.applications import Starlette

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.query import Query
from fleetdeck.web.results import KeptResults
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


def run(client: TestClient, report_id: int, then: str = "") -> httpx.Response:
    """Press Run (or "Run and download CSV") on a report: a POST, followed to the kept result."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/reports/{report_id}").text)
    assert csrf, "the report's page has the Run form"
    return client.post(f"/reports/{report_id}/run", data={"csrf_token": csrf.group(1), "then": then})


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
    # run (a POST): 100 rows a page, paged in order from the kept result
    result = run(client, report.id)
    assert result.status_code == 200 and f"/reports/{report.id}/runs/" in str(result.url)
    assert "250 rows, 1\N{EN DASH}100 shown" in result.text and "page 1 of 3" in result.text
    cells = _cells(result.text)
    assert len(cells) == 100 and cells[0] == ["1", "row 1"] and cells[-1] == ["100", "row 100"]
    kept = str(result.url).split("?", 1)[0]
    last = _cells(client.get(f"{kept}?page=3").text)
    assert [c[0] for c in last] == [str(i) for i in range(201, 251)]
    assert _cells(client.get(f"{kept}?page=99").text) == last  # past the end: the last
    assert len(list(csv.reader(io.StringIO(client.get(f"{kept}/csv").text)))) == 251
    # a GET runs nothing: the old links lead to the report's page
    old = client.get(f"/reports/{report.id}/run", follow_redirects=False)
    assert old.status_code == 303 and old.headers["location"] == f"/reports/{report.id}"
    # edit
    r = client.post(
        f"/reports/{report.id}",
        data={"csrf_token": csrf, "name": "Few", "query": "SELECT 1 AS one", "notes": "", "group": ""},
    )
    assert r.status_code == 200 and "Report saved." in r.text
    info = runtime.services.reports.get(ada, report.id)
    assert (info.name, info.query, info.notes) == ("Few", "SELECT 1 AS one", "")
    assert _cells(run(client, report.id).text) == [["1"]]
    r = client.post(f"/reports/{report.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Report deleted." in r.text
    assert runtime.services.reports.find(ada, Query()).total == 0
    assert client.post(f"/reports/{report.id}/run", data={"csrf_token": csrf}).status_code == 404
    assert client.get(f"{kept}?page=2").status_code == 404  # the report is gone, its result too
    audit = [(a.action, a.via) for a in factories.audit_since(runtime.services, mark)]
    assert [a for a, _ in audit if a.startswith("report.")] == [  # one execute per run, not per view
        "report.create",
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
    r = run(client, report.id, "csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert str(r.url).endswith("/csv") and f"/reports/{report.id}/runs/" in str(r.url)
    assert 'filename="Numbers--all.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["i", "label"] and len(rows) == 251 and rows[250] == ["250", "row 250"]
    rows = list(csv.reader(io.StringIO(run(client, tricky.id, "csv").text)))
    assert rows == [["f", "n", "t", "z"], ["'=HYPERLINK(1)", "-5", 'a,b "c"', ""]]


def test_truncated_result_is_said(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    runtime.services.settings.set(ada, "reports.max_rows", 120)
    report = runtime.services.reports.create(ada, "Numbers", NUMBERS)
    login(client, "ada")
    shown = run(client, report.id)
    assert 'id="truncated"' in shown.text and "120 rows" in shown.text
    r = client.get(str(shown.url) + "/csv")
    assert r.headers["x-fleetdeck-truncated"] == "true" and len(r.text.splitlines()) == 121


def test_failing_reports_say_why(client: TestClient, runtime: Runtime, ada: Actor, alice: Actor) -> None:
    bad = runtime.services.reports.create(ada, "Bad", "SELECT nope FROM nothing")
    users = runtime.services.reports.create(ada, "Users", "SELECT username FROM users")
    login(client, "ada")
    r = run(client, bad.id)
    assert r.status_code == 400 and 'id="report-error"' in r.text and "SQL error" in r.text
    r = run(client, bad.id, "csv")
    assert r.status_code == 400 and 'id="report-error"' in r.text
    client.cookies.clear()
    login(client, "alice")  # an operator may not read user accounts through a report either
    r = run(client, users.id)
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
    main = listing.split('id="main"', 1)[1]
    assert f'action="/reports/{report.id}/run"' in listing  # Run is for everyone who reads
    assert main.count("<form") == main.count('class="inline run"') + main.count('role="search"')
    assert "/reports/sql" not in listing
    detail = client.get(f"/reports/{report.id}").text
    assert 'id="report-form"' not in detail and "/delete" not in detail and "SELECT 1 AS one" in detail
    assert _cells(run(client, report.id).text) == [["1"]]
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


def test_a_run_is_kept_for_its_session_only(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    report = runtime.services.reports.create(ada, "Numbers", NUMBERS)
    csrf = login(client, "ada")
    mark = factories.audit_mark(runtime.services)
    kept = str(run(client, report.id).url)
    for page in (1, 2, 3, 2):
        assert client.get(f"{kept}?page={page}").status_code == 200
    assert client.get(f"{kept}/csv").status_code == 200
    runs = [a for a in factories.audit_since(runtime.services, mark) if a.action == "report.execute"]
    assert [(a.username, a.via, a.result) for a in runs] == [("ada", "web", "ok")]  # one run, one record
    # no CSRF token, no run
    assert client.post(f"/reports/{report.id}/run", data={}).status_code == 403
    assert csrf
    # a made-up run id, and a run id under another report
    other_report = runtime.services.reports.create(ada, "Other", "SELECT 1")
    assert client.get(f"/reports/{report.id}/runs/nope").status_code == 410
    assert (
        client.get(kept.replace(f"/reports/{report.id}/", f"/reports/{other_report.id}/")).status_code == 410
    )
    # another session (a new login of the same user) does not see this run
    first_session = dict(client.cookies)
    client.cookies.clear()
    login(client, "ada")
    r = client.get(kept)
    assert r.status_code == 410 and 'id="run-gone"' in r.text and 'id="run-report"' in r.text
    assert client.get(f"{kept}/csv").status_code == 410
    client.cookies.clear()
    client.cookies.update(first_session)
    assert client.get(kept).status_code == 200  # still there for the session that ran it
    assert [a for a in factories.audit_since(runtime.services, mark) if a.action == "report.execute"] == runs


def test_logout_drops_the_sessions_kept_results(
    app: Starlette, client: TestClient, runtime: Runtime, ada: Actor
) -> None:
    [web] = [r for r in app.routes if getattr(r, "name", "") == "web"]
    store: KeptResults = web.app.state.ui.results  # type: ignore[attr-defined]
    report = runtime.services.reports.create(ada, "Numbers", NUMBERS)
    other = TestClient(app)  # a second login of the same user keeps its own run
    login(other, "ada")
    run(other, report.id)
    csrf = login(client, "ada")
    kept = str(run(client, report.id).url)
    assert len(store) == 2 and store.bytes > 0
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert len(store) == 1  # this session's run went at logout, not 30 minutes later
    login(client, "ada")
    assert client.get(kept).status_code == 410


def test_kept_results_are_bounded() -> None:
    from fleetdeck.core.reports.policy import ReportResult
    from fleetdeck.web.results import KeptResults, estimate

    def result(n: int) -> ReportResult:
        return ReportResult(["i", "label"], [{"i": i, "label": f"row {i}"} for i in range(n)], False, 1)

    size = estimate(result(100))
    store = KeptResults(ttl_sec=60, per_session=2, max_bytes=size * 3)
    first = store.keep("s1", 1, result(100))
    second = store.keep("s1", 1, result(100))
    third = store.keep("s1", 1, result(100))
    assert first and second and third
    assert store.get("s1", first.id, 1) is None  # a session keeps its last 2 runs
    assert store.get("s1", third.id, 1) is third and store.get("s2", third.id, 1) is None
    a = store.keep("s2", 1, result(100))
    b = store.keep("s3", 1, result(100))
    assert a and b and store.bytes <= size * 3 and len(store) == 3  # the oldest went first
    assert store.get("s1", second.id, 1) is None
    assert store.keep("s4", 1, result(400)) is None  # alone over the budget: not kept
    expired = KeptResults(ttl_sec=-1)
    gone = expired.keep("s1", 1, result(1))
    assert gone and expired.get("s1", gone.id, 1) is None and expired.bytes == 0
