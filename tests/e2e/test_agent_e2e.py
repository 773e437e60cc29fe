"""End to end: a real server process and a real agent process on loopback."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from websockets.sync.client import connect as ws_connect

from fleetdeck.core.certs.authority import CertificateAuthority, create_ca
from tests.e2e.conftest import AgentProc, ServerProc, enrolled_agent, wait_for
from tests.e2e.test_deploy_e2e import create_package, deploy, wait_done

pytestmark = pytest.mark.e2e


def acknowledged(agent: AgentProc, job_id: int) -> None:
    """Wait until the agent logs the server's ResultAck for ``job_id``: the result is stored, the
    agent has forgotten it, and the exchange in which a duplicate delivery would show is over."""
    ack = re.compile(rf"results acknowledged: \[(?:\d+, )*{job_id}[,\]]")
    wait_for(lambda: ack.search(agent.log()), 15, what=f"the agent to log the ack of job {job_id}")


def run_command(server: ServerProc, cid: int, command: str, **extra: object) -> int:
    with server.client() as c:
        r = c.post("/commands", json={"computer_ids": [cid], "command": command, **extra})
        assert r.status_code == 201, r.text
        return int(r.json()["data"]["job_ids"][0])


def wait_job(server: ServerProc, job_id: int, timeout: float = 30) -> dict[str, object]:
    with server.client() as c:

        def final() -> dict[str, object] | None:
            job = c.get(f"/jobs/{job_id}").json()["data"]
            return job if job["status"] not in ("queued", "sent", "running") else None

        result: dict[str, object] = wait_for(final, timeout, what=f"job {job_id} to finish")
        return result


def test_enrolled_agent_reports_this_machines_real_inventory(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc]
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    with server.client() as c:
        detail = c.get(f"/computers/{cid}").json()["data"]
    assert detail["hostname"] == socket.gethostname()
    assert detail["ram_bytes"] == psutil.virtual_memory().total
    assert detail["cpu_cores"] >= 1 and detail["architecture"]
    mounts = {f["mountpoint"]: f for f in detail["filesystems"]}
    assert "/" in mounts and mounts["/"]["size_bytes"] > 0
    assert any(n["name"] == "lo" for n in detail["network_interfaces"])
    assert detail["online"] is True and detail["enrolled"] is True
    assert detail["kernel"] and detail["os"]


def test_command_runs_and_output_is_stored(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc]
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    job_id = run_command(server, cid, "echo hello-from-$(hostname); echo oops >&2; exit 3")
    job = wait_job(server, job_id)
    assert job["status"] == "failed"
    assert job["exit_code"] == 3
    assert job["stdout"] == f"hello-from-{socket.gethostname()}\n"
    assert job["stderr"] == "oops\n"
    assert job["started_at"] and job["finished_at"]

    ok = wait_job(server, run_command(server, cid, "printf '%s' \"$FOO\"", env={"FOO": "bar baz"}))
    assert ok["status"] == "succeeded" and ok["stdout"] == "bar baz"


def test_a_commands_long_poll_answers_when_its_last_result_is_stored(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    """``GET /commands/{id}?wait=``: the answer comes with the result, not after the wait."""
    _agent, cid = enrolled_agent(server, agent_factory)
    go = tmp_path / "go"
    with server.client() as c:
        created = c.post(
            "/commands", json={"computer_ids": [cid], "command": f"while [ ! -e {go} ]; do sleep 0.05; done"}
        )
        batch = created.json()["data"]["id"]
        # the job runs until the file exists: a short wait ends open
        open_ = c.get(f"/commands/{batch}", params={"wait": 0.3}).json()["data"]["counts"]
        assert set(open_) <= {"sent", "running"} and sum(open_.values()) == 1
        threading.Timer(0.5, go.touch).start()
        asked = time.monotonic()
        answered = c.get(f"/commands/{batch}", params={"wait": 50}, timeout=60)
        took = time.monotonic() - asked
    assert answered.status_code == 200, answered.text
    # not a time budget: an answer only at the wait's end (50 s) would mean it never saw the result
    assert took < 40, took
    assert answered.json()["data"]["counts"] == {"succeeded": 1}


def test_timeout_kills_the_process_tree(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    pidfile = tmp_path / "child.pid"
    job = wait_job(server, run_command(server, cid, f"sleep 300 & echo $! > {pidfile}; wait", timeout_sec=1))
    assert job["status"] == "timeout"
    child = int(pidfile.read_text())
    wait_for(
        lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE,
        10,
        what="child process to be killed",
    )


def test_live_output_stream(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    # The stream carries output from the moment the viewer connects, so the command waits for
    # the viewer (the flag file) before it prints: no race with a slow connect.
    flag = tmp_path / "viewer-connected"
    job_id = run_command(
        server,
        cid,
        f"while [ ! -e {flag} ]; do sleep 0.05; done; for i in 1 2 3; do echo line$i; sleep 0.5; done",
    )
    url = server.url.replace("http", "ws", 1) + f"/api/v1/jobs/{job_id}/stream"
    chunks: list[str] = []
    final: dict[str, object] = {}
    with ws_connect(url, additional_headers={"Authorization": _basic()}, open_timeout=10) as ws:
        flag.touch()
        while True:
            try:
                msg = json.loads(ws.recv(timeout=20))
            except Exception:
                break
            if msg["type"] == "output":
                chunks.append(msg["data"])
            elif msg["type"] == "job" and msg["job"]["status"] not in ("queued", "sent", "running"):
                final = msg["job"]
                break
    assert "line1" in "".join(chunks), chunks  # arrived while the job was still running
    assert final["status"] == "succeeded"
    assert final["stdout"] == "line1\nline2\nline3\n"


def _basic() -> str:
    import base64

    from tests.e2e.conftest import ADMIN_PASSWORD

    return "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()


def test_job_for_offline_agent_waits_and_survives_server_restart_exactly_once(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    agent.stop()
    with server.client() as c:
        wait_for(lambda: not c.get(f"/computers/{cid}").json()["data"]["online"], 10, what="offline")
    marker = tmp_path / "ran.txt"
    job_id = run_command(server, cid, f"echo run >> {marker}")
    with server.client() as c:
        assert c.get(f"/jobs/{job_id}").json()["data"]["status"] == "queued"
    server.stop()
    server.start()
    agent.start()
    job = wait_job(server, job_id)
    assert job["status"] == "succeeded"
    acknowledged(agent, job_id)
    assert marker.read_text() == "run\n"
    assert agent.log().count(f"job {job_id} finished") == 1


def test_server_killed_while_job_runs_result_arrives_once(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    marker = tmp_path / "ran.txt"
    job_id = run_command(server, cid, f"sleep 2; echo run >> {marker}; echo done")
    with server.client() as c:
        wait_for(lambda: c.get(f"/jobs/{job_id}").json()["data"]["status"] == "running", 15, what="running")
    server.stop(signal.SIGKILL)  # no goodbye, no flush
    wait_for(marker.exists, 10, what="job to finish on the agent while the server is down")
    server.start()
    job = wait_job(server, job_id)
    assert job["status"] == "succeeded" and job["stdout"] == "done\n"
    acknowledged(agent, job_id)  # resent after the re-hello, stored once, acknowledged
    assert agent.log().count("connected to ") >= 2  # the first connection and the re-hello
    assert marker.read_text() == "run\n"
    assert agent.log().count(f"job {job_id} finished") == 1


def test_agent_restart_mid_job_does_not_run_it_twice(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    marker = tmp_path / "ran.txt"
    job_id = run_command(server, cid, f"echo start >> {marker}; sleep 30")
    with server.client() as c:
        wait_for(lambda: c.get(f"/jobs/{job_id}").json()["data"]["status"] == "running", 15, what="running")
    agent.stop(signal.SIGKILL)
    agent.start()
    job = wait_job(server, job_id)
    assert job["status"] == "failed"
    assert "restarted" in str(job["message"])
    assert marker.read_text() == "start\n"


def test_dead_agent_is_shown_offline(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc]
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGSTOP)  # alive socket, silent peer: only heartbeats can tell
    try:
        with server.client() as c:
            wait_for(lambda: not c.get(f"/computers/{cid}").json()["data"]["online"], 15, what="offline")
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    with server.client() as c:
        wait_for(lambda: c.get(f"/computers/{cid}").json()["data"]["online"], 15, what="back online")


def test_agent_pins_the_servers_ca(
    server_factory: Callable[..., ServerProc],
    agent_factory: Callable[[ServerProc], AgentProc],
    tmp_path: Path,
) -> None:
    """With --tls auto the agent pins fleetdeck's CA (sent at enrollment): a renewed server
    certificate from that CA is accepted, one from another CA is refused before the agent
    sends its key, again and again."""
    srv = server_factory(FLEETDECK_TLS="auto")
    srv.start()
    agent, cid = enrolled_agent(srv, agent_factory)
    tls = srv.data_dir / "tls"
    state = json.loads((agent.state_dir / "state.json").read_text())
    assert state["ca_pem"] == (tls / "ca-cert.pem").read_text()
    assert "pinned the server's CA" in agent.log()
    # Renewed: a new key and certificate from the same CA (what the server makes when its
    # certificate is gone). The certificate pin alone would refuse it.
    srv.stop()
    old_cert = (tls / "cert.pem").read_text()
    (tls / "cert.pem").unlink()
    (tls / "key.pem").unlink()
    srv.start()
    assert (tls / "cert.pem").read_text() != old_cert
    wait_for(lambda: agent.log().count("connected to ") >= 2, 30, what="reconnect after the renewal")
    # The payload download goes over the same pinned CA (its certificate pin is stale now).
    marker = tmp_path / "out" / "marker"
    with srv.client() as c:
        package = create_package(c, "Marker", marker)
        container = wait_done(c, deploy(c, computer_ids=[cid], package_ids=[package["id"]]), agent)
        assert container["status"] == "succeeded", container["jobs"]
    assert marker.read_text() == "installed\n"
    # Another CA's certificate at the same address: refused, the computer stays offline.
    srv.stop()
    other = CertificateAuthority(tmp_path / "other-ca")
    create_ca(tmp_path / "other-ca", "intruder")
    issued = other.issue("127.0.0.1", ["127.0.0.1", "localhost"], server=True, days=1)
    (tls / "cert.pem").write_text(issued.cert_pem)
    (tls / "key.pem").write_text(issued.key_pem)
    srv.start()
    wait_for(lambda: agent.log().count("not signed by the pinned CA") >= 2, 30, what="two refused connects")
    with srv.client() as c:
        wait_for(lambda: c.get(f"/computers/{cid}").json()["data"]["online"] is False, 15, what="offline")
    assert agent.log().count("connected to ") == 2  # before and after the renewal only


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed here (apt-get install zsh)")
def test_a_zsh_job_runs_on_an_agent_that_has_zsh(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc]
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    job = wait_job(server, run_command(server, cid, "print -r -- $ZSH_NAME ${(U)x:-ok}", interpreter="zsh"))
    assert (job["status"], job["stdout"]) == ("succeeded", "zsh OK\n")


def test_a_zsh_job_fails_at_delivery_for_an_agent_without_zsh(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent finds no zsh on its PATH, so its hello does not offer it; the server does not
    send it the job (an older agent could not even decode the frame) and says why."""
    monkeypatch.setenv("PATH", "/usr/sbin:/sbin")  # no zsh there (and /bin/sh is run by path)
    agent, cid = enrolled_agent(server, agent_factory)
    job = wait_job(server, run_command(server, cid, "print hi", interpreter="zsh"))
    assert job["status"] == "failed"
    assert str(job["message"]).startswith(f"not run: the agent of computer {cid} does not offer zsh")
    assert f"job {job['id']} " not in agent.log()  # never reached the agent
    plain = wait_job(server, run_command(server, cid, "echo still here"))
    assert (plain["status"], plain["stdout"]) == ("succeeded", "still here\n")
