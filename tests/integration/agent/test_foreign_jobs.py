"""An agent naming another computer's job: a real server (uvicorn as ``fleetdeck server`` runs it),
real WebSocket clients speaking the agent protocol as computers A and B, and a real viewer on
B's job stream. Whatever A sends about B's job (output, progress, a result) is refused: A's
connection ends with ``Error(forbidden)`` and 1008, the attempt is audited, and neither B's job
nor its viewers see any of it; B's own frames still go through."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.enrollment.service import AgentCredentials
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.protocol import messages as m
from tests.live_server import LiveServer

from .test_endpoint import POLICY_VIOLATION, hello, refusal


def enroll(runtime: Runtime, admin: Actor, name: str) -> AgentCredentials:
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    return runtime.services.enrollment.enroll(
        token.token, hostname=name, machine_id=f"machine-{name}", agent_version="1", source="127.0.0.1"
    )


@contextlib.contextmanager
def agent(live: LiveServer, creds: AgentCredentials) -> Iterator[ClientConnection]:
    """A connected, welcomed agent."""
    with connect(live.ws_url) as ws:
        ws.send(hello(creds))
        assert isinstance(m.decode_from_server(ws.recv(timeout=10)), m.Welcome)
        yield ws


def next_of(ws: ClientConnection, kind: type[Any]) -> Any:
    """The next frame of ``kind`` (Welcome-time extras such as JobRun may come first)."""
    while True:
        msg = m.decode_from_server(ws.recv(timeout=10))
        if isinstance(msg, kind):
            return msg


@pytest.fixture
def b_job(live: LiveServer, runtime: Runtime, admin: Actor) -> Iterator[tuple[ClientConnection, int, int]]:
    """Computer B, connected, with a command job it has received: (B's socket, B's id, job id)."""
    b = enroll(runtime, admin, "pc-b")
    created = runtime.services.jobs.create_commands(
        admin, CommandRequest("sleep 60"), computer_ids=[b.computer_id]
    )
    job_id = created.job_ids[0]
    with agent(live, b) as ws:
        run = next_of(ws, m.JobRun)
        assert run.job.id == job_id
        yield ws, b.computer_id, job_id


@contextlib.contextmanager
def viewer(live: LiveServer, job_id: int) -> Iterator[ClientConnection]:
    """An admin watching the job's live stream, past its first message."""
    auth = base64.b64encode(b"admin:admin-password-1").decode()
    url = f"ws://127.0.0.1:{live.port}/api/v1/jobs/{job_id}/stream"
    with connect(url, additional_headers={"Authorization": f"Basic {auth}"}) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "job" and first["job"]["status"] == "sent"
        yield ws


def forged(job_id: int) -> list[m.Message]:
    return [
        m.JobOutput(job_id=job_id, stream="stdout", seq=1, data="forged output"),
        m.JobUpdate(job_id=job_id, status="running", at=time.time(), phase="download", progress=50),
        m.JobResult(job_id=job_id, status="succeeded", exit_code=0, stdout="forged result"),
    ]


def test_frames_for_another_computers_job_never_reach_it(
    live: LiveServer,
    runtime: Runtime,
    admin: Actor,
    b_job: tuple[ClientConnection, int, int],
) -> None:
    b_ws, b_id, job_id = b_job
    a = enroll(runtime, admin, "pc-a")
    with viewer(live, job_id) as watching:
        for frame in forged(job_id):
            with agent(live, a) as a_ws:
                a_ws.send(m.encode(frame))
                error, code = refusal(a_ws)
            assert (error.code, code) == ("forbidden", POLICY_VIOLATION)
            assert f"job {job_id}" in error.message
        # B's own output still reaches the viewer, and is the first thing the viewer sees: none of
        # A's frames got there before it.
        b_ws.send(m.encode(m.JobOutput(job_id=job_id, stream="stdout", seq=1, data="genuine output")))
        out = json.loads(watching.recv(timeout=10))
        assert out == {"type": "output", "stream": "stdout", "data": "genuine output"}
    job = runtime.services.jobs.get(admin, job_id)
    assert (job.status, job.stdout, job.exit_code, job.started_at, job.finished_at) == (
        "sent",
        "",
        None,
        None,
        None,
    )
    # Each attempt is a security event in the audit log, naming both computers.
    denied = runtime.services.audit.find(
        admin, Query(where=(Cond("action", Op.EQ, "agent.foreign_job"),))
    ).items
    assert [(r.result, r.object_id, r.username) for r in denied] == [
        ("denied", str(job_id), "agent:pc-a")
    ] * 3
    assert [r.detail["frame"] for r in reversed(denied)] == ["job_output", "job_update", "job_result"]
    assert {(r.detail["computer_id"], r.detail["job_computer_id"]) for r in denied} == {(a.computer_id, b_id)}
    # B's own result is stored and acknowledged as ever.
    b_ws.send(m.encode(m.JobResult(job_id=job_id, status="succeeded", exit_code=0, stdout="genuine result")))
    assert next_of(b_ws, m.ResultAck).job_ids == [job_id]
    done = runtime.services.jobs.get(admin, job_id)
    assert (done.status, done.stdout) == ("succeeded", "genuine result")


def test_frames_for_a_job_that_does_not_exist_are_not_an_attack(
    live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    """A stale id in an agent's journal (the job was deleted) is not another computer's job: the
    output is dropped, the result acknowledged so the agent forgets it, the connection stays."""
    a = enroll(runtime, admin, "pc-a")
    with agent(live, a) as ws:
        ws.send(m.encode(m.JobOutput(job_id=999_999, stream="stdout", seq=1, data="x")))
        ws.send(m.encode(m.JobResult(job_id=999_999, status="succeeded", exit_code=0)))
        assert next_of(ws, m.ResultAck).job_ids == [999_999]
    denied = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "agent.foreign_job"),)))
    assert denied.total == 0
