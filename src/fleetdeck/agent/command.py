"""Running one ``command`` job: live output streaming, capped capture, timeout and cancel.

Output goes two ways. Live ``JobOutput`` chunks are coalesced (sent at most every 100 ms or
16 KiB) and are best effort: while disconnected, or when the network is slower than the
command, chunks are dropped rather than queued, so memory stays bounded and the command is
never slowed down by the network. The final ``JobResult`` carries the authoritative output,
capped at :data:`OUTPUT_CAP` bytes per stream. The cap keeps the *head* of the output
(``truncated=True`` when bytes were cut): the head is what the live stream showed first and
what the admin reads first, and it is deterministic for commands that never finish producing
output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from fleetdeck.agent.decoding import UTF8, OutputDecoder, decode_bytes
from fleetdeck.agent.process import DirectProcess, kill_tree, remove_script, spawn, sudo_refusal
from fleetdeck.protocol import messages as m

Send = Callable[[m.Message], Awaitable[None]]
Stream = Literal["stdout", "stderr"]

OUTPUT_CAP = 1024 * 1024
CHUNK_BYTES = 16 * 1024
FLUSH_SEC = 0.1
PENDING_CAP = 256 * 1024  # live output not yet sent; beyond this, live chunks are dropped
DRAIN_AFTER_KILL_SEC = 5.0
READ_SIZE = 64 * 1024


class _Capture:
    """The first OUTPUT_CAP bytes of a stream."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = OUTPUT_CAP - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk

    def text(self, codepage: str = UTF8) -> str:
        """UTF-8 (or what a BOM says), else the code page (Windows tools: the OEM one)."""
        return decode_bytes(bytes(self.data), codepage)


