"""Fault tests that stay in the suite: the server killed with SIGKILL at random moments while
command jobs are created, delivered and run, and the agent killed in the middle of a job.

Exactly once is the promise (core/jobs/service.py, agent/journal.py): whatever moment the
server dies at, every job that exists afterwards reaches a final state once, none is lost, and
none runs twice. Each job's command appends its own token to a file, so a second run shows as a
second line. The kill moments come from a seeded random generator; a failure names the seed,
and ``FLEETDECK_FAULT_SEED=<seed>`` replays the same moments (as far as the machine's timing
allows). Figures of a run: docs/reliability.md.

The SQLite run does 20 trials (marker ``slow``: ``make test`` and CI run it; ``-m "not slow"``
leaves it out while working); PostgreSQL, the same path through a different database, does a
fast subset of 5.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from fleetdeck.core.authz import Role
from tests.conftest import BACKEND
from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    AgentProc,
    Process,
    ServerProc,
    enrolled_agent,
    free_port,
    wait_for,
)
from tests.e2e.test_agent_e2e import run_command, wait_job
from tests.e2e.test_deploy_e2e import b64, create_package, deploy, start_agent, wait_done

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("FLEETDECK_FAULT_SEED") or random.SystemRandom().randrange(2**32))
TRIALS = 20 if BACKEND == "sqlite" else 5
JOBS_PER_TRIAL = 6
KILL_WINDOW_SEC = 1.5  # the kill falls anywhere from before the first job is created to after the last ran
FINAL = ("succeeded", "failed", "timeout", "cancelled", "expired")
TOKEN = re.compile(r"echo (t\d+-\d+) >>")


ZYGOTE = Path(__file__).with_name("zygote.py")


class ForkedProc:
    """A server forked by the zygote: not our child, so it is watched by pid (the zygote's
    kernel reaps it, and a pid is not reused within a trial)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        try:
            alive = psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        return None if alive else -1  # the exit status belongs to the zygote

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 3600)
        while (code := self.poll()) is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"server {self.pid}", timeout or 0)
            time.sleep(0.02)
        return code

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkedServer(ServerProc):
    """``fleetdeck server`` started by forking ``tests/e2e/zygote.py`` (see there why): a
    restart costs a fork instead of 2-5 s of imports."""

    zygote: subprocess.Popen[str] | None = None

    def spawn(self) -> Process:
        if self.zygote is None:
            self.zygote = subprocess.Popen(
                [sys.executable, str(ZYGOTE)],
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        self.zygote.stdin.write(f"{self.log_path} server --port {self.port}\n")
        self.zygote.stdin.flush()
        return ForkedProc(int(self.zygote.stdout.readline()))

    def close(self) -> None:
        self.stop()
        if self.zygote is not None:
            assert self.zygote.stdin is not None and self.zygote.stdout is not None
            self.zygote.stdin.close()  # the zygote's loop ends with its input
            self.zygote.wait(15)
            self.zygote.stdout.close()
            self.zygote = None


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[ForkedServer]:
    """This module's server: forked, so that the trials can restart it cheaply."""
    srv = ForkedServer(tmp_path / "server", db_url, free_port(), tmp_path / "server.log", {})
    try:
        srv.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
        srv.start()
        yield srv
    finally:
        srv.close()


def replay() -> str:
    return f"seed {SEED} (replay: FLEETDECK_FAULT_SEED={SEED})"


def online(c: httpx.Client, cid: int) -> bool:
    return bool(c.get(f"/computers/{cid}").json()["data"]["online"])


def acked(agent: AgentProc, job_id: int) -> bool:
    """The agent logged the server's ResultAck for ``job_id``: the result is stored and the
    exchange in which a duplicate delivery would show is over."""
    return re.search(rf"results acknowledged: \[(?:\d+, )*{job_id}[,\]]", agent.log()) is not None


@dataclass
class Figures:
    """What the trials did, for the report (printed with ``-s``; see docs/reliability.md)."""

    trials: int = 0
    answered: int = 0  # creations answered 201
    cut_off: int = 0  # creations the kill cut off (the job may or may not exist)
    jobs: int = 0  # jobs that existed after the restart
    at_restart: Counter[str] = field(default_factory=Counter)  # their status right after the restart
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"{BACKEND}: {self.trials} trials, {self.answered} creations answered, {self.cut_off} cut off,"
            f" {self.jobs} jobs; at restart {dict(self.at_restart)}; outcomes {dict(self.outcomes)}"
        )


def kill_at(server: ServerProc, delay: float) -> threading.Thread:
    """SIGKILL the server ``delay`` seconds from now, whatever it is doing then."""
    assert server.proc is not None
    proc = server.proc

    def kill() -> None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def restart_after_kill(server: ServerProc, killer: threading.Thread) -> None:
    """Wait for the kill, then start the server again on the same data dir and database."""
    killer.join()
    assert server.proc is not None
    server.proc.wait(15)
    server.proc = None
    server.start()


