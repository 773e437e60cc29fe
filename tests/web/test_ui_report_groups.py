"""Report groups in the UI through HTTP: create, rename, move and delete read back from core
with their audit records (``via`` = ``web``); core's refusals (a duplicate name, a move below
itself, a delete while reports are in it) shown next to their field; the reports and the groups
pages paged in the database and the reports filtered by group; CSRF; an operator or viewer who
reads but sees no form and whose forged forms core refuses."""

from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound
from fleetdeck.core.query import Query
from tests import factories
from tests.web.conftest import login, user_actor


@pytest.fixture
def ada(runtime: Runtime) -> Actor:
    return user_actor(runtime, "ada", Role.ADMIN)


def _rows(html: str, table: str) -> list[int]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', body)]


def test_create_rename_move_and_delete(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    s = runtime.services
    csrf = login(client, "ada")
    mark = factories.audit_mark(s)
    r = client.post("/report-groups", data={"csrf_token": csrf, "name": "Inventory", "description": "hw"})
    assert r.status_code == 200 and "Report group Inventory created." in r.text
    [top] = s.reports.groups.find(ada, Query(limit=None)).items
    r = client.post("/report-groups", data={"csrf_token": csrf, "name": "Disks", "parent": str(top.id)})
    assert r.status_code == 200
    disks = next(g for g in s.reports.groups.find(ada, Query(limit=None)).items if g.name == "Disks")
    assert disks.parent_id == top.id
    page = client.get(f"/report-groups/{top.id}")
    assert page.status_code == 200 and f'href="/report-groups/{disks.id}"' in page.text
    # a report in the subgroup, listed on the group's page and by the reports filter
    report = s.reports.create(ada, "Full disks", "SELECT 1", group_id=disks.id)
    s.reports.create(ada, "Elsewhere", "SELECT 2")
    assert "Full disks" in client.get(f"/report-groups/{disks.id}").text
    filtered = client.get(f"/reports?group={disks.id}")
    assert _rows(filtered.text, "reports") == [report.id] and "1 report in Disks" in filtered.text
    # rename and move to the top
    r = client.post(
        f"/report-groups/{disks.id}",
        data={"csrf_token": csrf, "name": "Storage", "parent": "", "description": "disks"},
    )
    assert r.status_code == 200 and "Report group saved." in r.text
    moved = s.reports.groups.get(ada, disks.id)
    assert (moved.name, moved.parent_id, moved.description) == ("Storage", None, "disks")
    # delete: refused while a report is in it (said next to the button), then done
    r = client.post(f"/report-groups/{disks.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and 'id="delete-error"' in r.text and "has reports" in r.text
    s.reports.delete(ada, report.id)
    r = client.post(f"/report-groups/{disks.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Report group deleted." in r.text
    with pytest.raises(NotFound):
        s.reports.groups.get(ada, disks.id)
    done = [
        (a.action, a.via, a.result)
        for a in factories.audit_since(s, mark)
        if a.action.startswith("report_group")
    ]
    assert done == [
        ("report_group.create", "web", "ok"),
        ("report_group.create", "web", "ok"),
        ("report_group.update", "web", "ok"),
        ("report_group.delete", "web", "conflict"),
        ("report_group.delete", "web", "ok"),
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": " "}, "name", "Enter a name."),
        ({"name": "Taken"}, "name", "already exists"),
        ({"parent": "x"}, "parent", "Choose a parent group"),
        ({"parent": "999999"}, "parent", "no longer exists"),
        ({"description": "d" * 2001}, "description", "at most 2000"),
    ],
)
def test_bad_report_group_forms(
    client: TestClient, runtime: Runtime, ada: Actor, fields: dict[str, str], field: str, message: str
) -> None:
    s = runtime.services
    s.reports.groups.create(ada, "Taken")
    csrf = login(client, "ada")
    r = client.post("/report-groups", data={"csrf_token": csrf, "name": "New", **fields})
    assert r.status_code == 400 and f'id="{field}-error"' in r.text and message in r.text
    assert [g.name for g in s.reports.groups.find(ada, Query(limit=None)).items] == ["Taken"]


def test_a_group_cannot_move_below_itself(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    s = runtime.services
    top = s.reports.groups.create(ada, "Top")
    sub = s.reports.groups.create(ada, "Sub", parent_id=top.id)
    csrf = login(client, "ada")
    page = client.get(f"/report-groups/{top.id}").text
    assert f'<option value="{top.id}"' not in page.split('id="parent"', 1)[1]  # not its own parent
    r = client.post(
        f"/report-groups/{top.id}", data={"csrf_token": csrf, "name": "Top", "parent": str(sub.id)}
    )
    assert r.status_code == 400 and 'id="parent-error"' in r.text and "below itself" in r.text
    assert s.reports.groups.get(ada, top.id).parent_id is None
    assert client.get("/report-groups/424242").status_code == 404


def test_reports_and_groups_are_paged(client: TestClient, runtime: Runtime, ada: Actor) -> None:
    s = runtime.services
    groups = [s.reports.groups.create(ada, f"group {k:03d}") for k in range(60)]
    reports = [s.reports.create(ada, f"report {k:03d}", "SELECT 1", group_id=groups[0].id) for k in range(55)]
    login(client, "ada")
    first = client.get("/report-groups")
    assert _rows(first.text, "report-groups-table") == [g.id for g in groups[:50]]
    assert "60 report groups, page 1 of 2" in first.text
    assert _rows(client.get("/report-groups?page=2").text, "report-groups-table") == [
        g.id for g in groups[50:]
    ]
    page1 = client.get("/reports")
    assert _rows(page1.text, "reports") == [r.id for r in reports[:50]] and "page 1 of 2" in page1.text
    page2 = client.get(f"/reports?group={groups[0].id}&page=2")
    assert _rows(page2.text, "reports") == [r.id for r in reports[50:]]
    assert f'href="/reports?group={groups[0].id}&amp;page=1"' in page2.text
    assert _rows(client.get(f"/reports?group={groups[1].id}").text, "reports") == []
    bad = client.get("/reports?group=%3Cb%3E")
    assert bad.status_code == 400 and 'id="filter_group-error"' in bad.text and "<b>" not in bad.text


@pytest.mark.parametrize("who", ["alice", "victor"])
def test_others_read_but_cannot_change(
    client: TestClient, runtime: Runtime, ada: Actor, alice: Actor, victor: Actor, who: str
) -> None:
    s = runtime.services
    g = s.reports.groups.create(ada, "Inventory")
    csrf = login(client, who)
    for path in ("/report-groups", f"/report-groups/{g.id}"):
        page = client.get(path)
        assert page.status_code == 200 and "Inventory" in page.text
        assert 'method="post"' not in page.text.split('id="main"', 1)[1], path
    mark = factories.audit_mark(s)
    for path, data in (
        ("/report-groups", {"name": "x"}),
        (f"/report-groups/{g.id}", {"name": "x"}),
        (f"/report-groups/{g.id}/delete", {}),
    ):
        r = client.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code == 403 and "lacks permission manage_reports" in r.text, path
        assert client.post(path, data=data).status_code == 403  # without the token: refused first
    assert [a.result for a in factories.audit_since(s, mark)] == ["denied"] * 3
    assert s.reports.groups.get(ada, g.id).name == "Inventory"
