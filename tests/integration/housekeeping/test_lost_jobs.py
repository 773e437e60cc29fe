"""Jobs whose agent went away for good: ``JobService.fail_lost`` (housekeeping's ``jobs.lost``)
fails a delivered job of an offline computer once the job's timeout and the grace have passed,
and leaves alone what an agent may still report: jobs of connected computers, and jobs whose
time is not up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.computers.entities import Presence
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus
from fleetdeck.core.query import Query
from fleetdeck.protocol import messages as msg
from fleetdeck.storage.tables import Job
from fleetdeck.storage.uow import UnitOfWork

GRACE = timedelta(minutes=10)


def delivered(
    runtime: Runtime, admin: Actor, hostname: str, timeout_sec: int, age: timedelta
) -> tuple[int, int]:
    """A computer and its command job, handed to its agent ``age`` ago (and running since)."""
    services = runtime.services
    cid = services.computers.create(admin, hostname).id
    [job_id] = services.jobs.create_commands(
        admin, CommandRequest(command="sleep 1000", timeout_sec=timeout_sec), computer_ids=[cid]
    ).job_ids
    assert [spec.id for _, spec in services.jobs.claim_for_delivery([cid])] == [job_id]
    at = datetime.now(UTC) - age
    services.jobs.record_updates([(cid, msg.JobUpdate(job_id=job_id, status="running", at=at.timestamp()))])
    with UnitOfWork(runtime.db) as uow:
        uow.session.execute(update(Job).where(Job.id == job_id).values(sent_at=at))
    return cid, job_id


def test_a_delivered_job_of_a_computer_gone_past_timeout_and_grace_fails_as_lost_once(
    runtime: Runtime, admin: Actor
) -> None:
    jobs = runtime.services.jobs
    _gone, lost = delivered(runtime, admin, "gone", 60, GRACE + timedelta(seconds=90))
    _recent, waiting = delivered(runtime, admin, "recent", 60, GRACE + timedelta(seconds=30))  # within
    online, connected = delivered(runtime, admin, "online", 60, GRACE + timedelta(hours=1))
    runtime.services.computers.set_presence([Presence(online, "127.0.0.1", "1")], [], node_id="n1")

    assert jobs.fail_lost(GRACE) == 1
    job = jobs.get(admin, lost)
    assert (job.status, job.exit_code) == (JobStatus.FAILED, None)
    assert job.message.startswith("lost: the agent went offline while the job was running")
    assert job.started_at is not None and job.finished_at is not None
    assert {j: jobs.get(admin, j).status for j in (waiting, connected)} == {
        waiting: JobStatus.RUNNING,  # its agent may still stop it at its timeout and report
        connected: JobStatus.RUNNING,  # its agent is there and holds it
    }
    [entry] = [
        e for e in runtime.services.audit.find(admin, Query(limit=None)).items if e.action == "job.lost"
    ]
    assert entry.detail == {"job_ids": [lost]}

    assert jobs.fail_lost(GRACE) == 0  # ended once: nothing more to do
    late = msg.JobResult(job_id=lost, status="succeeded", exit_code=0, message="")
    assert jobs.record_results([(_gone, late)]) == [(_gone, lost)]  # acknowledged, so the agent forgets it
    assert jobs.get(admin, lost).status is JobStatus.FAILED  # and dropped


def test_a_job_still_within_its_grace_does_not_stop_the_sweep(runtime: Runtime, admin: Actor) -> None:
    """The sweep looks at every delivered job of an offline computer, whichever comes first."""
    _recent, waiting = delivered(runtime, admin, "recent", 60, GRACE + timedelta(seconds=30))
    _gone, lost = delivered(runtime, admin, "gone", 60, GRACE + timedelta(seconds=90))
    assert runtime.services.jobs.fail_lost(GRACE) == 1
    jobs = runtime.services.jobs
    assert (jobs.get(admin, waiting).status, jobs.get(admin, lost).status) == (
        JobStatus.RUNNING,
        JobStatus.FAILED,
    )
