"""The real ``fleetdeck-agent`` process: CLI enrollment, SIGTERM, restart. (Its memory footprint is
measured by ``bench/agent_rss.py``, not asserted here.)"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import psutil
from websockets.asyncio.server import serve

from fleetdeck.agent.jobs import STOPPED_MESSAGE
from fleetdeck.protocol import messages as m
from tests.waiting import async_wait_for

from .fakeserver import FakeServer


def _cmd(job_id: int, command: str) -> m.JobRun:
    return m.JobRun(job=m.JobSpec(id=job_id, kind="command", command=m.CommandSpec(command=command)))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _spawn(args: list[str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fleetdeck.agent",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


async def _scenario(tmp_path: Path) -> None:
    server = FakeServer()
    state_dir = tmp_path / "state"
    log = tmp_path / "agent.log"
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        base = ["--state-dir", str(state_dir), "--reconnect-min", "0.1", "--reconnect-max", "0.5"]
        proc = await _spawn([*base, "--server", f"http://127.0.0.1:{port}", "--enroll-token", "tok"], log)

        c = await server.next()
        assert (await c.expect(m.Enroll)).token == "tok"
        await c.send(m.Enrolled(computer_id=5, uid="u5", key="k5"))
        c = await server.next()
        assert (await c.expect(m.Hello)).uid == "u5"
        await c.send(m.Welcome(computer_id=5, heartbeat_sec=30, server_version="t", want_inventory=True))
        report = await c.expect(m.InventoryReport)
        assert report.data.ram_bytes == psutil.virtual_memory().total  # the real inventory
        for job_id in range(1, 6):
            await c.send(_cmd(job_id, f"seq 1 {job_id * 1000}; uname -a"))
            _, result = await c.recv_until(m.JobResult)
            assert result.status == "succeeded"
        await c.send(m.ResultAck(job_ids=[1, 2, 3, 4, 5]))

        # SIGTERM while a job runs: the tree is killed, the socket closed cleanly, exit 0.
        await c.send(_cmd(6, f"echo $$ > {tmp_path / 'pid'}; exec sleep 30"))
        _, running = await c.recv_until(m.JobUpdate)
        assert running.status == "running"  # still running after a moment
        await async_wait_for((tmp_path / "pid").exists, what="the job's shell to write its pid")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 8) == 0
        await c.ws.wait_closed()
        assert c.ws.close_code == 1001
        assert _gone(int((tmp_path / "pid").read_text()))

        # Restart with only the state dir (a stale token is ignored): the interrupted job is
        # announced and reported, never re-run.
        proc = await _spawn([*base, "--enroll-token", "stale"], log)
        c = await server.next()
        hello = await c.expect(m.Hello)
        assert hello.known_jobs == [6]
        assert hello.inventory_digest == report.digest
        await c.send(m.Welcome(computer_id=5, heartbeat_sec=30, server_version="t", want_inventory=False))
        result = await c.expect(m.JobResult)
        assert (result.job_id, result.status, result.message) == (6, "failed", STOPPED_MESSAGE)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 8) == 0
    assert "ignoring --enroll-token" in log.read_text()


def test_agent_process_lifecycle(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


async def _enroll_only(tmp_path: Path) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        args = ["--state-dir", str(tmp_path / "s"), "--server", f"http://127.0.0.1:{port}"]
        proc = await _spawn([*args, "--enroll-token", "bad", "--enroll-only"], tmp_path / "log")
        c = await server.next()
        refused = await c.expect(m.Enroll)
        await c.send(m.Error(code="invalid_token", message="token expired"))
        assert await asyncio.wait_for(proc.wait(), 8) == 1  # refused: no retry loop
        assert not (tmp_path / "s" / "state.json").exists()
        # The attempt id was kept on disk before the first try (the server binds it to the token).
        assert len(refused.attempt) == 32
        assert (tmp_path / "s" / "enroll-attempt").read_text().strip() == refused.attempt

        # A journal left by an earlier enrollment names another computer's jobs: set aside.
        (tmp_path / "s" / "jobs.jsonl").write_text('{"type":"ack","ids":[41]}\n')
        proc = await _spawn(
            [*args, "--enroll-token", "good", "--enroll-only", "--reconnect-min", "0.1"], tmp_path / "log"
        )
        c = await server.next()
        enroll = await c.expect(m.Enroll)
        assert "00:00:00:00:00:00" not in enroll.macs  # hardware facts: no loopback
        # The answer is lost (the connection cut): the retry is the same attempt.
        await c.ws.close()
        c = await server.next()
        retry = await c.expect(m.Enroll)
        assert retry.attempt == enroll.attempt == refused.attempt
        await c.send(m.Enrolled(computer_id=9, uid="u9", key="k9"))
        assert await asyncio.wait_for(proc.wait(), 8) == 0
        assert not (tmp_path / "s" / "enroll-attempt").exists()  # enrolled: the next one is new
        assert not (tmp_path / "s" / "jobs.jsonl").exists()
        assert "41" in (tmp_path / "s" / "jobs.jsonl.before-enroll").read_text()

        # Its credentials rejected later (deleted, or re-enrolled elsewhere): it says why, exits 3.
        proc = await _spawn(["--state-dir", str(tmp_path / "s")], tmp_path / "log")
        c = await server.next()
        await c.expect(m.Hello)
        await c.send(m.Error(code="auth_failed", message="unknown agent or wrong key"))
        assert await asyncio.wait_for(proc.wait(), 8) == 3
        assert server.queue.empty()  # no retry
    state = json.loads((tmp_path / "s" / "state.json").read_text())
    assert (state["uid"], state["key"], state["computer_id"]) == ("u9", "k9", 9)
    assert state["server"] == f"ws://127.0.0.1:{port}/agent/v1/ws"
    log = (tmp_path / "log").read_text()
    assert "token expired" in log
    assert "rejected this agent's credentials (unknown agent or wrong key)" in log
    assert "delete " + str(tmp_path / "s" / "state.json") in log


def test_enroll_only_and_refused_enrollment(tmp_path: Path) -> None:
    asyncio.run(_enroll_only(tmp_path))


async def _sigterm_while_enrolling(tmp_path: Path) -> None:
    server = FakeServer()
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        args = ["--state-dir", str(tmp_path), "--server", f"http://127.0.0.1:{port}", "--enroll-token", "t"]
        proc = await _spawn(args, tmp_path / "log")
        c = await server.next()
        await c.expect(m.Enroll)  # ... and the server never answers
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        assert not (tmp_path / "state.json").exists()


def test_sigterm_while_enrolling(tmp_path: Path) -> None:
    asyncio.run(_sigterm_while_enrolling(tmp_path))
