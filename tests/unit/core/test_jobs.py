"""The job state machine that exactly-once delivery rests on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.entities import ActionRequest, CommandRequest, JobStatus
from fleetdeck.core.jobs.service import MAX_ACTION_DELAY_MIN, MAX_COMMAND, MAX_MESSAGE, MAX_TIMEOUT
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.protocol import messages as m
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock, result


@pytest.fixture
def computers(runtime: Runtime, admin: Actor) -> list[int]:
    return [runtime.services.computers.create(admin, f"pc{i}").id for i in range(3)]


def test_create_queues_one_job_per_target(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    created = jobs.create_commands(admin, CommandRequest("uptime"), computer_ids=computers[:2])
    assert len(created.job_ids) == 2
    infos = [jobs.get(admin, j) for j in created.job_ids]
    assert {i.computer_id for i in infos} == set(computers[:2])
    assert all(i.status is JobStatus.QUEUED and i.spec["command"] == "uptime" for i in infos)


def test_groups_expand_to_members_without_duplicates(
    runtime: Runtime, admin: Actor, computers: list[int]
) -> None:
    g = runtime.services.groups.create(admin, "web")
    runtime.services.groups.add_members(admin, g.id, computers[:2])
    created = runtime.services.jobs.create_commands(
        admin, CommandRequest("id"), computer_ids=[computers[0]], group_ids=[g.id]
    )
    assert len(created.job_ids) == 2


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (CommandRequest(""), "command"),
        (CommandRequest("ls", interpreter="fish"), "interpreter"),
        (CommandRequest("ls", timeout_sec=0), "timeout_sec"),
        (CommandRequest("ls", env={"A=B": "x"}), "env"),
    ],
)
def test_invalid_requests_are_rejected(
    runtime: Runtime, admin: Actor, computers: list[int], request_: CommandRequest, field: str
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        runtime.services.jobs.create_commands(admin, request_, computer_ids=computers)
    assert exc.value.field == field


def test_unknown_targets_and_viewers_are_refused(
    runtime: Runtime, admin: Actor, computers: list[int]
) -> None:
    jobs = runtime.services.jobs
    with pytest.raises(NotFound):
        jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[computers[0], 999])
    viewer = Actor(user_id=None, username="v", role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        jobs.create_commands(viewer, CommandRequest("ls"), computer_ids=computers)
    audit = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "command.create"),)))
    assert {(e.username, e.result) for e in audit.items} >= {("v", "denied"), ("admin", "not_found")}


def test_zsh_goes_only_to_agents_that_offer_it(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    """An agent without FEATURE_ZSH (no zsh there, Windows, or older: it could not even decode
    the frame) never gets a zsh job: it fails at delivery, saying why, and is audited."""
    jobs = runtime.services.jobs
    has, lacks = computers[0], computers[1]
    zsh = CommandRequest("print -l $path", interpreter="zsh")
    (to_has, to_lacks) = jobs.create_commands(admin, zsh, computer_ids=[has, lacks]).job_ids
    (plain,) = jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[lacks]).job_ids
    features = {has: frozenset({m.FEATURE_ZSH, m.FEATURE_REQUESTS}), lacks: frozenset({m.FEATURE_REQUESTS})}
    claimed = jobs.claim_for_delivery([has, lacks], features=features)
    assert sorted((c, s.id) for c, s in claimed) == sorted([(has, to_has), (lacks, plain)])
    assert [s.command.interpreter for _, s in claimed if s.id == to_has] == ["zsh"]  # type: ignore[union-attr]
    refused = jobs.get(admin, to_lacks)
    assert refused.status is JobStatus.FAILED
    assert refused.message.startswith(f"not run: the agent of computer {lacks} does not offer zsh")
    assert jobs.get(admin, to_has).status is JobStatus.SENT
    audit = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "job.incapable"),)))
    assert [(e.detail["job_ids"], e.detail["reason"]) for e in audit.items] == [([to_lacks], "interpreter")]
    # without the agents' features (callers that cannot know them) nothing is refused
    (again,) = jobs.create_commands(admin, zsh, computer_ids=[lacks]).job_ids
    assert [s.id for _, s in jobs.claim_for_delivery([lacks])] == [again]


def test_delivery_state_machine_is_exactly_once(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    cid = computers[0]
    (job_id,) = jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[cid]).job_ids
    claimed = jobs.claim_for_delivery([cid])
    assert [(c, s.id) for c, s in claimed] == [(cid, job_id)]
    assert jobs.get(admin, job_id).status is JobStatus.SENT
    assert jobs.claim_for_delivery([cid]) == []  # never handed out twice on one connection

    # The frame was lost: the agent reconnects without knowing the job -> queued again.
    jobs.on_hello(cid, [])
    assert jobs.get(admin, job_id).status is JobStatus.QUEUED
    assert [s.id for _, s in jobs.claim_for_delivery([cid])] == [job_id]

    # The agent got it and reconnects knowing it -> not redelivered.
    jobs.record_updates([(cid, m.JobUpdate(job_id=job_id, status="running", at=time.time()))])
    jobs.on_hello(cid, [job_id])
    assert jobs.get(admin, job_id).status is JobStatus.RUNNING
    assert jobs.claim_for_delivery([cid]) == []

    # The result, delivered twice (resent after a reconnect), is stored once and acked twice.
    assert jobs.record_results([(cid, result(job_id, stdout="first"))]) == [(cid, job_id)]
    assert jobs.record_results([(cid, result(job_id, "failed", 1, "second"))]) == [(cid, job_id)]
    info = jobs.get(admin, job_id)
    assert (info.status, info.exit_code, info.stdout) == (JobStatus.SUCCEEDED, 0, "first")


def test_a_job_is_read_back_with_when_it_was_sent(runtime: Runtime) -> None:
    """A job tells when it was handed to its agent: ``sent_at`` is empty while queued and the
    server's time of the delivery once sent, read alone (``get``) and in lists (``find``)."""
    clock = ManualClock(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    svc = build_services(runtime.db, SECRET, CoreConfig(), clock=clock)
    admin = factories.user(svc, Role.ADMIN)
    cid = factories.computer(svc, admin, "pc")
    (job_id,) = svc.jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[cid]).job_ids
    queued = svc.jobs.get(admin, job_id)
    assert (queued.status, queued.created_at, queued.sent_at) == (JobStatus.QUEUED, clock.now, None)
    clock.now += timedelta(minutes=3)
    assert factories.deliver(svc, cid) == [job_id]
    sent = svc.jobs.get(admin, job_id)
    assert (sent.status, sent.sent_at, sent.started_at) == (JobStatus.SENT, clock.now, None)
    assert [(j.id, j.sent_at) for j in svc.jobs.find(admin, Query()).items] == [(job_id, clock.now)]


