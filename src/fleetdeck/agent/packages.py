"""Running package jobs (``package_install`` / ``package_uninstall``).

Package jobs run one at a time, in the order they were delivered (commands stay concurrent):
download the payload (phase ``download``, progress 0..100), unpack it into a private temporary
directory (phase ``unpack``), run the procedure there with the platform shell (phase
``execute``), judge the return code against the job's success codes, clean up, report, then
run the post action. In sequence mode 1 a failed job makes the agent skip the rest of that
deployment it holds (reported failed with return code -8888); agent-side errors are -9999.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from fleetdeck.agent.command import CommandExecution, Send
from fleetdeck.agent.payload import PayloadError, ServerAccess, fetch, unpack
from fleetdeck.agent.power import PowerActions
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

KINDS = ("package_install", "package_uninstall")
ABORTED_CODE, AGENT_ERROR_CODE = -8888, -9999
ABORTED_MESSAGE = "aborted after failed job"
DEFAULT_TIMEOUT_SEC = 3600
PROGRESS_EVERY_SEC = 0.5


def parse_codes(text: str) -> set[int]:
    return {int(p.strip()) for p in text.split(",") if p.strip().lstrip("-").isdigit()}


class PackageRunner:
    def __init__(self, send: Send, access: ServerAccess | None, power: PowerActions) -> None:
        self._send = send
        self._access = access
        self.power = power
        self._order: deque[int] = deque()
        self._turn = asyncio.Condition()
        self._aborted: deque[int] = deque(maxlen=1000)  # containers to skip (sequence mode 1)
        self._cancelled: set[int] = set()
        self._current: tuple[int, threading.Event, CommandExecution | None] | None = None
        self._stopping = False

    @property
    def access(self) -> ServerAccess | None:
        """How to reach the server's downloads (file jobs fetch through it too)."""
        return self._access

    def enqueue(self, job_id: int) -> None:
        """Called synchronously when the job is accepted: fixes its place in the line."""
        self._order.append(job_id)

    def cancel(self, job_id: int) -> bool:
        if job_id not in self._order:
            return False
        self._cancelled.add(job_id)
        current = self._current
        if current is not None and current[0] == job_id:
            current[1].set()
            if current[2] is not None:
                current[2].stop("cancelled", "cancelled by the server")
        return True

    def stop_all(self, message: str) -> None:
        self._stopping = True
        current = self._current
        if current is not None:
            current[1].set()
            if current[2] is not None:
                current[2].stop("failed", message)

    async def run(self, job: m.JobSpec) -> tuple[m.JobResult, tuple[int, int]]:
        """Wait for this job's turn, run it; returns the result and the post action to do."""
        async with self._turn:
            await self._turn.wait_for(lambda: bool(self._order) and self._order[0] == job.id)
        try:
            return await self._execute(job)
        finally:
            async with self._turn:
                self._order.popleft()
                self._cancelled.discard(job.id)
                self._turn.notify_all()

    def _result(
        self,
        job_id: int,
        status: m.AgentJobStatus,
        code: int | None,
        message: str,
        started: float | None = None,
    ) -> m.JobResult:
        return m.JobResult(
            job_id=job_id,
            status=status,
            exit_code=code,
            message=message,
            started_at=started,
            finished_at=time.time(),
        )

    async def _execute(self, job: m.JobSpec) -> tuple[m.JobResult, tuple[int, int]]:
        p: dict[str, Any] = job.params
        container = int(p.get("container_id", 0))
        if self._stopping:
            return self._result(job.id, "failed", AGENT_ERROR_CODE, "agent stopped before the job ran"), (
                0,
                0,
            )
        if job.id in self._cancelled:
            return self._result(job.id, "cancelled", ABORTED_CODE, "cancelled by the server"), (0, 0)
        if container and container in self._aborted:
            return self._result(job.id, "failed", ABORTED_CODE, ABORTED_MESSAGE), (0, 0)
        started = time.time()
        workdir = Path(tempfile.mkdtemp(prefix=f"fleetdeck-job-{job.id}-"))  # mode 0700
        cancelled = threading.Event()
        self._current = (job.id, cancelled, None)
        try:
            result = await self._phases(job, p, workdir, cancelled, started)
        except PayloadError as exc:
            status: m.AgentJobStatus = "cancelled" if cancelled.is_set() else "failed"
            result = self._result(job.id, status, AGENT_ERROR_CODE, str(exc), started)
        except Exception as exc:
            log.exception("package job %s failed in the agent", job.id)
            result = self._result(job.id, "failed", AGENT_ERROR_CODE, f"agent error: {exc}", started)
        finally:
            self._current = None
            shutil.rmtree(workdir, ignore_errors=True)
        if result.status != "succeeded" and int(p.get("sequence_mode", 0)) == 1 and container:
            self._aborted.append(container)
        post = (0, 0)
        if result.status == "succeeded":
            post = (int(p.get("post_action", 0)), int(p.get("post_action_timeout_min", 0)))
        return result, post

    async def _update(
        self,
        job_id: int,
        phase: str,
        progress: int | None = None,
        done: int | None = None,
        total: int | None = None,
    ) -> None:
        await self._send(
            m.JobUpdate(
                job_id=job_id,
                status="running",
                at=time.time(),
                phase=phase,
                progress=progress,
                bytes_done=done,
                bytes_total=total,
            )
        )

    async def _phases(
        self, job: m.JobSpec, p: dict[str, Any], workdir: Path, cancelled: threading.Event, started: float
    ) -> m.JobResult:
        if p.get("download"):
            await self._download(job, p, workdir, cancelled)
            await self._update(job.id, "unpack")
            files = await asyncio.to_thread(unpack, workdir / ".payload.zip", workdir)
            (workdir / ".payload.zip").unlink(missing_ok=True)
            log.info("job %s: unpacked %d files", job.id, files)
        if cancelled.is_set():
            raise PayloadError("cancelled")
        spec = m.CommandSpec(
            command=str(p.get("procedure", "")),
            cwd=str(workdir),
            env=property_env(p.get("properties")),
            timeout_sec=int(p.get("timeout_sec", DEFAULT_TIMEOUT_SEC)),
        )
        execution = CommandExecution(job.id, spec, self._send)
        self._current = (job.id, cancelled, execution)

        async def on_started() -> None:
            await self._update(job.id, "execute")

        result = await execution.run(on_started)
        if result.status in ("succeeded", "failed") and result.exit_code is not None:
            codes = parse_codes(str(p.get("success_codes", "")))
            ok = not codes or result.exit_code in codes  # an empty list disables the check
            result = m.JobResult(
                job_id=result.job_id,
                status="succeeded" if ok else "failed",
                exit_code=result.exit_code,
                stdout=result.stdout,
                stderr=result.stderr,
                started_at=started,
                finished_at=result.finished_at,
                message=result.message if ok else f"return code {result.exit_code} is not a success code",
                truncated=result.truncated,
            )
        return result

    async def _download(
        self, job: m.JobSpec, p: dict[str, Any], workdir: Path, cancelled: threading.Event
    ) -> None:
        if self._access is None:
            raise PayloadError("this agent has no server address to download from")
        loop = asyncio.get_running_loop()
        last = [-1, 0.0]

        def progress(done: int, total: int | None) -> None:
            """At most every PROGRESS_EVERY_SEC (and at the end): bytes, and percent when the
            size is known. A resumed download starts from the bytes it already had."""
            now = time.monotonic()
            pct = min(100, done * 100 // total) if total else None
            end = total is not None and done >= total
            if done != last[0] and (end or now - last[1] >= PROGRESS_EVERY_SEC):
                last[0], last[1] = done, now
                update = self._update(job.id, "download", pct, done, total)
                asyncio.run_coroutine_threadsafe(update, loop)

        size = p.get("payload_size")
        await self._update(job.id, "download", 0, 0, int(size) if size else None)
        await asyncio.to_thread(
            fetch,
            self._access,
            str(p["payload_path"]),
            workdir / ".payload.zip",
            str(p["payload_sha256"]),
            p.get("payload_size"),
            progress,
            cancelled,
        )

    async def after(self, post: tuple[int, int]) -> None:
        with contextlib.suppress(Exception):
            await self.power.run(*post)


def property_env(properties: object) -> dict[str, str]:
    """Package properties as environment variables for the procedure:
    ``FLEETDECK_PROPERTY_<KEY>`` (upper case, other characters as ``_``), values joined by
    commas, booleans as ``true``/``false``."""
    if not isinstance(properties, dict):
        return {}
    env: dict[str, str] = {}
    for key, values in properties.items():
        name = "FLEETDECK_PROPERTY_" + re.sub(r"[^A-Z0-9]", "_", str(key).upper())
        items = values if isinstance(values, list) else [values]
        env[name] = ",".join(("true" if v else "false") if isinstance(v, bool) else str(v) for v in items)
    return env
