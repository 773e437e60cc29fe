"""The polling agents' service in core (``PollingAgentService``, the OCO agent's server side),
called directly: registration and its refusals, signatures and replayed timestamps, what a poll
records about the machine, when an inventory is due, and a package job's progress and end.
The OCO dialect tests cover the same through HTTP; these are the ones the mutation subset runs
(docs/testing.md, "Mutation testing": core's polling had no test there)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fleetdeck.core.authz import Actor
from fleetdeck.core.computers.entities import capabilities
from fleetdeck.core.errors import (
    AgentIncapable,
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.polling.service import (
    HelloAnswer,
    JobReport,
    PollFacts,
    Registration,
    SignedRequest,
    sign,
)
from fleetdeck.core.query import Query
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

REG = Registration(enabled=True, key="registration-key")


class Agent:
    """A polling agent as the transport hands it to core: a JSON body with its host name and an
    increasing timestamp, signed with the key it holds."""

    def __init__(self, svc: Services, hostname: str, key: str = REG.key) -> None:
        self.svc, self.hostname, self.key, self.ts = svc, hostname, key, 1000

    def request(self, *, ts: object = None, key: str | None = None, signed: bool = True) -> SignedRequest:
        if ts is None:
            self.ts += 1
            ts = self.ts
        body = json.dumps({"hostname": self.hostname, "timestamp": ts}).encode()
        signature = sign(key if key is not None else self.key, body) if signed else None
        return SignedRequest(self.hostname, ts, body, signature, source="10.1.2.3")

    def hello(self, facts: PollFacts | None = None, registration: Registration = REG) -> HelloAnswer:
        answer = self.svc.polling.hello(self.request(), registration, facts or PollFacts())
        if answer.new_agent_key:
            self.key = answer.new_agent_key
        return answer


def _refusal(svc: Services, mark: int) -> tuple[str, str, object]:
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "agent.authenticate"]
    return (row.result, row.detail.get("reason", ""), row.detail.get("hostname"))


def test_an_unknown_host_registers_only_when_allowed_and_signed_with_the_registration_key(
    svc: Services, admin: Actor
) -> None:
    agent = Agent(svc, "oco-1")
    cases = [
        (Registration(), agent.request(), "Client self-registration is disabled"),
        (REG, agent.request(signed=False), "Signature header missing"),
        (REG, agent.request(key="another-key"), "Invalid agent signature"),
        (REG, agent.request(ts="yesterday"), "Agent timestamp too old"),
    ]
    for registration, req, reason in cases:
        mark = factories.audit_mark(svc)
        with pytest.raises(AuthenticationFailed) as err:
            svc.polling.hello(req, registration, PollFacts())
        assert err.value.message == reason
        assert _refusal(svc, mark) == ("denied", reason, "oco-1")
    assert svc.computers.find(admin, Query()).items == []  # nothing registered
    with pytest.raises(ValidationFailed) as missing:
        svc.polling.hello(Agent(svc, "  ").request(), REG, PollFacts())
    assert missing.value.field == "hostname"

    mark = factories.audit_mark(svc)
    first = agent.hello()
    assert first.registered and first.inventory_due
    assert first.new_agent_key and first.new_server_key == first.server_key
    assert len(first.new_agent_key) == 32 and first.new_agent_key != first.server_key
    [reg] = [r for r in factories.audit_since(svc, mark) if r.action == "agent.register"]
    assert (reg.object_id, reg.detail["hostname"], reg.detail["pre_registered"]) == (
        str(first.computer_id),
        "oco-1",
        False,
    )
    detail = svc.computers.get(admin, first.computer_id)
    assert (detail.summary.hostname, detail.created_by, detail.summary.enrolled) == (
        "oco-1",
        "self-registration",
        True,
    )

    again = agent.hello()  # now signed with its own key
    assert (again.computer_id, again.server_key, again.registered) == (
        first.computer_id,
        first.server_key,
        False,
    )
    assert again.new_agent_key is None and again.new_server_key is None
    with pytest.raises(AuthenticationFailed, match="Invalid agent signature"):
        svc.polling.hello(agent.request(key=REG.key), REG, PollFacts())  # the registration key no more


def test_a_replayed_or_older_request_is_refused_and_a_numeric_text_timestamp_counts(
    svc: Services, admin: Actor
) -> None:
    agent = Agent(svc, "oco-2")
    cid = agent.hello().computer_id
    replay = agent.request(ts=agent.ts)
    for req in (
        replay,
        agent.request(ts=agent.ts - 5),
        agent.request(ts=True),
        agent.request(ts=float("nan")),
    ):
        with pytest.raises(AuthenticationFailed, match="Agent timestamp too old"):
            svc.polling.seen(req)
    assert svc.polling.seen(agent.request(ts=f" {agent.ts + 10} ")).computer_id == cid
    with pytest.raises(AuthenticationFailed, match="Agent timestamp too old"):
        svc.polling.seen(agent.request(ts=str(agent.ts + 10)))
    with pytest.raises(AuthenticationFailed, match="Computer not found"):
        svc.polling.seen(Agent(svc, "nobody").request())


def test_a_pre_registered_computer_proves_itself_once_with_the_registration_key(
    svc: Services, admin: Actor
) -> None:
    cid = factories.computer(svc, admin, "Desk-7")
    agent = Agent(svc, "desk-7")  # names match regardless of case
    mark = factories.audit_mark(svc)
    first = agent.hello(registration=Registration(enabled=False, key=REG.key))
    assert (first.computer_id, first.registered) == (cid, True)
    assert first.new_agent_key and first.new_server_key
    [reg] = [r for r in factories.audit_since(svc, mark) if r.action == "agent.register"]
    assert (reg.object_id, reg.detail["pre_registered"], reg.detail["agent_kind"]) == (
        str(cid),
        True,
        "polling",
    )
    assert agent.hello().registered is False


def test_a_poll_records_the_machine_and_asks_for_an_inventory_when_due(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    agent = Agent(svc, "oco-3")
    cid = agent.hello(PollFacts(agent_version="1.2.3", uptime_sec=3600)).computer_id
    detail = svc.computers.get(admin, cid)
    assert (detail.summary.agent_version, detail.summary.remote_address) == ("1.2.3", "10.1.2.3")
    assert detail.summary.last_seen == T0
    assert detail.boot_time == T0 - timedelta(hours=1)
    agent.hello(PollFacts(uptime_sec=-1))  # nonsense uptime: the boot time stays
    assert svc.computers.get(admin, cid).boot_time == T0 - timedelta(hours=1)
    assert svc.computers.get(admin, cid).summary.agent_version == "1.2.3"  # no version: kept

    inv = m.Inventory(hostname="oco-3", os="Windows", os_version="11")
    mark = factories.audit_mark(svc)
    assert svc.polling.inventory(agent.request(), inv).computer_id == cid
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "computer.inventory"]
    assert (row.object_id, row.username) == (str(cid), "agent:oco-3")
    assert svc.computers.get(admin, cid).summary.os == "Windows"
    assert agent.hello().inventory_due is False
    assert agent.hello(PollFacts(inventory_wanted=True)).inventory_due is True
    clock.now = T0 + timedelta(hours=2)
    assert agent.hello().inventory_due is False  # exactly two hours: not yet
    clock.now = T0 + timedelta(hours=2, seconds=1)
    assert agent.hello().inventory_due is True
    assert svc.computers.get(admin, cid).summary.last_seen == clock.now


def test_a_package_job_reports_progress_and_its_end_judged_by_the_success_codes(
    svc: Services, admin: Actor
) -> None:
    agent = Agent(svc, "oco-4")
    cid = agent.hello().computer_id
    ok = factories.package(svc, admin, "good", payload=factories.zip_payload(**{"a.txt": b"a"}))
    bad = factories.package(svc, admin, "bad", install_success_codes="0")
    factories.deployment(svc, admin, [cid], [ok.id])
    factories.deployment(svc, admin, [cid], [bad.id])
    jobs = agent.hello().jobs
    assert [j.kind for j in jobs] == ["package_install", "package_install"]
    good_job, bad_job = jobs[0].id, jobs[1].id

    with pytest.raises(NotFound):
        svc.polling.payload(agent.request(), "not a number")
    assert svc.polling.payload(agent.request(), str(ok.id)).payload is not None

    def report(job: int, phase: str, **kw: object) -> JobStatus:
        return svc.polling.job_state(agent.request(), JobReport(job, phase, **kw)).status  # type: ignore[arg-type]

    assert report(good_job, "download", progress=50.7) == JobStatus.RUNNING
    assert report(good_job, "download", progress=150) == JobStatus.RUNNING  # unpacking
    assert report(good_job, "execute", output="step 1\n") == JobStatus.RUNNING
    assert svc.jobs.get(admin, good_job).stdout == "step 1\n"
    answer = svc.polling.job_state(
        agent.request(), JobReport(good_job, "done", exit_code=0, output="all done")
    )
    assert answer.succeeded and answer.computer_id == cid
    info = svc.jobs.get(admin, good_job)
    assert (info.status, info.exit_code, info.stdout, info.message) == (
        JobStatus.SUCCEEDED,
        0,
        "all done",
        "",
    )

    answer = svc.polling.job_state(
        agent.request(), JobReport(bad_job, "done", exit_code=3, output="copying\nno space left\n")
    )
    assert not answer.succeeded and answer.status == JobStatus.FAILED
    assert svc.jobs.get(admin, bad_job).exit_code == 3
    assert report(bad_job, "execute", output="late") == JobStatus.FAILED  # a finished job stays
    assert svc.jobs.get(admin, bad_job).stdout == "copying\nno space left\n"
    with pytest.raises(NotFound):
        report(10**9, "execute")


def test_a_failure_says_its_last_line_and_another_computers_job_is_refused(
    svc: Services, admin: Actor
) -> None:
    agent, other = Agent(svc, "oco-5"), Agent(svc, "oco-6")
    cid = agent.hello().computer_id
    other.hello()
    pkg = factories.package(svc, admin, "tool")
    factories.deployment(svc, admin, [cid], [pkg.id])
    [job] = agent.hello().jobs
    with pytest.raises(PermissionDenied):
        svc.polling.job_state(other.request(), JobReport(job.id, "execute", output="mine now"))
    answer = svc.polling.job_state(agent.request(), JobReport(job.id, "failed", exit_code=1, output="a\nb\n"))
    assert answer.status == JobStatus.FAILED
    assert svc.jobs.get(admin, job.id).message == "b"


def test_a_poll_hands_over_package_jobs_only(svc: Services, admin: Actor) -> None:
    """A command sent to the computer before a polling agent took it over is not for that agent
    (it cannot run commands): a poll lists the computer's open package jobs and nothing else."""
    cid = factories.computer(svc, admin, "desk-8")
    (command,) = factories.commands(svc, admin, [cid], "whoami")
    assert factories.deliver(svc, cid) == [command]  # sent, so the takeover leaves it alone
    agent = Agent(svc, "desk-8")
    assert agent.hello().jobs == []
    made = factories.deployment(svc, admin, [cid], [factories.package(svc, admin, "tool").id])
    assert [(j.id, j.kind) for j in agent.hello().jobs] == [(made.job_ids[0], "package_install")]


