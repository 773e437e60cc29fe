"""A retried enrollment against the real server: the agent's first answer is lost (its
connection cut after it sent the enroll, while the server goes on and commits), and the retry
of the same attempt gets the same computer back, with a fresh key, without a second use of the
token; a different attempt id, or the same id with another token, is a new enrollment.
(Under heavy load an agent times out waiting for its answer: that broke 100-agent bench runs
with ``--uses 100``, the 100th agent finding its token used up by its own first try.)"""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.sync.client import connect

from fleetdeck.agent.config import AgentState
from fleetdeck.agent.enroll import EnrollmentRefusedError, enroll_once
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork
from tests.live_server import LiveServer

ATTEMPT = "a" * 32


def uses(runtime: Runtime, admin: Actor, token_id: int) -> int:
    return next(t.uses for t in runtime.services.enrollment.list_tokens(admin) if t.id == token_id)


def enroll_and_hang_up(live: LiveServer, token: str, attempt: str) -> None:
    """Send the enroll and cut the connection without reading the answer: the server has the
    request and commits it; the agent never learns its credentials."""
    with connect(live.ws_url) as ws:
        ws.send(m.encode(m.Enroll(token=token, hostname="pc-1", agent_version="1", attempt=attempt)))


def wait_for_use(runtime: Runtime, admin: Actor, token_id: int) -> None:
    """Until the server committed the enrollment whose answer was lost (a condition, not a time)."""
    deadline = time.monotonic() + 30
    while uses(runtime, admin, token_id) == 0:
        assert time.monotonic() < deadline, "the server never committed the first enrollment"
        time.sleep(0.05)


def welcomed(live: LiveServer, state: AgentState) -> int:
    """The computer the credentials log in as (they work: Hello is answered with Welcome)."""
    with connect(live.ws_url) as ws:
        ws.send(m.encode(m.Hello(uid=state.uid, key=state.key, agent_version="1")))
        welcome = m.decode_from_server(ws.recv(timeout=10))
    assert isinstance(welcome, m.Welcome), welcome
    return welcome.computer_id


def test_a_retry_after_a_lost_answer_uses_the_token_once(
    live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    new = runtime.services.enrollment.create_token(admin, max_uses=1)
    enroll_and_hang_up(live, new.token, ATTEMPT)
    wait_for_use(runtime, admin, new.info.id)

    # The real agent's retry: the token is used up, yet the same attempt gets its computer.
    state = asyncio.run(enroll_once(live.ws_url, new.token, None, ATTEMPT))
    assert uses(runtime, admin, new.info.id) == 1
    assert welcomed(live, state) == state.computer_id
    with UnitOfWork(runtime.db, readonly=True) as uow:
        rows = uow.session.query(Computer.id, Computer.uid, Computer.enroll_attempt_hash).all()
    assert [(cid, uid) for cid, uid, _ in rows] == [(state.computer_id, state.uid)]
    assert ATTEMPT not in (rows[0][2] or "")  # kept as a keyed hash only

    # A retry again (this answer lost too) still works, and only its newest key does.
    again = asyncio.run(enroll_once(live.ws_url, new.token, None, ATTEMPT))
    assert (again.computer_id, again.uid) == (state.computer_id, state.uid)
    assert again.key != state.key
    with connect(live.ws_url) as ws:
        ws.send(m.encode(m.Hello(uid=state.uid, key=state.key, agent_version="1")))
        error = m.decode_from_server(ws.recv(timeout=10))
    assert isinstance(error, m.Error) and error.code == "auth_failed"
    assert uses(runtime, admin, new.info.id) == 1

    # Another attempt id is another agent: the used-up token refuses it.
    with pytest.raises(EnrollmentRefusedError, match="used-up"):
        asyncio.run(enroll_once(live.ws_url, new.token, None, "b" * 32))
    # So is an older agent sending no attempt id.
    with pytest.raises(EnrollmentRefusedError, match="used-up"):
        asyncio.run(enroll_once(live.ws_url, new.token, None))


def test_another_attempt_or_token_is_a_new_enrollment(
    live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    svc = runtime.services.enrollment
    first = svc.create_token(admin, max_uses=3)
    one = asyncio.run(enroll_once(live.ws_url, first.token, None, ATTEMPT))
    two = asyncio.run(enroll_once(live.ws_url, first.token, None, "b" * 32))
    assert one.computer_id != two.computer_id
    assert uses(runtime, admin, first.info.id) == 2
    # The same attempt id with another token: bound to the token, so not a retry.
    other = svc.create_token(admin, max_uses=1)
    three = asyncio.run(enroll_once(live.ws_url, other.token, None, ATTEMPT))
    assert three.computer_id not in (one.computer_id, two.computer_id)
    assert uses(runtime, admin, other.info.id) == 1


def test_a_revoked_token_answers_no_retry(live: LiveServer, runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.enrollment
    new = svc.create_token(admin, max_uses=1)
    asyncio.run(enroll_once(live.ws_url, new.token, None, ATTEMPT))
    svc.revoke_token(admin, new.info.id)
    with pytest.raises(EnrollmentRefusedError, match="invalid, expired or used-up"):
        asyncio.run(enroll_once(live.ws_url, new.token, None, ATTEMPT))
