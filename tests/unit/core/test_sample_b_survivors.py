"""Behaviour that the fresh whole-core mutation sample (docs/testing.md, "Mutation testing", seed
20261203) found no test of: which field a refusal names, what an agent's ping answer is read
into, a deployment job's output, the time a rule's re-evaluation stamps on new jobs, what the
audit log keeps of an uninstall, that a reconnecting agent leaves finished jobs alone, and that a
wait ends at its timeout. Each test reads back the effect, so it holds for any implementation
that behaves the same. (New test functions in a new file: mutmut traces only tests it has not
seen, see docs/testing.md.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus
from fleetdeck.core.ports import AgentAddress, NullGateway
from fleetdeck.core.services import CoreConfig, Services, build_services
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0


def test_a_control_character_is_refused_in_the_field_it_is_in(svc: Services, admin: Actor) -> None:
    """Dialects show ``field`` beside the input: the host name's error must name the host name
    (computers.create 33 named it "HOSTNAME")."""
    for hostname, fqdn, field in (("pc\x07", "", "hostname"), ("pc", "pc\x1b.example", "fqdn")):
        with pytest.raises(ValidationFailed) as err:
            svc.computers.create(admin, hostname, fqdn=fqdn)
        assert (err.value.field, err.value.message) == (field, f"{field} must not contain control characters")


class PingAnswers(NullGateway):
    """core's ``AgentGateway`` port with one connected agent that answers a ping with ``answer``."""

    def __init__(self, answer: Mapping[str, Any]) -> None:
        self.answer = dict(answer)

    def request(self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        return dict(self.answer)


def test_a_ping_reports_the_agents_clock_and_uptime(runtime: Runtime, admin: Actor) -> None:
    """The uptime shown is the one the agent sent (ping 39 read another key, so every answer
    became AgentFailed)."""
    cid = runtime.services.computers.create(admin, "pc").id
    runtime.services.computers.set_online(cid, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    agent_time = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    gateway = PingAnswers({"time": agent_time.timestamp(), "uptime": 3600.5})
    svc = build_services(runtime.db, SECRET, CoreConfig(), gateway=gateway)
    pong = svc.computers.ping(admin, cid, 5)
    assert (pong.computer_id, pong.agent_time, pong.uptime_sec) == (cid, agent_time, 3600.5)
    assert pong.round_trip_ms >= 0


def test_a_deployment_job_shows_the_output_its_agent_reported(svc: Services, admin: Actor) -> None:
    """What the package's installer printed is what an operator reads to see why it failed
    (containers.deployment_jobs 69 dropped ``stdout``)."""
    pc = factories.computer(svc, admin, "pc", os="Debian", os_version="12", architecture="x86_64")
    pkg = factories.package(svc, admin, "tool", "1")
    made = factories.deployment(svc, admin, [pc], [pkg.id])
    assert factories.deliver(svc, pc) == made.job_ids
    factories.finish(svc, pc, made.job_ids[0], "failed", 2, stdout="dpkg: error: disk full\n")
    (job,) = svc.deployments.container_jobs(admin, made.id)
    assert (job.status, job.exit_code, job.stdout) == (JobStatus.FAILED, 2, "dpkg: error: disk full\n")


def test_jobs_made_by_a_rule_update_are_stamped_with_its_time(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    """Pointing a rule at another computer group evaluates it at once; the new jobs carry the
    service clock's time, the same as the rule's ``updated_at`` (update_rule 72 evaluated
    without a time)."""
    pc = factories.computer(svc, admin, "pc", os="Debian", os_version="12", architecture="x86_64")
    empty, pcs = factories.group(svc, admin, "empty"), factories.group(svc, admin, "pcs", [pc])
    pkgs = factories.package_group(svc, admin, "base", [factories.package(svc, admin, "tool", "1").id])
    rule = svc.deployments.create_rule(admin, "r", empty, pkgs)
    assert svc.deployments.rule_jobs(admin, rule.id) == []
    clock.now = T0 + timedelta(hours=3)
    svc.deployments.update_rule(admin, rule.id, computer_group_id=pcs)
    (job,) = svc.deployments.rule_jobs(admin, rule.id)
    assert (job.computer_id, job.status, job.created_at) == (pc, JobStatus.QUEUED, T0 + timedelta(hours=3))
    assert svc.deployments.get_rule(admin, rule.id).updated_at == T0 + timedelta(hours=3)


def test_an_uninstall_is_audited_with_its_name_and_what_it_removes(svc: Services, admin: Actor) -> None:
    """The audit record is how an operator finds who removed what (uninstall 103 stored the
    name under another key)."""
    pc = svc.computers.create(admin, "pc").id
    pkg = factories.package(svc, admin, "tool", "1")
    inst = factories.installed(svc, admin, pc, pkg.id)
    mark = factories.audit_mark(svc)
    made = svc.deployments.uninstall(admin, "remove tool", installation_ids=[inst.id])
    ((result, obj_type, obj_id, detail),) = [
        (r.result, r.object_type, r.object_id, r.detail)
        for r in factories.audit_since(svc, mark)
        if r.action == "deployment.uninstall"
    ]
    assert (result, obj_type, obj_id) == ("ok", "job_batch", str(made.id))
    assert (detail["name"], detail["installations"], detail["jobs"]) == ("remove tool", [inst.id], 1)


def test_a_reconnecting_agent_leaves_finished_jobs_alone(svc: Services, admin: Actor) -> None:
    """On hello, jobs delivered but not held by the agent are queued again; finished ones are
    history and must stay as they ended (on_hello 30 dropped the status filter and queued the
    finished job again, so a command would run twice)."""
    pc = svc.computers.create(admin, "pc").id
    (done,) = factories.commands(svc, admin, [pc], "echo once")
    assert factories.deliver(svc, pc) == [done]
    factories.finish(svc, pc, done, "succeeded", 0, stdout="once\n")
    (lost,) = factories.commands(svc, admin, [pc], "echo again")
    assert factories.deliver(svc, pc) == [lost]
    assert svc.jobs.on_hello(pc, []) == []  # the agent holds nothing: `lost` goes back to the queue
    got = {j.id: (j.status, j.exit_code) for j in svc.jobs.wait(admin, [done, lost], 0)}
    assert got == {done: (JobStatus.SUCCEEDED, 0), lost: (JobStatus.QUEUED, None)}
    assert factories.deliver(svc, pc) == [lost]  # delivered again; the finished one is not


def test_a_wait_for_an_unfinished_job_ends_at_its_timeout(runtime: Runtime, admin: Actor) -> None:
    """With the real bus watch: a job nobody runs comes back as it is once the timeout passes
    (wait 39 passed no timeout on, and the wait failed instead of ending)."""
    cid = runtime.services.computers.create(admin, "pc").id
    (jid,) = runtime.services.jobs.create_commands(admin, CommandRequest("true"), computer_ids=[cid]).job_ids

    async def scenario() -> tuple[list[tuple[int, JobStatus]], float]:
        await runtime.bus.start()
        await runtime.watch.start()
        try:
            started = time.monotonic()
            got = await asyncio.wait_for(asyncio.to_thread(runtime.services.jobs.wait, admin, [jid], 0.3), 30)
            return [(j.id, j.status) for j in got], time.monotonic() - started
        finally:
            await runtime.watch.close()
            await runtime.bus.close()

    got, took = asyncio.run(scenario())
    assert got == [(jid, JobStatus.QUEUED)]
    assert took >= 0.25  # it did wait (the 30 s above is a guard against hanging, not a timing)