def test_a_command_for_a_polling_computer_is_refused_naming_what_its_agent_can_do(
    svc: Services, admin: Actor
) -> None:
    """``incapable`` had no test in the subset: the refusal names the computer, its agent kind
    and its capabilities, in the message and the detail."""
    cid = Agent(svc, "oco-7").hello().computer_id
    with pytest.raises(AgentIncapable) as err:
        factories.commands(svc, admin, [cid], "whoami")
    can = list(capabilities("polling"))
    assert err.value.message == (
        f"computer {cid} (oco-7) is managed by a polling agent, which cannot run commands;"
        f" it can do: {', '.join(can)}"
    )
    assert err.value.detail == {"computer_id": cid, "agent_kind": "polling", "capabilities": can}


def test_a_payload_asked_for_by_an_id_no_package_can_have_is_not_found(svc: Services, admin: Actor) -> None:
    """Package ids are positive 64-bit integers: anything else the agent sends (zero, negative,
    2**63 and beyond, true, text) is "package ... not found" before the database is asked, and
    the largest id is looked up as any other (_number 12 let 2**63 through, which SQLite cannot
    bind: an OverflowError instead of the refusal)."""
    agent = Agent(svc, "oco-9")
    agent.hello()
    for value in (0, "-1", 2**63, str(2**63), 2**64, True, " ", 2**63 - 1, str(2**63 - 1)):
        with pytest.raises(NotFound) as err:
            svc.polling.payload(agent.request(), value)
        assert err.value.message == f"package {value} not found"
