"""Schedules (``core.jobs.schedules``) on the test database with a clock the test moves: cron
validation, ticks fired once at their time, runs linked to the schedule, overlap control,
catch-up for computers offline at the tick, the creator's current state at each tick, who may
change a schedule, and a constant number of statements per list."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.schedules import ScheduleInput, check_cron
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from tests import factories
from tests.factories import ManualClock
from tests.integration.queries.test_list_query_counts import counting
from tests.unit.core.conftest import T0  # 09:00 UTC


def _input(computer_ids: list[int], **kw: object) -> ScheduleInput:
    fields: dict[str, object] = {"name": "tick", "cron": "*/5 * * * *", "kind": "command", "content": "true"}
    fields.update(kw)
    return ScheduleInput(computer_ids=computer_ids, **fields)  # type: ignore[arg-type]


def _online(svc: Services, cid: int) -> None:
    svc.computers.set_online(cid, node_id="n1", remote_address="127.0.0.1", agent_version="1")


def _runs(svc: Services, admin: Actor, key: int) -> list[int]:
    page = svc.jobs.find_batches(admin, Query(where=(Cond("schedule_id", Op.EQ, key),), limit=None))
    return sorted(b.id for b in page.items)


@pytest.mark.parametrize("expr", ["* * * * *", "*/5 1-3 * * mon-fri", "0  4 1 jan *", "@daily", "@HOURLY"])
def test_cron_accepted(expr: str) -> None:
    assert check_cron(expr)


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("", "required"),
        ("* * * * * *", "five fields"),
        ("* * * *", "five fields"),
        ("@reboot", "descriptors"),
        ("61 * * * *", "invalid schedule"),
        ("0 0 30 2 *", "never fires"),
        ("every day", "five fields"),
        ("* * * * ; rm", "five fields"),
    ],
)
def test_cron_refused(expr: str, why: str) -> None:
    with pytest.raises(ValidationFailed, match=why):
        check_cron(expr)


def test_tick_fires_once_and_runs_are_listed_under_the_schedule(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, admin, "pc1")
    item = svc.schedules.save(admin, _input([cid], timeout_sec=30))
    assert item.next_run_at == T0 + timedelta(minutes=5) and item.last_run is None
    clock.now = T0 + timedelta(minutes=4, seconds=59)
    assert not svc.schedules.run_due()
    clock.now = T0 + timedelta(minutes=5, seconds=3)
    first = svc.schedules.run_due()
    assert list(first.ran) == [item.id]
    assert not svc.schedules.run_due()  # claimed: the same tick never fires twice
    got = svc.schedules.get(admin, item.id)
    assert got.next_run_at == T0 + timedelta(minutes=10)
    assert got.last_run is not None and got.last_run.batch_id == first.ran[item.id]
    assert (got.last_run.client_count, got.last_run.success_count) == (1, 0)
    batch = svc.jobs.get_batch(admin, first.ran[item.id])
    assert batch.schedule_id == item.key and batch.created_by == "admin"
    [job_id] = factories.deliver(svc, cid)
    factories.finish(svc, cid, job_id, stdout="done")
    done = svc.schedules.get(admin, item.id).last_run
    assert done is not None and (done.success_count, done.output) == (1, "done")
    # the server was away for an hour: one run when it is back, not twelve
    clock.now = T0 + timedelta(hours=1, minutes=7)
    assert list(svc.schedules.run_due().ran) == [item.id]
    assert svc.schedules.get(admin, item.id).next_run_at == T0 + timedelta(hours=1, minutes=10)
    assert len(_runs(svc, admin, item.key)) == 2
    actions = [r.action for r in factories.audit_since(svc, 0) if r.object_type == "schedule"]
    assert actions == ["schedule.create", "schedule.run", "schedule.run"]


def test_overlap_skips_a_tick_while_the_previous_run_goes_on(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, admin, "busy")
    _online(svc, cid)
    # a job not started waits for its computer until the next tick, or its timeout if longer
    item = svc.schedules.save(admin, _input([cid], cron="* * * * *", timeout_sec=300))
    clock.now = T0 + timedelta(minutes=1)
    assert item.id in svc.schedules.run_due().ran
    [job_id] = factories.deliver(svc, cid)  # sent: the run is going
    clock.now = T0 + timedelta(minutes=2)
    skipped = svc.schedules.run_due()
    assert skipped.skipped == {item.id: "the previous run is still going"}
    factories.finish(svc, cid, job_id)
    clock.now = T0 + timedelta(minutes=3)
    assert item.id in svc.schedules.run_due().ran
    # the next run's job is queued for the online computer: still going (delivery is coming)
    clock.now = T0 + timedelta(minutes=4)
    assert item.id in svc.schedules.run_due().skipped
    # with overlaps allowed, the tick runs anyway
    svc.schedules.save(admin, _input([cid], cron="* * * * *", timeout_sec=300, overlaps=True), item.id)
    clock.now = T0 + timedelta(minutes=5)
    assert item.id in svc.schedules.run_due().ran
    skips = [r for r in factories.audit_since(svc, 0) if r.action == "schedule.skip"]
    assert len(skips) == 2 and skips[0].detail["reason"] == "the previous run is still going"


def test_catch_up_runs_a_missed_tick_when_the_computer_is_back(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    away = factories.computer(svc, admin, "laptop")
    late = factories.computer(svc, admin, "desktop")
    keep = svc.schedules.save(admin, _input([away], name="catch", catch_up=True, concurrent=True))
    miss = svc.schedules.save(admin, _input([late], name="miss", timeout_sec=60, concurrent=True))
    clock.now = T0 + timedelta(minutes=5)
    ran = svc.schedules.run_due().ran
    assert set(ran) == {keep.id, miss.id}
    # both offline at the tick; they come back two minutes later
    clock.now = T0 + timedelta(minutes=7)
    assert factories.deliver(svc, late) == []  # no catch-up: the missed run expired
    [job_id] = factories.deliver(svc, away)  # catch-up: the missed run is delivered now
    assert svc.jobs.get(admin, job_id).batch_id == ran[keep.id]
    factories.finish(svc, away, job_id)
    # a computer away for many ticks: the job waits until the next tick only, then the new
    # run replaces it (never one run per missed tick), and it does not hold the new run up
    clock.now = T0 + timedelta(minutes=10)
    second = svc.schedules.run_due().ran[keep.id]
    clock.now = T0 + timedelta(minutes=15)
    third = svc.schedules.run_due().ran[keep.id]
    svc.jobs.expire_overdue()
    assert svc.jobs.get_batch(admin, second).counts.get("expired") == 1
    assert svc.jobs.get_batch(admin, third).counts.get("queued") == 1


def test_a_disabled_or_deleted_creator_stops_the_schedule(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    operator = factories.user(svc, Role.OPERATOR, "oper")
    cid = factories.computer(svc, admin, "pc")
    item = svc.schedules.save(operator, _input([cid], cron="* * * * *"))
    assert item.created_by == "oper"
    svc.users.update(admin, operator.user_id or 0, disabled=True)
    clock.now = T0 + timedelta(minutes=1)
    result = svc.schedules.run_due()
    assert result.skipped == {item.id: "its creator 'oper' is disabled or deleted"}
    assert _runs(svc, admin, item.key) == []
    svc.users.update(admin, operator.user_id or 0, disabled=False)
    clock.now = T0 + timedelta(minutes=2)
    assert item.id in svc.schedules.run_due().ran  # runs as the creator again
    svc.users.delete(admin, operator.user_id or 0)
    clock.now = T0 + timedelta(minutes=3)
    assert item.id in svc.schedules.run_due().skipped
    skip = [r for r in factories.audit_since(svc, 0) if r.action == "schedule.skip"]
    assert [r.username for r in skip] == ["system", "system"]


def test_a_run_as_a_creator_who_lost_the_permission_is_refused_and_audited(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    operator = factories.user(svc, Role.OPERATOR, "demoted")
    cid = factories.computer(svc, admin, "pc")
    item = svc.schedules.save(operator, _input([cid], cron="* * * * *"))
    svc.users.update(admin, operator.user_id or 0, role=Role.VIEWER)
    clock.now = T0 + timedelta(minutes=1)
    why = svc.schedules.run_due().skipped[item.id]
    assert why.startswith("the run was refused") and "lacks permission" in why


def test_tags_and_groups_are_decided_at_each_tick(svc: Services, admin: Actor, clock: ManualClock) -> None:
    a = factories.computer(svc, admin, "web1")
    b = factories.computer(svc, admin, "web2")
    svc.attributes.put(admin, svc.computers.get(admin, a).summary.uid, ["web"], {})
    svc.rule_groups.create(admin, "db", "databases", {"hostname": ["db*"]}, [])
    item = svc.schedules.save(admin, ScheduleInput("t", "* * * * *", "command", "true", tags=["web"]))
    clock.now = T0 + timedelta(minutes=1)
    first = svc.schedules.run_due().ran[item.id]
    assert svc.jobs.get_batch(admin, first).counts == {"queued": 1}
    svc.attributes.put(admin, svc.computers.get(admin, b).summary.uid, ["web"], {})
    factories.computer(svc, admin, "db1")
    svc.schedules.save(
        admin,
        ScheduleInput("t", "* * * * *", "command", "true", tags=["web"], group_keys=["db"], overlaps=True),
        item.id,
    )
    clock.now = T0 + timedelta(minutes=2)
    second = svc.schedules.run_due().ran[item.id]
    assert sum(svc.jobs.get_batch(admin, second).counts.values()) == 3


def test_saving_checks_input_and_rights(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    for bad, why in (
        (_input([cid], name=" "), "name is required"),
        (_input([cid], cron="* * * * * *"), "five fields"),
        (_input([cid], kind="binary"), "type must be"),
        (_input([cid], content=""), "command is required"),
        (_input([cid], interpreter="perl"), "interpreter must be"),
        (_input([cid], timeout_sec=0), "timeout_sec"),
        (_input([]), "at least one client"),
        (_input([cid], tag_operator="xor"), "operator"),
        (_input([cid], group_keys=["nope"]), "Unknown group"),
    ):
        with pytest.raises(ValidationFailed, match=why):
            svc.schedules.save(admin, bad)
    with pytest.raises(NotFound):
        svc.schedules.save(admin, _input([cid + 1000]))
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.schedules.save(viewer, _input([cid]))
    mine = svc.schedules.save(admin, _input([cid]))
    other = factories.user(svc, Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        svc.schedules.save(other, _input([cid], content="rm -rf /"), mine.id)
    with pytest.raises(PermissionDenied):
        svc.schedules.delete(other, mine.id)
    svc.schedules.delete(admin, mine.id)
    with pytest.raises(NotFound):
        svc.schedules.get(admin, mine.id)


def test_list_is_a_constant_number_of_statements(
    runtime: Runtime, svc: Services, admin: Actor, clock: ManualClock
) -> None:
    counts = []
    for size in (1, 6):
        while len(svc.schedules.find(admin, Query(limit=None)).items) < size:
            cid = factories.computer(svc, admin, f"pc{clock.now.timestamp()}")
            svc.schedules.save(admin, _input([cid], cron="* * * * *"))
            clock.now += timedelta(minutes=1)
            svc.schedules.run_due()
        with counting(runtime.db) as statements:
            page = svc.schedules.find(admin, Query(limit=None))
        assert len(page.items) == size and all(i.last_run for i in page.items[:-1])
        counts.append(len([s for s in statements if s.startswith("SELECT")]))
    assert counts[0] == counts[1] == 4, counts


def test_a_sudo_schedule_runs_its_jobs_through_sudo(svc: Services, admin: Actor, clock: ManualClock) -> None:
    """``is_sudo`` is kept with the schedule and reaches every job of its runs (the agent then
    runs the command through ``sudo -n``)."""
    cid = factories.computer(svc, admin, "pc1")
    item = svc.schedules.save(admin, _input([cid], sudo=True))
    assert svc.schedules.get(admin, item.id).data.sudo is True
    clock.now = T0 + timedelta(minutes=5, seconds=1)
    batch = svc.schedules.run_due().ran[item.id]
    (job,) = svc.jobs.find(admin, Query(where=(Cond("batch_id", Op.EQ, batch),))).items
    assert job.spec.get("sudo") is True
