"""Core's side of asking agents and waiting for jobs, up to the ports: validation,
permissions, and the answers that need no agent (unknown, not connected)."""

from __future__ import annotations

import time

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AgentUnreachable, NotFound, ValidationFailed
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus


def test_ping_and_probe_without_a_connected_agent(runtime: Runtime, admin: Actor) -> None:
    computers = runtime.services.computers
    cid = computers.create(admin, "pc-1").id
    started = time.monotonic()
    with pytest.raises(AgentUnreachable):
        computers.ping(admin, cid, 60)  # offline: no waiting for the timeout
    assert computers.probe(admin, [cid], 60) == {cid: False}
    assert time.monotonic() - started < 30  # (a guard against waiting, not a performance figure)
    with pytest.raises(NotFound):
        computers.ping(admin, cid + 1, 5)
    with pytest.raises(NotFound):
        computers.probe(admin, [cid, cid + 1], 5)
    for bad in (0, -1, 301):
        with pytest.raises(ValidationFailed):
            computers.ping(admin, cid, bad)
    viewer = Actor(user_id=None, username="v", role=Role.VIEWER)
    assert computers.probe(viewer, [cid], 5) == {cid: False}  # reading presence is enough


def test_jobs_wait_checks_before_waiting(runtime: Runtime, admin: Actor) -> None:
    jobs = runtime.services.jobs
    cid = runtime.services.computers.create(admin, "pc-1").id
    (jid,) = jobs.create_commands(admin, CommandRequest(command="true"), computer_ids=[cid]).job_ids
    with pytest.raises(NotFound):
        jobs.wait(admin, [jid, jid + 1], 60)
    with pytest.raises(ValidationFailed):
        jobs.wait(admin, [jid], -1)
    with pytest.raises(ValidationFailed):
        jobs.wait(admin, [jid], 3 * 3600)
    # No waiting asked for: the jobs as they are (the watch is not even running here).
    assert [(j.id, j.status) for j in jobs.wait(admin, [jid, jid], 0)] == [(jid, JobStatus.QUEUED)]
    assert jobs.final_among(admin, [jid, jid + 99]) == {jid + 99}  # gone counts as done
