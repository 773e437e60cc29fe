"""End to end: a payload uploaded by streaming, downloaded by a real agent through a TCP proxy
that cuts the first download off midway. The agent resumes with a Range request, the hash
checks, and the job keeps the download's progress in bytes."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.cutting_proxy import CuttingProxy
from tests.e2e.conftest import AgentProc, ServerProc, wait_for
from tests.e2e.test_deploy_e2e import deploy, wait_done

pytestmark = pytest.mark.e2e

PAYLOAD_BYTES = 6 * 1024 * 1024
CUT_AFTER = 2 * 1024 * 1024


@pytest.fixture
def proxy(server: ServerProc) -> Iterator[CuttingProxy]:
    p = CuttingProxy(server.port, CUT_AFTER, b"GET /agent/v1/payload/", "response")
    yield p
    p.close()


def test_a_download_cut_off_midway_resumes_with_range_and_reports_bytes(
    server: ServerProc,
    agent_factory: Callable[[ServerProc], AgentProc],
    proxy: CuttingProxy,
    tmp_path: Path,
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("install.sh", b"#!/bin/sh\nls -l big.bin\n")
        zf.writestr("big.bin", os.urandom(PAYLOAD_BYTES))
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    token = server.enroll_token()
    agent = agent_factory(server)
    agent.server = cast(ServerProc, SimpleNamespace(url=f"http://127.0.0.1:{proxy.port}"))
    agent.start(token=token)
    with server.client() as c:
        p = c.post(
            "/packages", json={"family_name": "Big", "version": "1", "install_procedure": "sh install.sh"}
        )
        assert p.status_code == 201, p.text
        pid = p.json()["data"]["id"]
        r = c.put(
            f"/packages/{pid}/payload",
            content=data,
            headers={"content-type": "application/octet-stream", "X-Payload-SHA256": sha},
        )
        assert r.status_code == 200, r.text

        def online() -> int | None:
            rows = c.get("/computers").json()["data"]
            return next((row["id"] for row in rows if row["online"] and row["os"]), None)

        cid = wait_for(online, 30, what="agent online")
        container = wait_done(c, deploy(c, computer_ids=[cid], package_ids=[pid]), agent, timeout=60)
        [job] = container["jobs"]
        assert (container["status"], job["exit_code"]) == ("succeeded", 0), (job, agent.log()[-3000:])
        assert "big.bin" in job["stdout"]
        assert (job["progress_bytes"], job["progress_total"], job["progress"]) == (len(data), len(data), 100)
    assert proxy.cuts == 1 and len(proxy.heads) >= 2
    first, resumed = proxy.heads[0], proxy.heads[-1]
    assert b"range:" not in first.lower()
    ranges = [line for line in resumed.split(b"\r\n") if line.lower().startswith(b"range:")]
    assert ranges and int(ranges[0].split(b"=")[1].rstrip(b"-")) > 0, resumed
