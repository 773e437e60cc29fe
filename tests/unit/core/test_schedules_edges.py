"""Schedules (``core.jobs.schedules``) at their edges: every field read back, refusal texts and
fields, limits on both sides, audit rows with their detail, the jobs a tick makes (expiry, order,
spec) and the cap of one duty round. Written against the survivors of
`make mutation MODULE=core/jobs/schedules.py` (docs/testing.md), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.entities import ABORT_ON_ERROR, SEQUENTIAL, JobInfo
from fleetdeck.core.jobs.schedules import (
    MAX_CATCH_UP,
    MAX_DUE,
    MAX_NAME,
    MAX_TAG,
    MAX_TARGETS,
    ScheduleInput,
    check_cron,
    next_tick,
)
from fleetdeck.core.jobs.service import MAX_COMMAND, MAX_TIMEOUT
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.query import SortKey as Sort
from fleetdeck.core.services import Services
from fleetdeck.storage.tables import User
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0  # 09:00 UTC
from tests.unit.core.test_polling import Agent as PollingAgent


def _input(computer_ids: list[int], **kw: object) -> ScheduleInput:
    fields: dict[str, object] = {"name": "tick", "cron": "*/5 * * * *", "kind": "command", "content": "true"}
    fields.update(kw)
    return ScheduleInput(computer_ids=computer_ids, **fields)  # type: ignore[arg-type]


def _refused(svc: Services, actor: Actor, data: ScheduleInput) -> tuple[str, str | None]:
    with pytest.raises(ValidationFailed) as info:
        svc.schedules.save(actor, data)
    return str(info.value), info.value.field


def test_cron_texts_and_normal_forms() -> None:
    assert check_cron("  0   4 1  jan * ") == "0 4 1 jan *"
    assert check_cron("@Daily") == "@daily"
    for expr, text in (
        ("  ", "schedule is required"),
        (
            "@reboot",
            "invalid schedule '@reboot': descriptors are "
            + ", ".join(("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")),
        ),
        ("* * * *", "invalid schedule '* * * *': five fields (minute hour day month weekday) are expected"),
        ("0 0 30 2 *", "invalid schedule '0 0 30 2 *': it never fires"),
    ):
        with pytest.raises(ValidationFailed) as info:
            check_cron(expr)
        assert str(info.value) == text and info.value.field == "schedule"
    with pytest.raises(ValidationFailed) as info:
        check_cron("61 * * * *")
    assert str(info.value).startswith("invalid schedule '61 * * * *': ") and info.value.field == "schedule"
    assert next_tick("*/5 * * * *", T0) == T0 + timedelta(minutes=5)
    assert next_tick("*/5 * * * *", T0 + timedelta(seconds=1)) == T0 + timedelta(minutes=5)


def test_every_field_is_kept_and_read_back_by_uid_and_by_key(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    a = factories.computer(svc, admin, "a")
    b = factories.computer(svc, admin, "b")
    svc.rule_groups.create(admin, "g1", "one", {"hostname": ["a"]}, [])
    data = ScheduleInput(
        name="  nightly  ",
        cron="0 3 * * *",
        kind="script",
        content="echo hi",
        interpreter="bash",
        cwd="/tmp",
        sudo=True,
        timeout_sec=120,
        concurrent=True,
        abort_on_error=True,
        overlaps=True,
        catch_up=True,
        computer_ids=[b, a, b],
        group_keys=["g1", "g1"],
        tags=[" t1 ", "t2", "t1"],
        tag_operator="and",
    )
    item = svc.schedules.save(admin, data)
    for got in (item, svc.schedules.get(admin, item.id), svc.schedules.get(admin, item.key)):
        assert got.id == item.id and got.key == item.key
        assert got.data == ScheduleInput(
            name="nightly",
            cron="0 3 * * *",
            kind="script",
            content="echo hi",
            interpreter="bash",
            cwd="/tmp",
            sudo=True,
            timeout_sec=120,
            concurrent=True,
            abort_on_error=True,
            overlaps=True,
            catch_up=True,
            computer_ids=[b, a],
            group_keys=["g1"],
            tags=["t1", "t2"],
            tag_operator="and",
        )
        assert got.created_by == "admin" and got.created_at == T0 and got.updated_at is None
        assert got.next_run_at == T0.replace(day=3, hour=3) and got.last_run is None
    clock.now = T0 + timedelta(hours=1)
    changed = svc.schedules.save(admin, _input([a], name="renamed"), item.key)
    assert changed.id == item.id and changed.updated_at == clock.now and changed.created_at == T0
    assert changed.next_run_at == T0 + timedelta(hours=1, minutes=5)
    assert changed.data.kind == "command" and changed.data.computer_ids == [a] and changed.data.tags == []
    rows = [r for r in factories.audit_since(svc, 0) if r.object_type == "schedule"]
    assert [(r.action, r.object_id, r.result, r.detail) for r in rows] == [
        ("schedule.create", item.id, "ok", {"name": "nightly", "schedule": "0 3 * * *", "type": "script"}),
        ("schedule.update", item.id, "ok", {"name": "renamed", "schedule": "*/5 * * * *", "type": "command"}),
    ]


def test_refusals_name_their_field_and_limits_hold_on_both_sides(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    cases = [
        (_input([cid], name=" "), "name is required", "name"),
        (_input([cid], name="n" * (MAX_NAME + 1)), f"name is longer than {MAX_NAME} characters", "name"),
        (_input([cid], kind="binary"), "type must be 'command' or 'script'", "type"),
        (_input([cid], kind="script", content=" "), "script is required", "script"),
        (
            _input([cid], content="é" * (MAX_COMMAND // 2 + 1)),
            f"command is longer than {MAX_COMMAND} bytes",
            "command",
        ),
        (
            _input([cid], interpreter="perl"),
            "interpreter must be one of sh, bash, zsh, powershell, cmd",
            "interpreter",
        ),
        (_input([cid], timeout_sec=0), f"timeout_sec must be between 1 and {MAX_TIMEOUT}", "timeout_sec"),
        (
            _input([cid], timeout_sec=MAX_TIMEOUT + 1),
            f"timeout_sec must be between 1 and {MAX_TIMEOUT}",
            "timeout_sec",
        ),
        (_input([cid], tag_operator="xor"), "the tags' operator must be 'and' or 'or'", "tags"),
        (_input(list(range(MAX_TARGETS + 1))), f"at most {MAX_TARGETS} client_ids", "client_ids"),
        (
            _input([cid], group_keys=["g"] * (MAX_TARGETS + 1)),
            f"at most {MAX_TARGETS} group_ids",
            "group_ids",
        ),
        (_input([cid], tags=["t"] * (MAX_TARGETS + 1)), f"at most {MAX_TARGETS} tags", "tags"),
        (
            _input([cid], tags=["t" * (MAX_TAG + 1)]),
            f"tags and group ids are 1 to {MAX_TAG} characters",
            "tags",
        ),
        (_input([cid], tags=[" "]), f"tags and group ids are 1 to {MAX_TAG} characters", "tags"),
        (_input([cid], group_keys=[""]), f"tags and group ids are 1 to {MAX_TAG} characters", "tags"),
        (_input([]), "give at least one client, group or tag", "client_ids"),
        (_input([cid], cwd="/a\x00"), "text must not contain NUL characters", None),
        (_input([cid], tags=["a\x00"]), "text must not contain NUL characters", None),
        (_input([cid], group_keys=["nope", "g"]), "Unknown group with id='nope'.", "group_ids"),
    ]
    for data, text, field in cases:
        assert _refused(svc, admin, data) == (text, field), data
    # the limits themselves are accepted
    ok = svc.schedules.save(
        admin,
        _input(
            [cid],
            name="n" * MAX_NAME,
            content="x" * MAX_COMMAND,
            timeout_sec=MAX_TIMEOUT,
            tags=["t" * MAX_TAG] * MAX_TARGETS,
        ),
    )
    assert ok.data.timeout_sec == MAX_TIMEOUT and ok.data.tags == ["t" * MAX_TAG]
    assert svc.schedules.save(admin, _input([cid], timeout_sec=1)).data.timeout_sec == 1
    # a group key of the longest length passes the length check (and is then looked up)
    assert _refused(svc, admin, _input([cid], group_keys=["g" * MAX_TAG])) == (
        f"Unknown group with id={'g' * MAX_TAG!r}.",
        "group_ids",
    )
    with pytest.raises(NotFound) as missing:
        svc.schedules.save(admin, _input([cid, cid + 1000, cid + 2000]))
    assert str(missing.value) == f"computer {cid + 1000} not found"
    refused = [r for r in factories.audit_since(svc, 0) if r.action == "schedule.create" and r.result != "ok"]
    assert refused and all(r.object_id == "" for r in refused)
    assert refused[0].detail.get("error") or refused[0].result == "invalid"


def test_who_may_save_change_and_delete(svc: Services, admin: Actor) -> None:
    cid = factories.computer(svc, admin, "pc")
    oper = factories.user(svc, Role.OPERATOR, "oper")
    no_scripts = Actor(
        user_id=oper.user_id, username="oper", role=Role.OPERATOR, withheld=frozenset({Perm.RUN_SCRIPTS})
    )
    item = svc.schedules.save(no_scripts, _input([cid]))  # a command needs RUN_COMMANDS only
    with pytest.raises(PermissionDenied) as info:
        svc.schedules.save(no_scripts, _input([cid], kind="script"))
    assert info.value.detail.get("perm") == "run_scripts"
    no_commands = Actor(
        user_id=oper.user_id, username="oper", role=Role.OPERATOR, withheld=frozenset({Perm.RUN_COMMANDS})
    )
    with pytest.raises(PermissionDenied) as info:
        svc.schedules.save(no_commands, _input([cid]))
    assert info.value.detail.get("perm") == "run_commands"
    other = factories.user(svc, Role.OPERATOR, "other")
    with pytest.raises(PermissionDenied) as info:
        svc.schedules.delete(other, item.id)
    assert str(info.value) == "other may change only their own schedules"
    svc.schedules.save(oper, _input([cid], name="mine"), item.id)  # the creator may
    svc.schedules.save(admin, _input([cid], name="admin's"), item.id)  # an admin may
    with pytest.raises(NotFound) as gone:
        svc.schedules.save(admin, _input([cid]), "no-such-uid")
    assert str(gone.value) == "schedule no-such-uid not found"
    svc.schedules.delete(oper, item.key)
    for ref in (item.id, item.key):
        with pytest.raises(NotFound) as gone:
            svc.schedules.get(admin, ref)
        assert str(gone.value) == f"schedule {ref} not found"
        with pytest.raises(NotFound) as gone:
            svc.schedules.delete(admin, ref)
        assert str(gone.value) == f"schedule {ref} not found"
    deleted = [r for r in factories.audit_since(svc, 0) if r.action == "schedule.delete"]
    assert [(r.object_type, r.object_id, r.result) for r in deleted][:2] == [
        ("schedule", item.id, "denied"),
        ("schedule", item.id, "ok"),
    ]
    assert deleted[1].detail == {"name": "admin's"}
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.schedules.get(viewer, item.id)
    with pytest.raises(PermissionDenied):
        svc.schedules.find(viewer, Query())


def test_find_filters_sorts_and_counts(svc: Services, admin: Actor, clock: ManualClock) -> None:
    cid = factories.computer(svc, admin, "pc")
    for name, cron in (("b", "0 * * * *"), ("a", "*/5 * * * *"), ("c", "@daily")):
        svc.schedules.save(admin, _input([cid], name=name, cron=cron))
    page = svc.schedules.find(admin, Query(sort=(Sort("name"),), limit=2))
    assert [i.data.name for i in page.items] == ["a", "b"] and page.total == 3
    page = svc.schedules.find(admin, Query(sort=(Sort("next_run_at", descending=True),), limit=None))
    assert [i.data.name for i in page.items] == ["c", "b", "a"]
    page = svc.schedules.find(admin, Query(where=(Cond("schedule", Op.EQ, "@daily"),)))
    assert [i.data.name for i in page.items] == ["c"] and page.total == 1
    page = svc.schedules.find(admin, Query(where=(Cond("type", Op.EQ, "script"),)))
    assert page.items == [] and page.total == 0


def test_a_tick_makes_jobs_as_asked(svc: Services, admin: Actor, clock: ManualClock) -> None:
    a = factories.computer(svc, admin, "a")
    b = factories.computer(svc, admin, "b")
    seq = svc.schedules.save(
        admin,
        _input(
            [b, a],
            name="seq",
            cron="0 * * * *",
            kind="script",
            content="ls",
            cwd="/srv",
            interpreter="sh",
            timeout_sec=60,
            abort_on_error=True,
        ),
    )
    par = svc.schedules.save(
        admin, _input([a], name="par", cron="0 * * * *", concurrent=True, timeout_sec=90)
    )
    long = svc.schedules.save(
        admin, _input([a], name="long", cron="0 * * * *", concurrent=True, catch_up=True, timeout_sec=7200)
    )
    week = svc.schedules.save(
        admin, _input([a], name="week", cron="0 0 1 1 *", concurrent=True, catch_up=True, timeout_sec=60)
    )
    clock.now = T0.replace(year=2027, month=1, day=1, hour=0)
    fired = svc.schedules.run_due()
    assert set(fired.ran) == {seq.id, par.id, long.id, week.id} and fired.skipped == {}
    now = clock.now

    def jobs(uid: str) -> list[JobInfo]:
        q = Query(where=(Cond("batch_id", Op.EQ, fired.ran[uid]),), sort=(Sort("id"),), limit=None)
        return list(svc.jobs.find(admin, q).items)

    s_jobs = jobs(seq.id)
    assert sorted(j.computer_id for j in s_jobs) == sorted([a, b])
    spec = s_jobs[0].spec
    assert spec["command"] == "ls" and spec["cwd"] == "/srv" and spec["interpreter"] == "sh"
    assert spec["is_script"] is True and spec["timeout_sec"] == 60 and "sudo" not in spec
    assert spec["origin"] == {"schedule": seq.id, "interpreter": "sh"}
    # one after the other: a turn waits until the next tick (an hour), longer than its timeout
    assert s_jobs[0].expires_at == now + timedelta(hours=1)
    batch = svc.jobs.get_batch(admin, fired.ran[seq.id])
    assert batch.sequence_mode == SEQUENTIAL | ABORT_ON_ERROR and batch.name == "schedule"
    [p] = jobs(par.id)
    assert p.expires_at == now + timedelta(seconds=90)  # all at once, no catch-up: its timeout
    assert "cwd" not in p.spec and "interpreter" not in p.spec and "is_script" not in p.spec
    assert p.spec["origin"] == {"schedule": par.id, "interpreter": ""}
    assert svc.jobs.get_batch(admin, fired.ran[par.id]).sequence_mode == 0
    [lg] = jobs(long.id)
    assert lg.expires_at == now + timedelta(seconds=7200)  # the timeout when longer than the wait
    [wk] = jobs(week.id)
    assert wk.expires_at == now + MAX_CATCH_UP  # the next tick is a year away: capped
    runs = [r for r in factories.audit_since(svc, 0) if r.action == "schedule.run"]
    assert {(r.object_id, r.detail["batch"], r.username, r.result) for r in runs} == {
        (uid, batch_id, "system", "ok") for uid, batch_id in fired.ran.items()
    }
    got = svc.schedules.get(admin, seq.id)
    assert got.last_run is not None and got.last_run.started_at == now and got.last_run.output is None
    assert got.last_run.statuses == {"queued": 2} and got.last_run.client_count == 2


def test_one_round_fires_at_most_max_due_oldest_first(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, admin, "pc")
    early = svc.schedules.save(admin, _input([cid], name="early", cron="* * * * *", overlaps=True))
    clock.now = T0 + timedelta(seconds=30)
    for i in range(MAX_DUE):
        svc.schedules.save(admin, _input([cid], name=f"s{i}", cron="*/2 * * * *", overlaps=True))
    clock.now = T0 + timedelta(minutes=3)
    first = svc.schedules.run_due()
    assert len(first.ran) == MAX_DUE and early.id in first.ran
    second = svc.schedules.run_due()
    assert len(second.ran) == 1 and early.id not in second.ran


def test_skips_are_audited_with_result_reason_and_tick(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, admin, "pc")
    oper = factories.user(svc, Role.OPERATOR, "oper")
    refused = svc.schedules.save(oper, _input([cid], name="refused", cron="* * * * *"))
    empty = svc.schedules.save(admin, _input([cid], name="empty", cron="* * * * *"))
    svc.users.update(admin, oper.user_id or 0, role=Role.VIEWER)
    svc.computers.delete(admin, cid)
    clock.now = T0 + timedelta(minutes=1, seconds=5)
    result = svc.schedules.run_due()
    assert result.ran == {}
    assert result.skipped[empty.id] == "no target is left"
    assert (
        result.skipped[refused.id] == "the run was refused: oper (viewer) lacks permission manage_schedules"
    )
    skips = {r.object_id: r for r in factories.audit_since(svc, 0) if r.action == "schedule.skip"}
    tick = (T0 + timedelta(minutes=1)).isoformat()
    assert (skips[empty.id].result, skips[empty.id].detail) == (
        "ok",
        {"reason": "no target is left", "tick": tick},
    )
    assert skips[refused.id].result == "failed" and skips[refused.id].detail["tick"] == tick
    assert skips[refused.id].object_type == "schedule"
    assert svc.schedules.get(admin, empty.id).last_run is None


def test_a_run_the_job_service_refuses_is_skipped_and_audited(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """Its target was taken over by a polling agent after the schedule was saved: the commands
    are refused, the run is skipped with that refusal, audited ``schedule.skip`` (failed)."""
    cid = factories.computer(svc, admin, "desk-9")
    saved = svc.schedules.save(admin, _input([cid], name="refused", cron="* * * * *"))
    assert PollingAgent(svc, "desk-9").hello().computer_id == cid
    clock.now = T0 + timedelta(minutes=1, seconds=5)
    mark = factories.audit_mark(svc)
    result = svc.schedules.run_due()
    why = (
        f"the run was refused: computer {cid} (desk-9) is managed by a polling agent, which cannot"
        " run commands; it can do: inventory, packages"
    )
    assert (result.ran, result.skipped) == ({}, {saved.id: why})
    skips = [r for r in factories.audit_since(svc, mark) if r.object_type == "schedule"]
    assert [(r.action, r.object_id, r.result, r.detail) for r in skips] == [
        ("schedule.skip", saved.id, "failed", {"reason": why})
    ]
    assert svc.jobs.find(admin, Query()).total == 0


def test_a_renamed_creator_no_longer_runs_the_schedule(
    runtime: Runtime, svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, admin, "pc")
    oper = factories.user(svc, Role.OPERATOR, "before")
    item = svc.schedules.save(oper, _input([cid], cron="* * * * *"))
    with UnitOfWork(runtime.db) as uow:  # the creator's id now names another account
        uow.session.execute(update(User).where(User.id == oper.user_id).values(username="after"))
    clock.now = T0 + timedelta(minutes=1)
    assert svc.schedules.run_due().skipped == {item.id: "its creator 'before' is disabled or deleted"}


def test_only_reachable_computers_and_existing_groups_are_targets(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    a = factories.computer(svc, admin, "a")
    b = factories.computer(svc, admin, "b")
    c = factories.computer(svc, admin, "c")
    for cid, tags in ((a, ["x", "y"]), (b, ["x"]), (c, ["y"])):
        svc.attributes.put(admin, svc.computers.get(admin, cid).summary.uid, tags, {})
    svc.rule_groups.create(admin, "g1", "one", {"hostname": ["a"]}, [])
    svc.rule_groups.create(admin, "g2", "two", {"hostname": ["b"]}, [])
    both = svc.schedules.save(
        admin, _input([], name="and", cron="* * * * *", tags=["x", "y"], tag_operator="and")
    )
    any_ = svc.schedules.save(admin, _input([c], name="or", cron="* * * * *", tags=["x"], concurrent=True))
    grp = svc.schedules.save(admin, _input([], name="grp", cron="* * * * *", group_keys=["g1", "g2"]))
    svc.rule_groups.delete(admin, "g2")
    clock.now = T0 + timedelta(minutes=1)
    ran = svc.schedules.run_due().ran

    def targets(uid: str) -> list[int]:
        q = Query(where=(Cond("batch_id", Op.EQ, ran[uid]),), sort=(Sort("id"),), limit=None)
        return [j.computer_id for j in svc.jobs.find(admin, q).items]

    assert targets(both.id) == [a]
    assert sorted(targets(any_.id)) == sorted([a, b, c])
    assert targets(grp.id) == [a]


def test_a_schedule_runs_with_what_its_creators_groups_grant(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """A viewer whose user group grants schedules and commands (and reaches the computer through
    a rule group) may save a command schedule, and its runs act with those grants, read afresh
    from the user row (``_creator`` 25 built the creator without ``granted``: every run was
    refused for the missing permission)."""
    cid = factories.computer(svc, admin, "pc")
    svc.user_groups.put(admin, "cron", {Perm.MANAGE_SCHEDULES: True, Perm.RUN_COMMANDS: True})
    svc.rule_groups.create(admin, "desks", "reached by cron", {"hostname": ["pc"]}, ["cron"])
    info = svc.users.create(admin, "vera", factories.PASSWORD, Role.VIEWER, groups=["cron"])
    granted = svc.user_groups.memberships(admin, [info.id])[info.id].granted
    assert granted == {Perm.MANAGE_SCHEDULES, Perm.RUN_COMMANDS}
    vera = Actor(user_id=info.id, username="vera", role=Role.VIEWER, granted=granted)
    item = svc.schedules.save(vera, _input([cid], cron="* * * * *"))
    clock.now = T0 + timedelta(minutes=1)
    result = svc.schedules.run_due()
    assert result.skipped == {} and list(result.ran) == [item.id]
    [job] = svc.jobs.find(admin, Query(where=(Cond("batch_id", Op.EQ, result.ran[item.id]),))).items
    assert (job.computer_id, job.created_by) == (cid, "vera")