def test_a_result_from_another_computer_is_ignored(
    runtime: Runtime, admin: Actor, computers: list[int]
) -> None:
    jobs = runtime.services.jobs
    (job_id,) = jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[computers[0]]).job_ids
    assert jobs.record_results([(computers[1], result(job_id))]) == []
    assert jobs.get(admin, job_id).status is JobStatus.QUEUED


def test_output_is_capped(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    (job_id,) = jobs.create_commands(admin, CommandRequest("yes"), computer_ids=[computers[0]]).job_ids
    jobs.record_results([(computers[0], result(job_id, stdout="x" * (2 * 1024 * 1024)))])
    info = jobs.get(admin, job_id)
    assert len(info.stdout) == 1024 * 1024 and info.output_truncated


def test_expiry_and_cancel(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    cid = computers[0]
    (short,) = jobs.create_commands(
        admin, CommandRequest("ls"), computer_ids=[cid], expires_in=timedelta(milliseconds=50)
    ).job_ids
    (other,) = jobs.create_commands(admin, CommandRequest("ls"), computer_ids=[cid]).job_ids
    time.sleep(0.1)
    assert jobs.expire_overdue() == 1
    assert jobs.get(admin, short).status is JobStatus.EXPIRED
    assert jobs.cancel(admin, other).status is JobStatus.CANCELLED
    with pytest.raises(Conflict):
        jobs.cancel(admin, other)
    assert jobs.claim_for_delivery([cid]) == []


def test_cancel_of_a_delivered_job_asks_the_agent(
    runtime: Runtime, admin: Actor, computers: list[int]
) -> None:
    jobs = runtime.services.jobs
    cid = computers[0]
    (job_id,) = jobs.create_commands(admin, CommandRequest("sleep 100"), computer_ids=[cid]).job_ids
    jobs.claim_for_delivery([cid])
    info = jobs.cancel(admin, job_id)
    assert info.status is JobStatus.SENT and info.cancel_requested
    assert jobs.cancel_requested(cid) == [job_id]
    # An agent that holds it hears of the cancel when it reconnects.
    assert jobs.on_hello(cid, [job_id]) == [job_id]
    # If the agent never got it, the reconnect settles it as cancelled instead of redelivering.
    assert jobs.on_hello(cid, []) == []
    assert jobs.get(admin, job_id).status is JobStatus.CANCELLED


def test_a_viewer_cannot_cancel_and_the_refusal_is_audited(
    runtime: Runtime, admin: Actor, computers: list[int]
) -> None:
    jobs = runtime.services.jobs
    viewer = factories.user(runtime.services, Role.VIEWER, "vera")
    queued, delivered = factories.commands(runtime.services, admin, computers[:2], "sleep 100")
    factories.deliver(runtime.services, computers[1])
    for job_id in (queued, delivered):
        with pytest.raises(PermissionDenied):
            jobs.cancel(viewer, job_id)
    # Read back: neither was touched, and no agent was asked to stop anything.
    assert (jobs.get(admin, queued).status, jobs.get(admin, queued).finished_at) == (JobStatus.QUEUED, None)
    assert jobs.get(admin, delivered).status is JobStatus.SENT
    assert not jobs.get(admin, delivered).cancel_requested
    assert jobs.cancel_requested(computers[1]) == []
    audit = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "job.cancel"),)))
    assert sorted((e.username, e.object_type, e.object_id, e.result, e.via) for e in audit.items) == [
        ("vera", "job", str(queued), "denied", "test"),
        ("vera", "job", str(delivered), "denied", "test"),
    ]


