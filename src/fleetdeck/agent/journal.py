"""The job journal: what makes job execution exactly-once across reconnects and restarts.

A job id is written as ``running`` *before* its process starts (a new file renamed over the old
one: in the kernel's page cache, so it survives the agent's process dying), and made durable
with fsync right after, in a worker thread, while the process runs (:meth:`Journal.sync`). The
result is kept until the server acknowledges it. So:

* a ``JobRun`` redelivered after a reconnect is recognised and not run again;
* a result lost with the connection is resent on the next connection;
* an agent that died mid-job (crashed, killed, OOM) never re-runs it (a side-effecting command
  running twice is worse than a failure report); the entry becomes a failed result at the next
  start.
* A power loss or kernel crash in the few milliseconds between the process start and the end
  of the fsync can lose the entry: after the reboot the agent does not list the job in its
  hello, and the server queues it again (``JobService.on_hello``: a job sent but not held is
  taken for a lost frame), so that job runs a second time. That window is what fan-out latency
  is traded for (docs/performance.md); before, the fsync came first and the window was between
  the fsync and the start, where a power loss made the job fail without running.

Results and acknowledgements are written later and without fsync (:meth:`Journal.flush`): one
lost to a crash only makes the agent report the job failed ("agent restarted") or resend a
result, which the server ignores for a job that is final already.

The last :data:`ACKED_KEEP` acknowledged ids are remembered too, to catch late duplicates.
Size stays bounded: entries leave the journal when acknowledged. A journal file that cannot
be read (torn by a power loss on a file system that does not order the rename after the data)
is kept aside as ``jobs.json.unreadable`` and the agent starts with an empty one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from pathlib import Path
from typing import Literal

import msgspec

from fleetdeck.agent.config import ensure_dir, sync_file
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

ACKED_KEEP = 1000
RESTARTED_MESSAGE = "agent restarted while the job was running"


class Entry(msgspec.Struct, omit_defaults=True):
    state: Literal["running", "finished"]
    started_at: float
    result: m.JobResult | None = None


class _File(msgspec.Struct):
    jobs: dict[int, Entry] = msgspec.field(default_factory=dict)
    acked: list[int] = msgspec.field(default_factory=list)


class Journal:
    """Durable record of jobs this agent accepted, persisted as ``jobs.json``.

    Every mutation rewrites the file atomically; the journal holds only in-flight and
    unacknowledged jobs, so it stays small.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / "jobs.json"
        self._jobs: dict[int, Entry] = {}
        self._acked: deque[int] = deque(maxlen=ACKED_KEEP)
        self._acked_set: set[int] = set()
        self.dirty = False  # changed in memory since the last write
        self._dir_ready = False  # ensure_dir ran (once: not a mkdir and chmod per job)
        self._load()

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            data = msgspec.json.decode(raw, type=_File)
        except msgspec.DecodeError as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.error(
                "the job journal %s cannot be read (%s); kept as %s, starting with an empty one:"
                " the server queues again the jobs this agent does not list",
                self.path,
                exc,
                aside,
            )
            self.path.replace(aside)
            return
        self._jobs = dict(data.jobs)
        for job_id in data.acked[-ACKED_KEEP:]:
            self._remember_acked(job_id)

    def _save(self, sync: bool = True) -> None:
        """Write the whole journal to ``jobs.json.tmp`` and rename it over ``jobs.json`` (readers
        see the old or the new file, never a mix); ``sync``: then fsync file and directory.

        What :func:`~fleetdeck.agent.config.atomic_write` does, in fewer system calls, because
        it runs once per job, before the job's process starts: a fixed temporary name (this
        process is the journal's only writer, and every write comes from the event loop's
        thread) instead of ``mkstemp``'s random one, the mode given to ``open``, and the state
        directory made once."""
        if not self._dir_ready:
            ensure_dir(self.dir)
            self._dir_ready = True
        data = msgspec.json.encode(_File(jobs=self._jobs, acked=list(self._acked)))
        tmp = f"{self.path}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except FileNotFoundError:  # the state directory went away: make it again next time
            self._dir_ready = False
            raise
        if sync:
            sync_file(self.path, data_too=False)
        self.dirty = False

    def sync(self) -> None:
        """fsync what the last write without fsync left in the page cache (blocking: call it in
        a thread)."""
        with contextlib.suppress(FileNotFoundError):  # nothing written yet
            sync_file(self.path)

    def _remember_acked(self, job_id: int) -> None:
        if job_id in self._acked_set:
            return
        if len(self._acked) == self._acked.maxlen:
            self._acked_set.discard(self._acked[0])
        self._acked.append(job_id)
        self._acked_set.add(job_id)

    # ------------------------------------------------------------ queries

    def seen(self, job_id: int) -> bool:
        """True if this id was ever accepted (running, unacknowledged, or recently acked)."""
        return job_id in self._jobs or job_id in self._acked_set

    def get(self, job_id: int) -> Entry | None:
        return self._jobs.get(job_id)

    def known_ids(self) -> list[int]:
        """Ids to announce in Hello: accepted and not yet acknowledged."""
        return sorted(self._jobs)

    def unacked_results(self) -> list[m.JobResult]:
        return [e.result for _, e in sorted(self._jobs.items()) if e.result is not None]

    def running_ids(self) -> list[int]:
        return sorted(i for i, e in self._jobs.items() if e.state == "running")

    # ------------------------------------------------------------ mutations

    def start(self, job_id: int, at: float, durable: bool = True) -> None:
        """Record ``job_id`` as running. ``durable=False`` writes the file without fsync (safe
        against the agent dying, not yet against a power loss): the caller runs :meth:`sync`
        soon, off the job's path (JobRunner does, while the process starts)."""
        self._jobs[job_id] = Entry(state="running", started_at=at)
        self._save(sync=durable)

    def finish(self, result: m.JobResult, durable: bool = True) -> None:
        """Record the result. ``durable=False`` records it in memory only, so that the result
        can go out before the write (:meth:`flush`) instead of after it: a fan-out's results
        then wait for no disk. The crash window that opens is harmless: the ``running`` entry
        on disk becomes a failed result at the next start, and the server ignores a result
        for a job that is final already."""
        entry = self._jobs.get(result.job_id)
        started = entry.started_at if entry else (result.started_at or 0.0)
        self._jobs[result.job_id] = Entry(state="finished", started_at=started, result=result)
        self.dirty = True
        if durable:
            self._save()

    def flush(self, durable: bool = True) -> None:
        """Write what :meth:`finish` (``durable=False``) or :meth:`ack` (``save=False``) recorded
        in memory; ``durable=False``: without fsync."""
        self._save(sync=durable)

    def ack(self, job_ids: list[int], save: bool = True) -> list[int]:
        """Forget acknowledged results; returns the ids that were actually removed. ``save=False``
        leaves the write to a later :meth:`flush` (a lost ack only makes the result go out again).

        A still-running job is never dropped by an ack (the server cannot acknowledge a
        result it has not received), but its id is remembered so it is not run again.
        """
        removed: list[int] = []
        for job_id in job_ids:
            entry = self._jobs.get(job_id)
            if entry is not None and entry.state == "running":
                continue
            if self._jobs.pop(job_id, None) is not None:
                removed.append(job_id)
            self._remember_acked(job_id)
        self.dirty = True
        if save:
            self._save()
        return removed

    def recover(self, message: str = RESTARTED_MESSAGE, now: float | None = None) -> list[m.JobResult]:
        """Turn entries left ``running`` by a previous process into failed results.

        Called once at start, before any connection: those jobs' processes are gone (or
        orphaned), and re-running them could repeat side effects.
        """
        import time

        finished_at = time.time() if now is None else now
        results: list[m.JobResult] = []
        for job_id in self.running_ids():
            entry = self._jobs[job_id]
            result = m.JobResult(
                job_id=job_id,
                status="failed",
                started_at=entry.started_at,
                finished_at=finished_at,
                message=message,
            )
            self._jobs[job_id] = Entry(state="finished", started_at=entry.started_at, result=result)
            results.append(result)
        if results:
            self._save()
        return results
