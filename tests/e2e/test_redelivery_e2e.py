"""End to end, exactly once across the failures in between: a package job that waits through a
server restart, and a job message the server sent but the agent never read."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import AgentProc, ServerProc, wait_for
from tests.e2e.test_agent_e2e import run_command, wait_job
from tests.e2e.test_deploy_e2e import b64, create_package, deploy, start_agent, wait_done

pytestmark = pytest.mark.e2e

# Appends, so a second run shows as a second line.
INSTALL = b'#!/bin/sh\necho "install run"\necho run >> "$1"\n'


def test_a_queued_package_job_survives_a_server_restart_and_runs_once(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = start_agent(server, agent_factory)
    runs = tmp_path / "runs"
    with server.client() as c:
        package = create_package(c, "Once", runs, files=[{"name": "install.sh", "content": b64(INSTALL)}])
        agent.stop()
        wait_for(lambda: not c.get(f"/computers/{cid}").json()["data"]["online"], 10, what="agent offline")
        container_id = deploy(c, computer_ids=[cid], package_ids=[package["id"]])
        [job] = c.get(f"/deployments/{container_id}").json()["data"]["jobs"]
        assert job["status"] == "queued"

    server.stop()
    server.start()
    with server.client() as c:
        assert c.get(f"/jobs/{job['id']}").json()["data"]["status"] == "queued"  # kept over the restart
        agent.start("--simulate-power-actions")
        done = wait_done(c, container_id, agent)
        [finished] = done["jobs"]
        assert (done["status"], finished["status"], finished["exit_code"]) == ("succeeded", "succeeded", 0)
        assert finished["stdout"] == "install run\n"
        time.sleep(2)  # a duplicate delivery or a second stored result would show by now
        assert runs.read_text() == "run\n"
        [installation] = c.get("/installations", params={"computer_id": cid}).json()["data"]
        assert (installation["package_id"], installation["job_id"]) == (package["id"], job["id"])
        again = c.get(f"/jobs/{job['id']}").json()["data"]
        assert (again["status"], again["finished_at"]) == ("succeeded", finished["finished_at"])


def test_a_job_message_the_agent_never_read_is_delivered_again_and_runs_once(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    """The agent is stopped (SIGSTOP: its socket stays open, it reads nothing), the server
    hands it the job (status ``sent``: the frame is in the agent's socket buffer), and the
    agent is killed before it could read, so it never journaled the job. Its next hello does
    not list the job: the server queues it again and delivers it."""
    agent, cid = start_agent(server, agent_factory)
    assert agent.proc is not None
    process = psutil.Process(agent.proc.pid)
    marker = tmp_path / "ran"
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: process.status() == psutil.STATUS_STOPPED, 5, what="agent stopped")
        job_id = run_command(server, cid, f"echo run >> {marker}; echo done")
        with server.client() as c:
            wait_for(lambda: c.get(f"/jobs/{job_id}").json()["data"]["status"] == "sent", 10, what="job sent")
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait(10)
    finally:
        if agent.proc.poll() is None:
            agent.proc.send_signal(signal.SIGCONT)
    with server.client() as c:
        lost = c.get(f"/jobs/{job_id}").json()["data"]
        assert (lost["status"], lost["started_at"]) == ("sent", None)  # the server believes it delivered

    agent.start("--simulate-power-actions")
    job = wait_job(server, job_id)
    assert (job["status"], job["stdout"]) == ("succeeded", "done\n")
    assert job["sent_at"] != lost["sent_at"]  # handed out a second time
    time.sleep(2)
    assert marker.read_text() == "run\n"
