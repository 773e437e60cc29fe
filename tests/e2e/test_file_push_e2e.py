"""End to end: a file pushed with rportd's ``POST /files`` lands on a real agent process, in a
temporary directory, with the requested mode; pushing again without force or sync leaves it
alone (``ignored``), with force it is overwritten, and with sync an identical file only gets
its mode set."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, wait_for

pytestmark = pytest.mark.e2e


def push(server: ServerProc, uid: str, dest: Path, content: bytes, **fields: str) -> dict[str, Any]:
    r = httpx.post(
        f"{server.url}/rport/api/v1/files",
        auth=("admin", ADMIN_PASSWORD),
        files={"upload": ("hello.txt", content)},
        data={"client_id": uid, "dest": str(dest), **fields},
        timeout=15,
    )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def last_job(server: ServerProc, agent: AgentProc, count: int) -> dict[str, Any]:
    """The newest file job once ``count`` of them have finished."""
    with server.client() as c:

        def finished() -> dict[str, Any] | None:
            rows = c.get("/jobs", params={"filter[kind]": "file_put", "sort": "-id"}).json()["data"]
            done = [r for r in rows if r["status"] in ("succeeded", "failed")]
            return c.get(f"/jobs/{rows[0]['id']}").json()["data"] if len(done) >= count else None

        try:
            job: dict[str, Any] = wait_for(finished, 30, what=f"{count} file jobs finished")
        except AssertionError:
            raise AssertionError(f"agent log:\n{agent.log()[-4000:]}") from None
    return job


def test_a_pushed_file_lands_with_its_mode(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], tmp_path: Path
) -> None:
    agent, cid = enrolled_agent(server, agent_factory)
    with server.client() as c:
        uid = c.get(f"/computers/{cid}").json()["data"]["uid"]
    dest = tmp_path / "landing" / "hello.txt"
    dest.parent.mkdir()
    answer = push(server, uid, dest, b"hello agent\n", mode="0640")
    assert answer["filepath"] == str(dest) and answer["size"] == 12 and len(answer["uuid"]) == 36
    job = last_job(server, agent, 1)
    assert job["status"] == "succeeded", job
    assert dest.read_bytes() == b"hello agent\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert not [p for p in dest.parent.iterdir() if p.name != "hello.txt"]  # no temporary file left

    push(server, uid, dest, b"other\n")  # neither force nor sync: left alone
    job = last_job(server, agent, 2)
    assert job["status"] == "succeeded" and job["message"].startswith("ignored:"), job
    assert dest.read_bytes() == b"hello agent\n"

    push(server, uid, dest, b"hello agent\n", mode="0600", sync="true")  # same content: chmod only
    job = last_job(server, agent, 3)
    assert job["status"] == "succeeded" and not job["message"], job
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600

    push(server, uid, dest, b"forced\n", force="1")
    job = last_job(server, agent, 4)
    assert job["status"] == "succeeded", job
    assert dest.read_bytes() == b"forced\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644  # the default mode when none is asked

    push(server, uid, tmp_path / "missing-dir" / "x", b"x")  # the agent reports why it failed
    job = last_job(server, agent, 5)
    assert job["status"] == "failed" and "does not exist" in job["message"], job
