"""One way for the benches to start a real ``fleetdeck server`` subprocess.

Every HTTP bench measures a real server over loopback (not the app in-process), so that the
figures include what a client sees: the socket, uvicorn, the middleware. This is the one place
that starts it, waits for ``/healthz`` and stops it again, for ``oco_list``, ``oco_auth``,
``oco_api``, ``opsi_api`` and ``opsi_list``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from agents import free_port


@contextmanager
def server(
    data_dir: Path,
    *,
    src: Path | None = None,
    env: Mapping[str, str] | None = None,
    log_name: str = "server.log",
    start_timeout: float = 120.0,
) -> Iterator[tuple[str, psutil.Process]]:
    """A real ``fleetdeck server`` on ``data_dir``: its base URL and its process (whose CPU time a
    loaded machine distorts less than wall time).

    ``src`` runs the server from another tree's ``src`` (A/B against ``git archive <rev>``);
    ``env`` adds variables (``FLEETDECK_SECRET_KEY``, ``FLEETDECK_DATABASE_URL``, ...). The output
    goes to ``data_dir/log_name``, which the error names when the server does not come up."""
    port = free_port()
    full_env = {**os.environ, "FLEETDECK_DATA_DIR": str(data_dir), **(env or {})}
    if src is not None:
        full_env["PYTHONPATH"] = str(src.resolve())
        full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    log_path = data_dir / log_name
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleetdeck", "server", "--port", str(port)],
            env=full_env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited with {proc.returncode}; see {log_path}")
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"server did not start in {start_timeout:.0f} s; see {log_path}")
                time.sleep(0.2)
            yield url, psutil.Process(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
