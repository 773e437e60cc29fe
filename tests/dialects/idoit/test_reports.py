"""cmdb.reports.read over fleetdeck's reports engine: the list in i-doit's shape (group as
category), a report's rows keyed by column, the engine's sandbox and errors in i-doit's format,
a constant number of queries for the list; idoitapi's CMDBReports reads both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.idoit.conftest import API_KEY, Idoit, counting
from tests.live_server import LiveServer


def test_list_and_run(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    changes = runtime.services.reports.groups.create(admin, "Changes")
    hosts = runtime.services.reports.create(
        admin,
        "Hosts",
        'SELECT hostname AS "Title", os FROM computers ORDER BY hostname',
        notes="every computer",
        group_id=changes.id,
    )
    plain = runtime.services.reports.create(admin, "One", "SELECT 1 AS n")
    runtime.services.computers.create(admin, "ws-2")
    runtime.services.computers.create(admin, "ws-1")

    listed = idoit.ok("cmdb.reports.read")
    assert [r["id"] for r in listed] == [str(hosts.id), str(plain.id)]
    first = listed[0]
    assert {k: first[k] for k in ("category", "title", "description")} == {
        "category": "Changes",
        "title": "Hosts",
        "description": "every computer",
    }
    datetime.strptime(first["created"], "%Y-%m-%d %H:%M:%S")
    assert listed[1]["category"] == ""

    rows = idoit.ok("cmdb.reports.read", {"id": str(hosts.id)})
    assert [r["Title"] for r in rows] == ["ws-1", "ws-2"]
    assert set(rows[0]) == {"Title", "os"}
    assert idoit.ok("cmdb.reports.read", {"id": plain.id}) == [{"n": 1}]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"id": "x"}, -32602), ({"id": 0}, -32602), ({"id": True}, -32602), ({"id": 987654}, -32099)],
)
def test_bad_input(idoit: Idoit, params: dict[str, Any], code: int) -> None:
    assert idoit.error("cmdb.reports.read", params)["code"] == code


def test_a_failing_report_is_an_idoit_error(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    broken = runtime.services.reports.create(admin, "Broken", "SELECT nope FROM nowhere")
    err = idoit.error("cmdb.reports.read", {"id": broken.id})
    assert err["code"] == -32099 and err["data"]["error"]
    secret = runtime.services.reports.create(admin, "Secrets", "SELECT password_hash FROM users")
    err = idoit.error("cmdb.reports.read", {"id": secret.id})
    assert err["code"] == -32099 and "argon2" not in str(err)


def test_list_runs_a_constant_number_of_queries(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    def statements() -> int:
        with counting(runtime.db) as seen:
            idoit.ok("cmdb.reports.read")
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT") and "reports" in s])

    group = runtime.services.reports.groups.create(admin, "g")
    runtime.services.reports.create(admin, "r0", "SELECT 1", group_id=group.id)
    few = statements()
    for n in range(1, 12):
        runtime.services.reports.create(admin, f"r{n}", "SELECT 1", group_id=group.id if n % 2 else None)
    assert len(idoit.ok("cmdb.reports.read")) == 12
    assert statements() == few


def test_idoitapi_reports(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    api_mod = pytest.importorskip("idoitapi.API")
    reports_mod = pytest.importorskip("idoitapi.CMDBReports")
    report = runtime.services.reports.create(admin, "Two", "SELECT 2 AS two")
    reports = reports_mod.CMDBReports(api_mod.API(url=live.url, key=API_KEY))
    assert [r["title"] for r in reports.list_reports()] == ["Two"]
    assert reports.read(report.id) == [{"two": 2}]
