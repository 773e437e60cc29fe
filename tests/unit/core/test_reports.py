"""Saved reports and report groups through core (the sandbox itself is tested in
tests/integration/reports)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, Reason, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.reports import ReportService
from fleetdeck.core.reports.groups import MAX_DEPTH
from fleetdeck.core.reports.service import MAX_QUERY
from fleetdeck.core.services import CoreConfig, Services, build_services
from tests import factories
from tests.conftest import SECRET

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")
VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(runtime: Runtime, clock: Clock) -> Services:
    return build_services(runtime.db, SECRET, CoreConfig(), clock=clock)


@pytest.fixture
def reports(svc: Services) -> ReportService:
    return svc.reports


def audit(svc: Services, action: str) -> list[tuple[str, str, dict[str, object]]]:
    page = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, action),)))
    return [(e.result, e.object_id, e.detail) for e in reversed(page.items)]


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ------------------------------------------------------------------ report groups


def test_groups_are_created_listed_and_found(reports: ReportService, svc: Services, clock: Clock) -> None:
    groups = reports.groups
    top = groups.create(ADMIN, "  Security ", description="checks")
    assert (top.name, top.parent_id, top.description, utc(top.created_at)) == ("Security", None, "checks", T0)
    sub = groups.create(ADMIN, "Boot", parent_id=top.id)
    assert groups.get(VIEWER, sub.id) == sub
    assert audit(svc, "report_group.create")[1] == ("ok", str(sub.id), {"name": "Boot", "parent_id": top.id})
    other = groups.create(ADMIN, "Audit")
    page = groups.find(VIEWER, Query(sort=(SortKey("name"),)))
    assert [g.name for g in page.items] == ["Audit", "Boot", "Security"] and page.total == 3
    page = groups.find(VIEWER, Query(where=(Cond("parent_id", Op.EQ, top.id),)))
    assert page.items == [sub] and page.total == 1
    # Computer groups share the table but are not report groups.
    svc.groups.create(ADMIN, "web")
    assert groups.find(VIEWER, Query(limit=1)).total == 3
    assert other.id not in {
        g.id for g in groups.find(VIEWER, Query(where=(Cond("name", Op.EQ, "web"),))).items
    }
    computer_group = svc.groups.create(ADMIN, "office").id
    with pytest.raises(NotFound) as err:
        groups.get(VIEWER, computer_group)
    assert (err.value.object_type, err.value.object_id) == ("report group", computer_group)
    with pytest.raises(NotFound):
        groups.create(ADMIN, "x", parent_id=computer_group)
    with pytest.raises(NotFound):
        groups.get(VIEWER, 4242)


def test_group_names_are_unique_per_parent_ignoring_case(reports: ReportService) -> None:
    groups = reports.groups
    a = groups.create(ADMIN, "Tools")
    b = groups.create(ADMIN, "Other")
    with pytest.raises(Conflict) as err:
        groups.create(ADMIN, "tools")
    assert err.value.detail == {"field": "name"} and "'tools'" in err.value.message
    # The same name under other parents is fine (each gets its own internal key).
    in_a = groups.create(ADMIN, "Tools", parent_id=a.id)
    in_b = groups.create(ADMIN, "TOOLS", parent_id=b.id)
    assert len({a.id, in_a.id, in_b.id}) == 3
    with pytest.raises(Conflict):
        groups.update(ADMIN, b.id, name="TOOLS")
    with pytest.raises(Conflict):
        groups.update(ADMIN, in_b.id, parent_id=a.id, move=True)  # a already has a "Tools"
    assert groups.update(ADMIN, a.id, name="tools").name == "tools"  # its own name, another case
    for bad in ("", "   ", "x" * 256):
        with pytest.raises(ValidationFailed) as verr:
            groups.create(ADMIN, bad)
        assert verr.value.detail == {"field": "name", "reason": Reason.NAME_EMPTY}
    assert groups.create(ADMIN, "x" * 255).name == "x" * 255
    assert groups.create(ADMIN, "!!!").name == "!!!"  # nothing left for a key: still fine
    assert groups.create(ADMIN, "???").name == "???"


def test_group_names_are_unique_per_parent_ignoring_case_in_any_script(reports: ReportService) -> None:
    """Non-ASCII names too: SQLite's ``lower()`` folds ASCII only, so "Über" twice at the root
    was accepted (the unique constraint does not hold where the parent is NULL), and twice
    below a group it failed on that constraint instead of being refused in words."""
    groups = reports.groups
    top = groups.create(ADMIN, "Über")
    for name, parent in (("Über", None), ("über", None), ("ÜBER", None)):
        with pytest.raises(Conflict) as err:
            groups.create(ADMIN, name, parent_id=parent)
        assert err.value.detail == {"field": "name"} and repr(name) in err.value.message
    sub = groups.create(ADMIN, "Ärger", parent_id=top.id)
    for name in ("Ärger", "ärger"):
        with pytest.raises(Conflict) as err:
            groups.create(ADMIN, name, parent_id=top.id)
        assert err.value.detail == {"field": "name"}
    other = groups.create(ADMIN, "Öl", parent_id=top.id)
    with pytest.raises(Conflict):
        groups.update(ADMIN, other.id, name="äRGER")
    assert groups.update(ADMIN, sub.id, name="ÄRGER").name == "ÄRGER"  # its own name, another case
    assert [g.name for g in reports.list_reports(VIEWER).groups] == ["Über"]
    assert [g.name for g in reports.list_reports(VIEWER, top.id).groups] == ["ÄRGER", "Öl"]


def test_a_group_creation_is_audited_as_a_report_group(reports: ReportService, svc: Services) -> None:
    mark = factories.audit_mark(svc)
    g = reports.groups.create(ADMIN, "Boot")
    assert factories.audited(svc, mark) == [
        ("report_group.create", "report_group", str(g.id), "ok", {"name": "Boot", "parent_id": None})
    ]


def test_groups_are_renamed_described_and_moved(reports: ReportService, svc: Services) -> None:
    groups = reports.groups
    a = groups.create(ADMIN, "A", description="first")
    b = groups.create(ADMIN, "B")
    c = groups.create(ADMIN, "C", parent_id=b.id)
    assert groups.update(ADMIN, a.id, description="changed").description == "changed"
    assert groups.get(ADMIN, a.id).name == "A"
    renamed = groups.update(ADMIN, a.id, name=" AA ")
    assert (renamed.name, renamed.description) == ("AA", "changed")
    assert audit(svc, "report_group.update")[1][2] == {"name": ["A", "AA"]}
    moved = groups.update(ADMIN, c.id, parent_id=a.id, move=True)
    assert moved.parent_id == a.id
    assert audit(svc, "report_group.update")[2][2] == {"parent_id": [b.id, a.id]}
    assert groups.update(ADMIN, c.id, parent_id=None).parent_id == a.id  # without move: stays
    assert groups.update(ADMIN, c.id, parent_id=None, move=True).parent_id is None
    assert groups.update(ADMIN, c.id, parent_id=None, move=True).parent_id is None  # no-op
    with pytest.raises(ValidationFailed) as err:
        groups.update(ADMIN, a.id, parent_id=a.id, move=True)
    assert err.value.field == "parent_id" and "below itself" in err.value.message
    groups.update(ADMIN, c.id, parent_id=a.id, move=True)
    with pytest.raises(ValidationFailed):
        groups.update(ADMIN, a.id, parent_id=c.id, move=True)  # below its own child
    with pytest.raises(NotFound):
        groups.update(ADMIN, a.id, parent_id=4242, move=True)
    with pytest.raises(NotFound):
        groups.update(ADMIN, 4242, name="x")
    with pytest.raises(ValidationFailed):
        groups.update(ADMIN, a.id, name=" ")
    with pytest.raises(PermissionDenied):
        groups.update(OPERATOR, a.id, name="x")


def test_group_trees_are_bounded_in_depth(reports: ReportService) -> None:
    groups = reports.groups
    chain = [groups.create(ADMIN, "g0")]
    for n in range(1, MAX_DEPTH + 1):
        chain.append(groups.create(ADMIN, f"g{n}", parent_id=chain[-1].id))
    loose = groups.create(ADMIN, "loose")
    with pytest.raises(ValidationFailed) as err:  # a parent with MAX_DEPTH + 1 levels up to the root
        groups.update(ADMIN, loose.id, parent_id=chain[MAX_DEPTH].id, move=True)
    assert "too deep" in err.value.message and err.value.field == "parent_id"
    # One level less is still fine.
    deepest = chain[MAX_DEPTH - 1].id
    assert groups.update(ADMIN, loose.id, parent_id=deepest, move=True).parent_id == deepest


def test_groups_with_content_are_not_deleted(reports: ReportService, svc: Services) -> None:
    groups = reports.groups
    top = groups.create(ADMIN, "Top")
    sub = groups.create(ADMIN, "Sub", parent_id=top.id)
    report = reports.create(ADMIN, "r", "SELECT 1", group_id=sub.id)
    with pytest.raises(Conflict) as err:
        groups.delete(ADMIN, top.id)
    assert "subgroups" in err.value.message
    with pytest.raises(Conflict) as err:
        groups.delete(ADMIN, sub.id)
    assert "has reports" in err.value.message
    reports.delete(ADMIN, report.id)
    with pytest.raises(PermissionDenied):
        groups.delete(OPERATOR, sub.id)
    groups.delete(ADMIN, sub.id)
    groups.delete(ADMIN, top.id)
    assert groups.find(ADMIN, Query()).items == []
    assert audit(svc, "report_group.delete")[-1] == ("ok", str(top.id), {"name": "Top"})
    with pytest.raises(NotFound):
        groups.delete(ADMIN, top.id)


# ------------------------------------------------------------------ saved reports


def test_reports_are_created_read_and_listed(reports: ReportService, svc: Services) -> None:
    group = reports.groups.create(ADMIN, "G")
    made = reports.create(ADMIN, " Computers ", "  SELECT id FROM computers", notes="n", group_id=group.id)
    assert (made.name, made.query, made.notes, made.group_id, made.created_by) == (
        "Computers",
        "SELECT id FROM computers",
        "n",
        group.id,
        "alice",
    )
    assert utc(made.created_at) == T0 and utc(made.updated_at) == T0
    assert reports.get(VIEWER, made.id) == made
    assert audit(svc, "report.create")[0] == (
        "ok",
        str(made.id),
        {"name": "Computers", "query": "SELECT id FROM computers", "group_id": group.id},
    )
    second = reports.create(ADMIN, "Another", "WITH x AS (SELECT 1) SELECT * FROM x")
    page = reports.find(VIEWER, Query(sort=(SortKey("name"),)))
    assert [r.id for r in page.items] == [second.id, made.id] and page.total == 2
    page = reports.find(VIEWER, Query(where=(Cond("group_id", Op.EQ, group.id),), limit=5))
    assert page.items == [made] and page.total == 1
    with pytest.raises(NotFound) as err:
        reports.get(VIEWER, 4242)
    assert (err.value.object_type, err.value.object_id) == ("report", 4242)
    with pytest.raises(NotFound):
        reports.create(ADMIN, "x", "SELECT 1", group_id=4242)
    with pytest.raises(PermissionDenied):
        reports.create(OPERATOR, "x", "SELECT 1")


@pytest.mark.parametrize(
    ("name", "query", "field"),
    [
        ("", "SELECT 1", "name"),
        ("x" * 256, "SELECT 1", "name"),
        ("x", "DELETE FROM users", "query"),
        ("x", "SELECT " + "1" * MAX_QUERY, "query"),
    ],
)
def test_bad_reports_are_refused(reports: ReportService, name: str, query: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        reports.create(ADMIN, name, query)
    assert err.value.field == field
    made = reports.create(ADMIN, "ok", "SELECT 1")
    with pytest.raises(ValidationFailed):
        reports.update(ADMIN, made.id, name=name, query=query)
    assert reports.get(ADMIN, made.id).query == "SELECT 1"


def test_the_longest_query_is_accepted(reports: ReportService) -> None:
    query = "SELECT " + "1" * (MAX_QUERY - 7)
    assert reports.create(ADMIN, "long", query).query == query


def test_reports_are_updated_and_moved(reports: ReportService, svc: Services, clock: Clock) -> None:
    group = reports.groups.create(ADMIN, "G")
    made = reports.create(ADMIN, "R", "SELECT 1", notes="old", group_id=group.id)
    clock.now = T0 + timedelta(hours=1)
    kept = reports.update(ADMIN, made.id, notes="new")
    assert (kept.name, kept.query, kept.notes, kept.group_id) == ("R", "SELECT 1", "new", group.id)
    assert utc(kept.updated_at) == clock.now and utc(kept.created_at) == T0
    changed = reports.update(ADMIN, made.id, name="R2", query=" SELECT 2")
    assert (changed.name, changed.query, changed.notes) == ("R2", "SELECT 2", "new")
    assert audit(svc, "report.update")[1][2] == {"name": ["R", "R2"], "query": ["SELECT 1", "SELECT 2"]}
    assert reports.update(ADMIN, made.id, group_id=None).group_id is None
    assert audit(svc, "report.update")[2][2] == {"group_id": [group.id, None]}
    assert reports.update(ADMIN, made.id, group_id=group.id).group_id == group.id
    with pytest.raises(NotFound):
        reports.update(ADMIN, made.id, group_id=4242)
    with pytest.raises(NotFound):
        reports.update(ADMIN, 4242, notes="x")
    with pytest.raises(PermissionDenied):
        reports.update(OPERATOR, made.id, notes="x")
    reports.delete(ADMIN, made.id)
    assert audit(svc, "report.delete")[0] == ("ok", str(made.id), {"name": "R2", "query": "SELECT 2"})
    with pytest.raises(NotFound):
        reports.delete(ADMIN, made.id)
    with pytest.raises(NotFound):
        reports.execute(ADMIN, made.id)


def test_listing_without_and_with_a_group(reports: ReportService) -> None:
    top = reports.groups.create(ADMIN, "Top")
    reports.groups.create(ADMIN, "b-sub", parent_id=top.id)
    reports.groups.create(ADMIN, "a-sub", parent_id=top.id)
    reports.groups.create(ADMIN, "Another top")
    reports.create(ADMIN, "z", "SELECT 1")
    reports.create(ADMIN, "in top", "SELECT 2", group_id=top.id)
    everything = reports.list_reports(VIEWER)
    assert [g.name for g in everything.groups] == ["Another top", "Top"]
    assert [r.name for r in everything.reports] == ["in top", "z"]
    inside = reports.list_reports(VIEWER, top.id)
    assert [g.name for g in inside.groups] == ["a-sub", "b-sub"]
    assert [r.name for r in inside.reports] == ["in top"]
    with pytest.raises(NotFound):
        reports.list_reports(VIEWER, 4242)


def test_target_ids_take_integers_and_digit_strings(reports: ReportService) -> None:
    numbers = reports.create(
        ADMIN, "ids", "SELECT 3 AS computer_id UNION ALL SELECT NULL UNION ALL SELECT 3 UNION ALL SELECT 5"
    )
    assert reports.target_ids(VIEWER, numbers.id, "computer_id") == [3, 5]
    texts = "SELECT ' 12 ' AS computer_id UNION ALL SELECT 'x' UNION ALL SELECT '-4' UNION ALL SELECT '1.5'"
    assert reports.target_ids(VIEWER, reports.create(ADMIN, "texts", texts).id, "computer_id") == [12]
    fraction = reports.create(ADMIN, "fraction", "SELECT 1.5 AS computer_id")
    assert reports.target_ids(VIEWER, fraction.id, "computer_id") == []
    made = numbers
    empty = reports.create(ADMIN, "none", "SELECT 1 AS other WHERE 1 = 0")
    assert reports.target_ids(VIEWER, empty.id, "package_id") == []
    with pytest.raises(ValidationFailed) as err:
        reports.target_ids(VIEWER, made.id, "package_id")
    assert err.value.field == "column" and "'package_id'" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        reports.target_ids(VIEWER, made.id, "hostname")
    assert err.value.field == "column" and "computer_id, package_id" in err.value.message


def test_a_truncated_report_gives_no_targets(reports: ReportService, svc: Services) -> None:
    svc.settings.set(ADMIN, "reports.max_rows", 2)
    made = reports.create(ADMIN, "many", "SELECT 1 AS computer_id UNION ALL SELECT 2 UNION ALL SELECT 3")
    with pytest.raises(ValidationFailed) as err:
        reports.target_ids(VIEWER, made.id, "computer_id")
    assert err.value.field == "report_id"
    exact = reports.create(ADMIN, "two", "SELECT 1 AS computer_id UNION ALL SELECT 2")
    assert reports.target_ids(VIEWER, exact.id, "computer_id") == [1, 2]


def test_runs_are_audited_with_their_outcome(reports: ReportService, svc: Services) -> None:
    made = reports.create(ADMIN, "one", "SELECT 1 AS n")
    assert reports.execute(VIEWER, made.id).rows == [{"n": 1}]
    assert audit(svc, "report.execute") == [
        ("ok", str(made.id), {"name": "one", "rows": 1, "truncated": False})
    ]
    with pytest.raises(PermissionDenied):
        reports.run_sql(OPERATOR, "SELECT 1")
    with pytest.raises(ValidationFailed):
        reports.run_sql(ADMIN, "DROP TABLE users")
    reports.run_sql(ADMIN, "SELECT 2 AS m")
    runs = audit(svc, "report.run_sql")
    assert [r[0] for r in runs] == ["denied", "invalid", "ok"]
    assert runs[1][2]["query"] == "DROP TABLE users"
    assert runs[2][2] == {"query": "SELECT 2 AS m", "rows": 1, "truncated": False}
