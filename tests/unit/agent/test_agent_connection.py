"""The connection loop end to end against a fake protocol server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.asyncio.server import serve

from fleetdeck.agent.backoff import Backoff
from fleetdeck.agent.config import StateStore
from fleetdeck.agent.connection import Agent
from fleetdeck.agent.enroll import enroll
from fleetdeck.protocol import messages as m

from .fakeserver import FakeServer

INVENTORY = m.Inventory(hostname="test-host", os_family="linux")


def job(job_id: int, command: str) -> m.JobSpec:
    return m.JobSpec(id=job_id, kind="command", command=m.CommandSpec(command=command))


def welcome(want_inventory: bool = True) -> m.Welcome:
    return m.Welcome(computer_id=7, heartbeat_sec=1, server_version="test", want_inventory=want_inventory)


async def _enroll_and_serve(tmp_path: Path) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/agent/v1/ws"
        stop = asyncio.Event()

        # ---- enrollment: one connection, enroll -> enrolled
        enrolling = asyncio.create_task(enroll(url, "tok-1", None, Backoff(0.05, 0.2), stop))
        c = await server.next()
        req = await c.expect(m.Enroll)
        assert req.token == "tok-1"
        assert req.hostname
        await c.send(m.Enrolled(computer_id=7, uid="uid-7", key="key-7"))
        state = await enrolling
        assert state is not None
        assert (state.uid, state.key, state.computer_id, state.server) == ("uid-7", "key-7", 7, url)
        assert state.fingerprint is None  # plain ws: nothing to pin
        store = StateStore(tmp_path)
        store.save(state)

        agent = Agent(
            store, state, reconnect_min=0.05, reconnect_max=0.2, collect=lambda: INVENTORY, stop=stop
        )
        running = asyncio.create_task(agent.run())

        # ---- first session: hello, inventory, a job, heartbeat, ack, bye
        c = await server.next()
        hello = await c.expect(m.Hello)
        assert (hello.uid, hello.key, hello.known_jobs, hello.inventory_digest) == ("uid-7", "key-7", [], "")
        await c.send(welcome())
        report = await c.expect(m.InventoryReport)
        assert report.data == INVENTORY
        assert report.digest == m.inventory_digest(INVENTORY)
        await c.send(m.JobRun(job=job(41, "echo hi")))
        before, result = await c.recv_until(m.JobResult)
        assert (result.job_id, result.status, result.stdout) == (41, "succeeded", "hi\n")
        assert [x for x in before if isinstance(x, m.JobUpdate)] == []  # done at once: result only
        assert any(isinstance(x, m.JobOutput) and x.data == "hi\n" for x in before)
        await c.recv_until(m.Heartbeat)  # heartbeat_sec=1
        await c.send(m.ResultAck(job_ids=[41]))
        await c.send(m.Bye(reason="restart", reconnect_within=0.2))
        assert await c.frames_until_closed() in ([], [m.encode(m.Heartbeat()).decode()])

        # ---- second session: acked job is forgotten, redelivery ignored, no inventory resend
        c = await server.next()
        hello = await c.expect(m.Hello)
        assert hello.known_jobs == []
        assert hello.inventory_digest == report.digest
        await c.send(welcome(want_inventory=False))
        await c.send(m.JobRun(job=job(41, "echo again")))  # already done and acked: must not run
        await c.send(m.JobRun(job=job(42, "echo two")))
        before, result = await c.recv_until(m.JobResult)
        assert result.job_id == 42
        assert all(getattr(x, "job_id", 42) == 42 for x in before), before
        assert not any(isinstance(x, m.InventoryReport) for x in before)
        await c.ws.close()  # connection lost before the result was acknowledged

        # ---- third session: the unacknowledged result is announced and resent
        c = await server.next()
        hello = await c.expect(m.Hello)
        assert hello.known_jobs == [42]
        await c.send(welcome(want_inventory=False))
        resent = await c.expect(m.JobResult)
        assert (resent.job_id, resent.stdout) == (42, "two\n")

        # ---- stop: the agent closes the websocket cleanly
        stop.set()
        await asyncio.wait_for(running, 5)
        await c.ws.wait_closed()
        assert c.ws.close_code == 1001
        assert agent.connections == 3


def test_enroll_then_serve_end_to_end(tmp_path: Path) -> None:
    asyncio.run(_enroll_and_serve(tmp_path))


async def _refused_then_auth_failed(tmp_path: Path) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/agent/v1/ws"
        from fleetdeck.agent.config import AgentState

        state = AgentState(server=url, uid="u", key="bad", computer_id=1)
        stop = asyncio.Event()
        agent = Agent(StateStore(tmp_path), state, reconnect_min=0.05, reconnect_max=0.3, stop=stop)
        agent.backoff = Backoff(0.05, 0.3, lambda a, b: b)
        running = asyncio.create_task(agent.run())
        c = await server.next()
        await c.expect(m.Hello)
        await c.send(m.Error(code="auth_failed", message="unknown agent"))
        # Retrying cannot help: the agent stops by itself and says why.
        await asyncio.wait_for(running, 5)
        assert agent.rejected == "unknown agent"
        assert server.queue.empty()  # it did not come back


def test_auth_failure_stops_the_agent(tmp_path: Path) -> None:
    asyncio.run(_refused_then_auth_failed(tmp_path))


def test_control_messages_set_the_delay(tmp_path: Path) -> None:
    from fleetdeck.agent.config import AgentState

    agent = Agent(
        StateStore(tmp_path), AgentState(server="ws://127.0.0.1:1", uid="u", key="k", computer_id=1)
    )
    agent.backoff = Backoff(1.0, 60.0, lambda a, b: b)
    assert agent._handle_control(m.Bye(reconnect_within=30)) == 30
    assert agent._handle_control(m.Error(code="busy", message="x", retry_after=45)) == 45
    assert agent._handle_control(m.Error(code="auth_failed", message="x")) is None  # and it stops
    assert agent.rejected == "x"
    assert agent._handle_control(m.Error(code="busy", message="x")) is None  # ordinary backoff


async def _busy_server(tmp_path: Path) -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from fleetdeck.agent.config import AgentState

    server = FakeServer()
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    def busy_once(conn: ServerConnection, request: Request) -> Response | None:
        attempts.append(loop.time())
        if len(attempts) == 1:
            response = conn.respond(503, "starting up\n")
            response.headers["Retry-After"] = "1"
            return response
        return None

    async with serve(server.handler, "127.0.0.1", 0, process_request=busy_once) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
        stop = asyncio.Event()
        state = AgentState(server=url, uid="u", key="k", computer_id=1)
        agent = Agent(StateStore(tmp_path), state, collect=lambda: INVENTORY, stop=stop)
        agent.backoff = Backoff(0.05, 0.1, lambda a, b: a)
        running = asyncio.create_task(agent.run())
        c = await server.next()
        await c.expect(m.Hello)
        assert attempts[1] - attempts[0] >= 0.95  # Retry-After honoured over the 0.05 s backoff
        stop.set()
        await asyncio.wait_for(running, 5)


def test_http_503_retry_after_is_honoured(tmp_path: Path) -> None:
    asyncio.run(_busy_server(tmp_path))


async def _unavailable_then_enrolled() -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws"
        stop = asyncio.Event()
        task = asyncio.create_task(
            enroll(url, "tok", None, Backoff(0.05, 0.1, lambda a, b: a), stop, attempt="att")
        )
        c = await server.next()
        first = await c.expect(m.Enroll)
        # The server could not serve it now (e.g. the same attempt racing itself): not a refusal.
        await c.send(m.Error(code="unavailable", message="try again later", retry_after=0.1))
        c = await server.next()
        second = await c.expect(m.Enroll)
        assert first.attempt == second.attempt == "att"
        await c.send(m.Enrolled(computer_id=4, uid="u4", key="k4"))
        state = await asyncio.wait_for(task, 5)
        assert state is not None and (state.computer_id, state.uid, state.key) == (4, "u4", "k4")


def test_an_unavailable_server_is_asked_again_with_the_same_attempt() -> None:
    asyncio.run(_unavailable_then_enrolled())