def test_hello_settles_lost_jobs_by_their_expiry(runtime: Runtime) -> None:
    """Jobs marked sent that the agent does not hold were lost on the way. Past their expiry
    they are expired (never run late); otherwise queued again for delivery. Jobs the agent
    holds are left alone even when past their expiry: they are running there."""
    clock = ManualClock(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    recorder = Recorder()
    svc = build_services(runtime.db, SECRET, CoreConfig(), clock=clock, notifier=recorder)
    admin = factories.user(svc, Role.ADMIN)
    cid = factories.computer(svc, admin, "pc")

    def command(expires_in: timedelta | None) -> int:
        req = CommandRequest("true")
        (job_id,) = svc.jobs.create_commands(admin, req, computer_ids=[cid], expires_in=expires_in).job_ids
        return job_id

    overdue, in_time, forever, held = (
        command(timedelta(minutes=10)),
        command(timedelta(hours=2)),
        command(None),
        command(timedelta(minutes=10)),
    )
    assert sorted(factories.deliver(svc, cid)) == [overdue, in_time, forever, held]
    clock.now += timedelta(minutes=30)
    assert svc.jobs.on_hello(cid, [held]) == []

    status = {j: svc.jobs.get(admin, j) for j in (overdue, in_time, forever, held)}
    assert (status[overdue].status, status[overdue].finished_at) == (JobStatus.EXPIRED, clock.now)
    for job_id in (in_time, forever):
        assert (status[job_id].status, status[job_id].sent_at, status[job_id].finished_at) == (
            JobStatus.QUEUED,
            None,
            None,
        )
    assert status[held].status is JobStatus.SENT
    # The deployment page follows the batches whose jobs expired or went back to the queue.
    assert recorder.changed == [sorted(status[j].batch_id for j in (overdue, in_time, forever))]
    assert svc.jobs.on_hello(cid, [held]) == []
    assert len(recorder.changed) == 1  # nothing changed: no word
    assert sorted(factories.deliver(svc, cid)) == [in_time, forever]  # the lost ones go out again


def test_a_late_running_notice_does_not_reopen_a_finished_job(
    runtime: Runtime, admin: Actor, computers: list[int]
) -> None:
    """Updates and results travel in separate batches: a ``running`` notice can be stored after
    the job's result. The job stays final with its result."""
    jobs, cid = runtime.services.jobs, computers[0]
    (job_id,) = factories.commands(runtime.services, admin, [cid], "echo hi")
    factories.deliver(runtime.services, cid)
    started = time.time() - 5
    jobs.record_updates([(cid, m.JobUpdate(job_id=job_id, status="running", at=started))])
    assert factories.finish(runtime.services, cid, job_id, stdout="hi\n") == [(cid, job_id)]
    done = jobs.get(admin, job_id)

    late = time.time() + 5
    jobs.record_updates(
        [
            (cid, m.JobUpdate(job_id=job_id, status="running", at=late, phase="execute", progress=50)),
            (cid, m.JobUpdate(job_id=job_id, status="accepted", at=late)),
        ]
    )
    after = jobs.get(admin, job_id)
    assert after == done
    assert (after.status, after.exit_code, after.stdout) == (JobStatus.SUCCEEDED, 0, "hi\n")


# ------------------------------------------------------------------ actions, batches, listing


Recorder = factories.RecordingNotifier


@pytest.fixture
def told(runtime: Runtime) -> tuple[Services, Recorder]:
    recorder = Recorder()
    return build_services(runtime.db, SECRET, CoreConfig(), notifier=recorder), recorder


def test_actions_are_validated_and_queued(
    runtime: Runtime, admin: Actor, computers: list[int], told: tuple[Services, Recorder]
) -> None:
    svc, recorder = told
    jobs = svc.jobs
    created = jobs.create_actions(admin, ActionRequest("reboot", delay_min=5), computer_ids=computers[:2])
    infos = [jobs.get(admin, j) for j in created.job_ids]
    assert [(i.kind, i.spec) for i in infos] == [("action", {"action": "reboot", "delay_min": 5})] * 2
    assert recorder.queued == [computers[:2]]
    note = jobs.create_actions(
        admin,
        ActionRequest("message", message="back in 5"),
        computer_ids=[computers[0]],
        expires_in=timedelta(minutes=1),
    )
    info = jobs.get(admin, note.job_ids[0])
    assert info.spec == {"action": "message", "message": "back in 5"} and info.expires_at is not None
    jobs.create_actions(
        admin, ActionRequest("shutdown", delay_min=MAX_ACTION_DELAY_MIN), computer_ids=computers
    )
    audit = svc.audit.find(admin, Query(where=(Cond("action", Op.EQ, "action.message"),)))
    assert audit.items[0].detail == {"computers": 1, "action": "message"}
    bad = [
        (ActionRequest("hibernate"), "action"),
        (ActionRequest("reboot", delay_min=-1), "delay_min"),
        (ActionRequest("shutdown", delay_min=MAX_ACTION_DELAY_MIN + 1), "delay_min"),
        (ActionRequest("message", message="  "), "message"),
        (ActionRequest("message", message="x" * (MAX_MESSAGE + 1)), "message"),
    ]
    for request, field in bad:
        with pytest.raises(ValidationFailed) as err:
            jobs.create_actions(admin, request, computer_ids=computers)
        assert err.value.field == field
    long_message = jobs.create_actions(
        admin, ActionRequest("message", message="é" * (MAX_MESSAGE // 2)), computer_ids=[computers[0]]
    )
    assert len(long_message.job_ids) == 1
    viewer = Actor(user_id=None, username="v", role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        jobs.create_actions(viewer, ActionRequest("reboot"), computer_ids=computers)


def test_commands_keep_what_was_asked(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    req = CommandRequest("echo $X", interpreter="bash", cwd="/tmp", timeout_sec=MAX_TIMEOUT, env={"X": "1"})
    (job_id,) = jobs.create_commands(admin, req, computer_ids=[computers[0]]).job_ids
    assert jobs.get(admin, job_id).spec == {
        "command": "echo $X",
        "timeout_sec": MAX_TIMEOUT,
        "interpreter": "bash",
        "cwd": "/tmp",
        "env": {"X": "1"},
    }
    (plain,) = jobs.create_commands(
        admin, CommandRequest("ls", timeout_sec=1), computer_ids=[computers[0]]
    ).job_ids
    assert jobs.get(admin, plain).spec == {"command": "ls", "timeout_sec": 1}
    for request, field in (
        (CommandRequest("x" * (MAX_COMMAND + 1)), "command"),
        (CommandRequest("ls", timeout_sec=MAX_TIMEOUT + 1), "timeout_sec"),
        (CommandRequest("ls", env={"": "x"}), "env"),
        (CommandRequest("ls", env={"A\0": "x"}), "env"),
        (CommandRequest("ls", env={"A": "x\0"}), "env"),
    ):
        with pytest.raises(ValidationFailed) as err:
            jobs.create_commands(admin, request, computer_ids=computers)
        assert err.value.field == field
    assert jobs.create_commands(admin, CommandRequest("x" * MAX_COMMAND), computer_ids=[computers[0]]).job_ids


def test_targets_must_exist_and_not_be_empty(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs, groups = runtime.services.jobs, runtime.services.groups
    empty = groups.create(admin, "empty")
    full = groups.create(admin, "full")
    groups.add_members(admin, full.id, computers[1:])
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({}, ValidationFailed, "computer_ids"),
        ({"group_ids": [empty.id]}, ValidationFailed, "group_ids"),
        ({"group_ids": [full.id, 4243, 4242]}, NotFound, "4242"),
        ({"computer_ids": [4243, computers[0], 4242]}, NotFound, "4242"),
        ({"computer_ids": computers, "expires_in": timedelta(0)}, ValidationFailed, "expires_in_sec"),
    ]
    for kwargs, error, detail in cases:
        with pytest.raises(error) as err:
            jobs.create_commands(admin, CommandRequest("ls"), **kwargs)
        assert detail in str(err.value.detail.get("field", err.value.detail.get("object_id")))
    made = jobs.create_commands(
        admin, CommandRequest("ls"), computer_ids=[computers[1]], group_ids=[full.id, empty.id]
    )
    assert [jobs.get(admin, j).computer_id for j in made.job_ids] == computers[1:]


def test_batches_count_their_jobs_by_status(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    made = jobs.create_commands(
        admin, CommandRequest("ls"), computer_ids=computers, expires_in=timedelta(hours=1)
    )
    jobs.claim_for_delivery([computers[0]])
    jobs.record_results([(computers[1], result(made.job_ids[1], "failed", 2))])
    jobs.claim_for_delivery([computers[1]])
    batch = jobs.get_batch(Actor(user_id=None, username="v", role=Role.VIEWER), made.batch_id)
    assert (batch.id, batch.kind, batch.name, batch.spec, batch.created_by) == (
        made.batch_id,
        "command",
        "",
        {"command": "ls", "timeout_sec": 300},
        "admin",
    )
    assert batch.counts == {"sent": 1, "failed": 1, "queued": 1}
    assert batch.job_ids == made.job_ids and batch.expires_at is not None
    with pytest.raises(NotFound) as err:
        jobs.get_batch(admin, 4242)
    assert err.value.object_type == "batch"


def test_find_lists_newest_first_and_filters(runtime: Runtime, admin: Actor, computers: list[int]) -> None:
    jobs = runtime.services.jobs
    first = jobs.create_commands(admin, CommandRequest("a"), computer_ids=computers[:2]).job_ids
    second = jobs.create_commands(admin, CommandRequest("b"), computer_ids=[computers[2]]).job_ids
    page = jobs.find(admin, Query())
    assert [j.id for j in page.items] == sorted(first + second, reverse=True) and page.total == 3
    page = jobs.find(admin, Query(where=(Cond("computer_id", Op.EQ, computers[1]),)))
    assert [j.id for j in page.items] == [first[1]] and page.total == 1
    page = jobs.find(admin, Query(sort=(SortKey("id"),), limit=1))
    assert [j.id for j in page.items] == [first[0]] and page.total == 3


def test_redeliver_tells_the_hub(runtime: Runtime, admin: Actor, told: tuple[Services, Recorder]) -> None:
    svc, recorder = told
    svc.jobs.redeliver(admin, [3, 1, 3])
    svc.jobs.redeliver(admin, [])
    assert recorder.queued == [[1, 3]]
    with pytest.raises(PermissionDenied):
        svc.jobs.redeliver(Actor(user_id=None, username="v", role=Role.VIEWER), [1])


def test_cancel_tells_the_agent_of_delivered_jobs_only(
    runtime: Runtime, admin: Actor, computers: list[int], told: tuple[Services, Recorder]
) -> None:
    svc, recorder = told
    jobs = svc.jobs
    queued, sent = jobs.create_commands(admin, CommandRequest("ls"), computer_ids=computers[:2]).job_ids
    jobs.claim_for_delivery([computers[1]])
    info = jobs.cancel(admin, queued)
    assert info.status is JobStatus.CANCELLED and info.message == "cancelled by admin"
    assert info.finished_at is not None and recorder.cancelled == []
    assert recorder.finished == [queued]  # waiters on the queued job learn it ended
    jobs.cancel(admin, sent)
    assert recorder.cancelled == [(computers[1], sent)]
    assert recorder.finished == [queued]  # the delivered one ends when its agent says so
    with pytest.raises(NotFound):
        jobs.cancel(admin, 4242)
    with pytest.raises(NotFound):
        jobs.get(admin, 4242)


def test_job_changes_are_announced_per_batch_after_commit(
    runtime: Runtime, admin: Actor, computers: list[int], told: tuple[Services, Recorder]
) -> None:
    """``jobs_changed`` wakes the pages that show a batch live (the deployment page): progress,
    results and cancels each announce their batches once per transaction; stale notices none."""
    svc, recorder = told
    first = svc.jobs.create_commands(admin, CommandRequest("true"), computer_ids=computers[:2])
    second = svc.jobs.create_commands(admin, CommandRequest("true"), computer_ids=[computers[2]])
    (a, b), (c,) = first.job_ids, second.job_ids
    batch1, batch2 = svc.jobs.get(admin, a).batch_id, svc.jobs.get(admin, c).batch_id
    assert recorder.changed == []  # creating is not a change of a page already shown
    svc.jobs.record_updates(
        [
            (computers[0], m.JobUpdate(job_id=a, status="running", at=0.0)),
            (computers[1], m.JobUpdate(job_id=b, status="running", at=0.0)),
            (computers[2], m.JobUpdate(job_id=c, status="accepted", at=0.0)),
        ]
    )
    assert recorder.changed == [sorted([batch1, batch2])]
    svc.jobs.record_results([(computers[0], m.JobResult(job_id=a, status="succeeded", exit_code=0))])
    assert recorder.changed[-1] == [batch1]
    svc.jobs.record_results([(computers[0], m.JobResult(job_id=a, status="failed", exit_code=1))])
    assert len(recorder.changed) == 2  # already final: nothing stored, nothing to announce
    queued = svc.jobs.create_commands(admin, CommandRequest("true"), computer_ids=[computers[0]])
    svc.jobs.cancel(admin, queued.job_ids[0])  # queued: cancelled at once
    assert recorder.changed[-1] == [svc.jobs.get(admin, queued.job_ids[0]).batch_id]