def jobs_since(c: httpx.Client, last_id: int) -> list[dict[str, Any]]:
    r = c.get("/jobs", params={"filter[id][gt]": last_id, "page[limit]": 1000, "sort": "id"})
    assert r.status_code == 200, r.text
    jobs: list[dict[str, Any]] = r.json()["data"]
    return jobs


def all_final(server: ServerProc, agent: AgentProc, last_id: int, where: str) -> list[dict[str, Any]]:
    """The jobs after ``last_id`` once every one is final, each result acknowledged."""
    with server.client() as c:

        def final() -> tuple[list[dict[str, Any]]] | None:
            now = jobs_since(c, last_id)  # (in a tuple: no jobs at all is an answer too)
            return (now,) if all(j["status"] in FINAL for j in now) else None

        try:
            [done] = wait_for(final, 60, what=f"every job final ({where})")
        except AssertionError:
            raise AssertionError(f"{where}\nagent log:\n{agent.log()[-3000:]}") from None
    for job in done:
        wait_for(partial(acked, agent, job["id"]), 30, what=f"the ack of job {job['id']} ({where})")
    return list(done)


def ran(runs: Path) -> Counter[str]:
    """How often each token was appended: once per run of its job."""
    return Counter(runs.read_text().split()) if runs.exists() else Counter()


def token_of(job: dict[str, Any]) -> str:
    found = TOKEN.search(job["command"]["command"])
    assert found is not None, job
    return found.group(1)


