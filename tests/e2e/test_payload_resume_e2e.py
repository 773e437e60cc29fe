"""End to end: a payload uploaded by streaming, downloaded by a real agent through a TCP proxy
that cuts the first download off midway. The agent resumes with a Range request, the hash
checks, and the job keeps the download's progress in bytes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.e2e.conftest import AgentProc, ServerProc, wait_for
from tests.e2e.test_deploy_e2e import deploy, wait_done

pytestmark = pytest.mark.e2e

PAYLOAD_BYTES = 6 * 1024 * 1024
CUT_AFTER = 2 * 1024 * 1024


class CuttingProxy:
    """Forwards TCP to ``upstream``; the first payload download (``GET /agent/v1/payload/``)
    is cut after ``cut_after`` bytes of its answer, both sides closed, as a dropped link does.
    Records the request heads of payload downloads."""

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cuts = 0
        self.payload_requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        first = client.recv(65536)
        cut = False
        if first.startswith(b"GET /agent/v1/payload/"):
            with self._lock:
                self.payload_requests.append(first.split(b"\r\n\r\n")[0])
                cut = self.cuts == 0
                self.cuts += 1 if cut else 0
        upstream.sendall(first)
        threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
        self._pipe(upstream, client, self.cut_after if cut else None)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    break
                dst.sendall(data)
                sent += len(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(server: ServerProc) -> Iterator[CuttingProxy]:
    p = CuttingProxy(server.port, CUT_AFTER)
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
    token = server.cli("enroll-token", "create", "--uses", "1").strip()
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
    assert proxy.cuts == 1 and len(proxy.payload_requests) >= 2
    first, resumed = proxy.payload_requests[0], proxy.payload_requests[-1]
    assert b"range:" not in first.lower()
    ranges = [line for line in resumed.split(b"\r\n") if line.lower().startswith(b"range:")]
    assert ranges and int(ranges[0].split(b"=")[1].rstrip(b"-")) > 0, resumed