class _Streamer:
    """Coalesces output into JobOutput frames. ``seq`` counts frames of the job across both
    streams, so the server can restore the interleaving of stdout and stderr.

    Frames go out FLUSH_SEC after the first output not yet sent, or at once when CHUNK_BYTES
    are pending, one flush at a time. A timer is armed only while output waits: a job without
    output (or one that ends within FLUSH_SEC) costs no task and no timer here; its output goes
    out with :meth:`close`, before the result."""

    def __init__(self, job_id: int, send: Send) -> None:
        self.job_id = job_id
        self.send = send
        self.seq = 0
        self.pending: list[tuple[Stream, str]] = []
        self.pending_bytes = 0
        self.decoders = {s: OutputDecoder() for s in ("stdout", "stderr")}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False  # close() ran: nothing more is scheduled

    def use_codepage(self, codepage: str) -> None:
        """Output that is not UTF-8 is in ``codepage`` (set before the first chunk)."""
        if codepage != UTF8:
            self.decoders = {s: OutputDecoder(codepage) for s in ("stdout", "stderr")}

    def feed(self, stream: Stream, chunk: bytes, final: bool = False) -> None:
        text = self.decoders[stream].decode(chunk, final)
        if not text or self.pending_bytes >= PENDING_CAP:
            return
        if self.pending and self.pending[-1][0] == stream:
            self.pending[-1] = (stream, self.pending[-1][1] + text)
        else:
            self.pending.append((stream, text))
        self.pending_bytes += len(chunk)
        self._schedule()

    def _schedule(self) -> None:
        """Send soon what is pending: at once from CHUNK_BYTES on, else after FLUSH_SEC."""
        if self._closed or self._flushing is not None or not self.pending:
            return  # the running flush looks again when it is done
        if self.pending_bytes >= CHUNK_BYTES:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._flushing = asyncio.ensure_future(self._flush_then_schedule())
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SEC, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self._closed and self._flushing is None and self.pending:
            self._flushing = asyncio.ensure_future(self._flush_then_schedule())

    async def _flush_then_schedule(self) -> None:
        try:
            await self.flush()
        finally:
            self._flushing = None
        self._schedule()

    async def flush(self) -> None:
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        for stream, text in pending:
            for start in range(0, len(text), CHUNK_BYTES):
                self.seq += 1
                piece = text[start : start + CHUNK_BYTES]
                await self.send(m.JobOutput(job_id=self.job_id, stream=stream, seq=self.seq, data=piece))

    async def close(self) -> None:
        """Stop the timer and a flush under way (a send held up by a slow network), then send
        what is left: the last output goes out before the result."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        flushing, self._flushing = self._flushing, None
        if flushing is not None:
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
            self._flushing = None
        await self.flush()


class CommandExecution:
    """One running command. ``run`` returns the JobResult; ``stop`` ends it early."""

    def __init__(self, job_id: int, spec: m.CommandSpec, send: Send) -> None:
        self.job_id = job_id
        self.spec = spec
        self.streamer = _Streamer(job_id, send)
        self.captures: dict[Stream, _Capture] = {"stdout": _Capture(), "stderr": _Capture()}
        # done once stop() was called: a future (made by run(), on its loop), not an Event, so
        # that run() waits for it without a task of its own
        self._stopped: asyncio.Future[None] | None = None
        self._stop_asked = False
        self._stop_status: m.AgentJobStatus = "cancelled"
        self._stop_message = ""
        self.pid: int | None = None
        self.codepage = UTF8

    def stop(self, status: m.AgentJobStatus = "cancelled", message: str = "") -> None:
        self._stop_status, self._stop_message, self._stop_asked = status, message, True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def _output(self, stream: Stream, chunk: bytes) -> None:
        """A chunk of ``stream``; b"" at its end."""
        if chunk:
            self.captures[stream].add(chunk)
            self.streamer.feed(stream, chunk)
        else:
            self.streamer.feed(stream, b"", final=True)

    async def _read(self, stream: Stream, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(READ_SIZE):
            self._output(stream, chunk)
        self._output(stream, b"")

    def _result(
        self, status: m.AgentJobStatus, started: float, exit_code: int | None, message: str
    ) -> m.JobResult:
        out, err = self.captures["stdout"], self.captures["stderr"]
        return m.JobResult(
            job_id=self.job_id,
            status=status,
            exit_code=exit_code,
            stdout=out.text(self.codepage),
            stderr=err.text(self.codepage),
            started_at=started,
            finished_at=time.time(),
            message=message,
            truncated=out.truncated or err.truncated,
        )

    async def _complete(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        assert proc.stderr is not None
        await asyncio.gather(
            self._read("stdout", proc.stdout), self._read("stderr", proc.stderr), proc.wait()
        )

    async def run(self, on_started: Callable[[], Awaitable[None]]) -> m.JobResult:
        started = time.time()
        refused = await sudo_refusal(self.spec)
        if refused is not None:
            return self._result("failed", started, None, refused)
        try:
            proc, script, self.codepage = await spawn(self.spec)
        except FileNotFoundError as exc:
            missing = self.spec.interpreter
            named = os.path.basename(str(exc.filename or ""))
            if missing in ("bash", "zsh", "powershell") and named in (missing, "pwsh"):
                problem = f"cannot start command: {missing} is not installed on this computer ({exc})"
            else:
                problem = f"cannot start command: {exc}"
            return self._result("failed", started, None, problem)
        except OSError as exc:
            return self._result("failed", started, None, f"cannot start command: {exc}")
        self.pid = proc.pid
        self.streamer.use_codepage(self.codepage)
        # A DirectProcess ends in a future of its own (no task); asyncio's process in a task
        # that reads both pipes and waits for it.
        completion: asyncio.Future[None] = (
            proc.watch(self._output)
            if isinstance(proc, DirectProcess)
            else asyncio.create_task(self._complete(proc))
        )
        stopped = self._stopped = asyncio.get_running_loop().create_future()
        if self._stop_asked:
            stopped.set_result(None)
        try:
            await on_started()
            timeout = self.spec.timeout_sec if self.spec.timeout_sec > 0 else None
            await asyncio.wait({completion, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            status: m.AgentJobStatus
            if completion.done():
                status, message = ("succeeded" if proc.returncode == 0 else "failed"), ""
            else:
                if self._stop_asked:
                    status, message = self._stop_status, self._stop_message
                else:
                    status, message = "timeout", f"timed out after {self.spec.timeout_sec} s"
                await kill_tree(proc.pid)
                # Pipes close once the tree is dead; an escaped process could keep them open.
                await asyncio.wait({completion}, timeout=DRAIN_AFTER_KILL_SEC)
            return self._result(status, started, proc.returncode, message)
        except asyncio.CancelledError:
            await asyncio.shield(kill_tree(proc.pid))
            raise
        finally:
            if isinstance(proc, DirectProcess):
                proc.close()
            else:
                if not completion.done():
                    completion.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await completion
            remove_script(script)
            # Whatever was read and not sent yet goes out before the result does.
            await self.streamer.close()