def succeeded_once(agent: AgentProc, job: dict[str, Any], runs: int, where: str) -> None:
    """The job succeeded, its command ran ``runs`` == 1 times, and the agent finished it once."""
    assert (job["status"], job["exit_code"]) == ("succeeded", 0), f"{job} ({where})"
    assert runs == 1, f"job {job['id']} ran {runs} times ({where})"
    finished = agent.log().count(f"job {job['id']} finished")
    assert finished == 1, f"job {job['id']} finished {finished} times on the agent ({where})"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_server_killed_at_random_moments_every_command_job_ends_exactly_once(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    agent, cid = enrolled_agent(server, agent_factory)  # one per machine: a second is the same computer
    runs = tmp_path / "runs"
    figures = Figures()
    last_id = 0
    print(f"\nfault trials: {replay()}")
    for trial in range(TRIALS):
        where = f"trial {trial}, {replay()}"
        with server.client() as c:
            wait_for(partial(online, c, cid), 30, what=f"the agent back online ({where})")
        killer = kill_at(server, rng.uniform(0, KILL_WINDOW_SEC))
        answered: dict[str, int] = {}  # token -> job id
        cut_off: set[str] = set()
        with server.client() as c:
            for k in range(JOBS_PER_TRIAL):
                token = f"t{trial}-{k}"
                nap = rng.choice(("", "; sleep 0.2", "; sleep 0.5"))
                body = {"computer_ids": [cid], "command": f"echo {token} >> {runs}{nap}"}
                try:
                    r = c.post("/commands", json=body)
                except httpx.HTTPError:
                    cut_off.add(token)
                    break
                assert r.status_code == 201, f"{r.text} ({where})"
                answered[token] = int(r.json()["data"]["job_ids"][0])
        restart_after_kill(server, killer)

        with server.client() as c:
            found = {token_of(j): j for j in jobs_since(c, last_id)}
        figures.at_restart.update(j["status"] for j in found.values())
        for token, job_id in answered.items():  # none lost
            assert token in found and found[token]["id"] == job_id, f"job {job_id} lost ({where})"
        assert set(found) <= set(answered) | cut_off, f"jobs nobody created: {found} ({where})"

        done = all_final(server, agent, last_id, where)
        assert len(done) == len(found), f"one creation, two jobs: {done} ({where})"
        lines = ran(runs)
        for job in done:
            # The server dying changes nothing on the agent: every job runs, once, and succeeds.
            succeeded_once(agent, job, lines[token_of(job)], where)
            figures.outcomes[job["status"]] += 1
        figures.trials += 1
        figures.answered += len(answered)
        figures.cut_off += len(cut_off)
        figures.jobs += len(done)
        last_id = max([last_id, *(j["id"] for j in done)])
    # Nothing ran that is not a job (a token appended by a second, unrecorded run).
    assert set(ran(runs)) <= {f"t{t}-{k}" for t in range(TRIALS) for k in range(JOBS_PER_TRIAL)}
    print(f"fault figures: {figures.line()}; {replay()}")


def test_agent_killed_mid_job_and_gone_for_good_the_job_fails_as_lost_once(
    server_factory: Callable[..., ServerProc],
    agent_factory: Callable[[ServerProc], AgentProc],
    tmp_path: Path,
) -> None:
    """SIGKILL the agent while its job runs and keep it away: the server fails the job as lost
    once the job's timeout and the grace (FLEETDECK_JOB_LOST_AFTER_SEC) have passed, instead of
    showing it ``running`` forever. When the agent does come back, its journal reports the job
    failed ("agent restarted"); the job has ended already, so that changes nothing, and the
    job never runs a second time."""
    srv = server_factory(FLEETDECK_JOB_LOST_AFTER_SEC="1")
    srv.start()
    agent, cid = enrolled_agent(srv, agent_factory)
    marker = tmp_path / "ran"
    job_id = run_command(srv, cid, f"echo start >> {marker}; sleep 30", timeout_sec=2)
    with srv.client() as c:
        wait_for(lambda: c.get(f"/jobs/{job_id}").json()["data"]["status"] == "running", 15, what="running")
        agent.stop(signal.SIGKILL)
        wait_for(lambda: not c.get(f"/computers/{cid}").json()["data"]["online"], 15, what="agent offline")
        assert c.get(f"/jobs/{job_id}").json()["data"]["status"] == "running"  # nobody has said otherwise yet
    job = wait_job(srv, job_id, timeout=60)  # the housekeeping round (every 10 s) after timeout + grace
    assert job["status"] == "failed" and job["exit_code"] is None, job
    assert str(job["message"]).startswith("lost: the agent went offline while the job was running"), job
    assert job["started_at"] and job["finished_at"]
    with srv.client() as c:
        audit = c.get("/audit", params={"filter[action]": "job.lost"}).json()["data"]
        assert [e["detail"]["job_ids"] for e in audit] == [[job_id]], audit

    agent.start()
    wait_for(partial(acked, agent, job_id), 30, what="the restarted agent's report to be acknowledged")
    assert "was running when the agent stopped; reporting it failed" in agent.log()
    again = wait_job(srv, job_id)
    assert (again["status"], again["message"], again["finished_at"]) == (
        "failed",
        job["message"],
        job["finished_at"],
    )  # ended once: the late report is acknowledged and dropped
    assert marker.read_text() == "start\n"


DEPLOY_TRIALS = 8 if BACKEND == "sqlite" else 3
# Appends its token (second argument) to the runs file (first): once per run.
APPEND = b'#!/bin/sh\necho "$2" >> "$1"\n'


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_server_killed_at_random_moments_during_deployments_every_package_job_ends_once(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    """The same for package installs: a deployment of two packages (payload downloaded from the
    server, installed one after the other), the server killed anywhere from the deployment's
    creation to its last install. Every job succeeds, once: a payload download that the kill
    cut off is tried again until the server is back (before, after three attempts in about 7 s,
    so an install that was downloading while the server restarted failed)."""
    rng = random.Random(SEED + 1)
    agent, cid = start_agent(server, agent_factory)
    runs = tmp_path / "runs"
    figures = Figures()
    last_container = 0
    print(f"\ndeployment fault trials: {replay()}")
    for trial in range(DEPLOY_TRIALS):
        where = f"deployment trial {trial}, {replay()}"
        tokens: dict[int, str] = {}  # package id -> token
        with server.client() as c:
            wait_for(partial(online, c, cid), 30, what=f"the agent back online ({where})")
            for k in range(2):
                token = f"d{trial}-{k}"
                files = [{"name": "install.sh", "content": b64(APPEND)}]
                package = create_package(
                    c, token, runs, install_procedure=f"sh install.sh {runs} {token}", files=files
                )
                tokens[package["id"]] = token
        killer = kill_at(server, rng.uniform(0, KILL_WINDOW_SEC))
        created: int | None = None
        with server.client() as c:
            try:
                created = deploy(c, computer_ids=[cid], package_ids=list(tokens))
            except httpx.HTTPError:
                figures.cut_off += 1
        restart_after_kill(server, killer)

        with server.client() as c:
            found = [d["id"] for d in c.get("/deployments").json()["data"] if d["id"] > last_container]
            assert len(found) <= 1 and (created is None or found == [created]), f"{found} ({where})"
            jobs: list[dict[str, Any]] = []
            if found:
                figures.answered += created is not None
                fresh = c.get(f"/deployments/{found[0]}").json()["data"]["jobs"]
                figures.at_restart.update(j["status"] for j in fresh)
                jobs = wait_done(c, found[0], agent, timeout=60)["jobs"]
                last_container = found[0]
        for job in jobs:
            wait_for(partial(acked, agent, job["id"]), 30, what=f"the ack of job {job['id']} ({where})")
        lines = ran(runs)
        for job in jobs:
            # A download the kill cut off is tried again until the server is back (agent/payload.py).
            succeeded_once(agent, job, lines[tokens[job["package_id"]]], where)
            figures.outcomes[job["status"]] += 1
        figures.trials += 1
        figures.jobs += len(jobs)
    assert set(ran(runs)) <= {f"d{t}-{k}" for t in range(DEPLOY_TRIALS) for k in range(2)}
    print(f"deployment fault figures: {figures.line()}; {replay()}")
