"""Audit data a client reports itself (``ReportedAuditService``, opsi's hwaudit/swaudit), called
directly: rows created and updated by ident, marked obsolete, read back by computer or as the
catalogue, hidden behind an agent's inventory, who may report for whom, and the refusals. The
opsi dialect tests do the same through HTTP; these are the ones the mutation subset runs
(docs/testing.md, "Mutation testing": this service had no test there)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.computers.reported import MAX_DATA_BYTES, MAX_IDENT, MAX_ROWS
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0


def _host(cid: int) -> Actor:
    return Actor(user_id=None, username=f"pc{cid}", role=Role.VIEWER, computer_id=cid)


def _rows(
    svc: Services, actor: Actor, kind: str, ids: list[int] | None = None, **kw: Any
) -> list[tuple[Any, ...]]:
    return [
        (r.computer_id, r.ident, r.data, r.state) for r in svc.reported_audit.find(actor, kind, ids, **kw)
    ]


def test_rows_are_created_then_updated_by_ident_and_the_report_is_audited(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, admin, "pc")
    me = _host(cid)
    mark = factories.audit_mark(svc)
    assert (
        svc.reported_audit.report(me, "software", cid, [("a", {"v": 1}), ("b", {"v": 1}), ("a", {"v": 2})])
        == 2
    )
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "audit_data.report"]
    assert (row.object_type, row.object_id, row.result) == ("computer", str(cid), "ok")
    assert row.detail == {"kind": "software", "rows": 2, "new": 2}
    assert _rows(svc, admin, "software", [cid]) == [(cid, "a", {"v": 2}, 1), (cid, "b", {"v": 1}, 1)]

    clock.now = T0 + timedelta(hours=1)
    assert svc.reported_audit.report(me, "software", cid, [("b", {"v": 3}), ("c", {})]) == 1
    found = {r.ident: r for r in svc.reported_audit.find(admin, "software", [cid])}
    assert (found["b"].data, found["b"].first_seen, found["b"].last_seen) == ({"v": 3}, T0, clock.now)
    assert found["a"].last_seen == T0 and found["c"].first_seen == clock.now

    mark = factories.audit_mark(svc)
    assert svc.reported_audit.set_obsolete(me, "software", cid) == 3
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "audit_data.set_obsolete"]
    assert (row.object_id, row.detail) == (str(cid), {"kind": "software", "rows": 3})
    assert {r[3] for r in _rows(svc, admin, "software", [cid])} == {0}
    svc.reported_audit.report(me, "software", cid, [("a", {"v": 4})])
    assert [(r[1], r[3]) for r in _rows(svc, admin, "software", [cid])] == [("a", 1), ("b", 0), ("c", 0)]
    assert svc.reported_audit.set_obsolete(me, "hardware", cid) == 0


def test_catalogue_rows_have_no_computer_and_kinds_are_kept_apart(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    other = factories.computer(svc, admin, "other")
    me = _host(cid)
    assert svc.reported_audit.report(me, "software_title", None, [("title", {"n": "Tool"})]) == 1
    assert svc.reported_audit.report(admin, "software", other, [("x", {})]) == 1
    svc.reported_audit.report(me, "hardware", cid, [("cpu", {"cores": 4})])
    assert _rows(svc, me, "software_title") == [(None, "title", {"n": "Tool"}, 1)]
    assert _rows(svc, admin, "software") == [(other, "x", {}, 1)]
    assert _rows(svc, admin, "hardware") == [(cid, "cpu", {"cores": 4}, 1)]
    assert _rows(svc, me, "software") == []  # a computer reads only its own rows
    assert _rows(svc, me, "software", [other, cid]) == []
    assert _rows(svc, me, "hardware", [other, cid]) == [(cid, "cpu", {"cores": 4}, 1)]
    assert _rows(svc, me, "hardware") == [(cid, "cpu", {"cores": 4}, 1)]


def test_an_agents_inventory_hides_what_the_client_reported(svc: Services, admin: Actor) -> None:
    plain = factories.computer(svc, admin, "plain")
    agent = factories.computer(svc, admin, "agent", os="Linux")  # has an agent inventory
    for cid in (plain, agent):
        svc.reported_audit.report(admin, "software", cid, [("s", {})])
    assert [r[0] for r in _rows(svc, admin, "software", shown=True)] == [plain]
    assert [r[0] for r in _rows(svc, admin, "software", shown=False)] == [plain, agent]


def test_who_may_report_and_read(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    other = factories.computer(svc, admin, "other")
    with pytest.raises(PermissionDenied, match="only for itself"):
        svc.reported_audit.report(_host(other), "software", cid, [("a", {})])
    with pytest.raises(PermissionDenied, match="only for itself"):
        svc.reported_audit.set_obsolete(_host(other), "software", cid)
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.reported_audit.report(viewer, "software", cid, [("a", {})])
    with pytest.raises(PermissionDenied):
        svc.reported_audit.set_obsolete(viewer, "software", cid)
    assert _rows(svc, viewer, "software") == []
    assert svc.reported_audit.report(_host(cid), "software_title", None, [("t", {})]) == 1


def test_bad_reports_are_refused_in_words(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    big = {"x": "y" * MAX_DATA_BYTES}
    cases: list[tuple[str, int | None, list[tuple[str, Any]], str | None, str]] = [
        (
            "firmware",
            cid,
            [],
            "kind",
            "kind must be one of software, hardware, software_title, hardware_device",
        ),
        ("software", None, [], None, "software rows need computer"),
        ("software_title", cid, [], None, "software_title rows have no computer"),
        ("software", cid, [("a", {})] * (MAX_ROWS + 1), "rows", f"more than {MAX_ROWS} rows in one report"),
        ("software", cid, [("", {})], "ident", f"an ident must be 1 to {MAX_IDENT} characters"),
        (
            "software",
            cid,
            [("i" * (MAX_IDENT + 1), {})],
            "ident",
            f"an ident must be 1 to {MAX_IDENT} characters",
        ),
        ("software", cid, [("a", big)], "data", f"a row's data is larger than {MAX_DATA_BYTES} bytes"),
    ]
    for kind, computer, rows, field, message in cases:
        with pytest.raises(ValidationFailed) as err:
            svc.reported_audit.report(admin, kind, computer, rows)
        assert (err.value.field, err.value.message) == (field, message)
    assert svc.reported_audit.report(admin, "software", cid, [("i" * MAX_IDENT, {})]) == 1
    with pytest.raises(ValidationFailed) as err:
        svc.reported_audit.set_obsolete(admin, "software_title", cid)
    assert (err.value.field, err.value.message) == ("kind", "kind must be one of software, hardware")
    mark = factories.audit_mark(svc)
    with pytest.raises(NotFound) as unknown:
        svc.reported_audit.report(admin, "software", 10**6, [("a", {})])
    assert (unknown.value.message, unknown.value.object_type) == ("computer 1000000 not found", "computer")
    with pytest.raises(NotFound) as unknown:
        svc.reported_audit.set_obsolete(admin, "software", 10**6)
    assert unknown.value.message == "computer 1000000 not found"
    assert [(r.action, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)] == [
        (action, "1000000", "not_found", {"error": "computer 1000000 not found"})
        for action in ("audit_data.report", "audit_data.set_obsolete")
    ]
