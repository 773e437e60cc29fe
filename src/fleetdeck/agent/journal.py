"""The job journal: what makes job execution exactly-once across reconnects and restarts.

A job id is recorded as ``running`` *before* its process starts (a line appended to the
journal file: in the kernel's page cache, so it survives the agent's process dying), and made
durable with fsync (:meth:`Journal.sync`) by the job runner's fsync thread a quarter of a
second later, together with the starts appended meanwhile, unless the server has acknowledged
all those jobs' results by then (``JobRunner``, ``SYNC_DELAY_SEC``). The result is kept until
the server acknowledges it. So:

* a ``JobRun`` redelivered after a reconnect is recognised and not run again;
* a result lost with the connection is resent on the next connection;
* an agent that died mid-job (crashed, killed, OOM) never re-runs it (a side-effecting command
  running twice is worse than a failure report); the entry becomes a failed result at the next
  start.
* A power loss or kernel crash between the process start and the end of the fsync (at most
  ~0.25 s and the fsync itself; never for a job whose result the server has acknowledged, since
  the server's record of it then decides) can lose the entry: after the reboot the agent does
  not list the job in its hello, and the server queues it again (``JobService.on_hello``: a
  job sent but not held is taken for a lost frame), so that job runs a second time. That
  window is what fan-out latency is traded for (docs/performance.md); before, the fsync came
  first and the window was between the fsync and the start, where a power loss made the job
  fail without running. Most jobs of a fan-out end and are acknowledged within the window and
  cost no fsync at all.

Results and acknowledgements are written later and without fsync (:meth:`Journal.flush`): one
lost to a crash only makes the agent report the job failed ("agent restarted") or resend a
result, which the server ignores for a job that is final already.

**The file** (``jobs.jsonl``) is a log: one JSON record per line (a job started, a job
finished with its result, ids acknowledged), appended, never rewritten in place. Appending is
a few microseconds; rewriting the whole journal and renaming it over the old one, as this
module did before, took 0.2-0.5 ms of the job's path on ext4 (a rename or truncation over a
file with unwritten data starts its write-back: ``auto_da_alloc``), in every agent of a
fan-out at once. When the log has grown past :data:`COMPACT_MIN_BYTES` and twice what it held
after the last compaction, :meth:`Journal.flush` (off the jobs' path) replaces it with one
snapshot record (written, fsynced, renamed: readers see the old or the new file). A last line
cut short by a crash is dropped at the next start (and cut off the file); any other line that
cannot be read makes the file unreadable: it is kept aside as ``jobs.jsonl.unreadable`` and
the agent starts with an empty journal. A ``jobs.json`` written by an earlier agent version
(the whole journal as one JSON document) is read once and replaced by the log.

The last :data:`ACKED_KEEP` acknowledged ids are remembered too, to catch late duplicates.
Size stays bounded: entries leave the journal when acknowledged, and compaction drops the
records that no longer matter.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path
from typing import Literal

import msgspec

from fleetdeck.agent.config import atomic_write, ensure_dir, sync_file
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

ACKED_KEEP = 1000
RESTARTED_MESSAGE = "agent restarted while the job was running"
FILE_NAME = "jobs.jsonl"
LEGACY_NAME = "jobs.json"  # agents before the log: the whole journal, rewritten on every change
# Compact when the log is past this size and twice its size after the last compaction: the
# file stays within a small multiple of what it must hold, and each record is rewritten O(1)
# times on average.
COMPACT_MIN_BYTES = 256 * 1024


class Entry(msgspec.Struct, omit_defaults=True):
    state: Literal["running", "finished"]
    started_at: float
    result: m.JobResult | None = None


class Started(msgspec.Struct, tag="start"):
    id: int
    at: float


class Finished(msgspec.Struct, tag="finish"):
    result: m.JobResult


class Acked(msgspec.Struct, tag="ack"):
    ids: list[int]


class Snapshot(msgspec.Struct, tag="snapshot"):
    """The whole journal: the first record of a compacted log."""

    jobs: dict[int, Entry] = msgspec.field(default_factory=dict)
    acked: list[int] = msgspec.field(default_factory=list)


Record = Started | Finished | Acked | Snapshot
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Record)


class _Legacy(msgspec.Struct):
    """``jobs.json`` of agents before the log."""

    jobs: dict[int, Entry] = msgspec.field(default_factory=dict)
    acked: list[int] = msgspec.field(default_factory=list)


class Journal:
    """Durable record of jobs this agent accepted, as an append-only log (``jobs.jsonl``).

    Every mutation is one record; the journal holds only in-flight and unacknowledged jobs,
    and the log is compacted to a snapshot of them as it grows.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / FILE_NAME
        self._jobs: dict[int, Entry] = {}
        self._acked: deque[int] = deque(maxlen=ACKED_KEEP)
        self._acked_set: set[int] = set()
        self._pending: list[bytes] = []  # records made in memory, not yet in the file
        self._size = 0  # bytes in the file
        self._compacted_size = 0  # bytes in the file after the last compaction
        self._dir_ready = False  # ensure_dir ran (once: not a mkdir and chmod per job)
        # The file was created by a write without fsync: the next sync() fsyncs the directory
        # too (its new name). Appends to the file need only the file's own fsync.
        self._name_unsynced = False
        self._load()

    @property
    def dirty(self) -> bool:
        """Changed in memory since the last write."""
        return bool(self._pending)

    # ------------------------------------------------------------ reading the file

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._load_legacy()
            return
        lines = raw.split(b"\n")
        torn = lines.pop()  # after the last newline: empty unless a write was cut short
        try:
            records = [_DECODER.decode(line) for line in lines]
        except msgspec.DecodeError as exc:
            self._set_aside(self.path, exc)
            return
        for record in records:
            self._apply(record)
        self._size = len(raw) - len(torn)
        if records and isinstance(records[0], Snapshot):
            self._compacted_size = len(lines[0]) + 1
        if torn:
            log.warning(
                "the job journal %s ended in a cut-off record (a crash while writing); dropped", self.path
            )
            with open(self.path, "r+b") as f:
                f.truncate(self._size)

    def _load_legacy(self) -> None:
        legacy = self.dir / LEGACY_NAME
        try:
            raw = legacy.read_bytes()
        except FileNotFoundError:
            return
        try:
            data = msgspec.json.decode(raw, type=_Legacy)
        except msgspec.DecodeError as exc:
            self._set_aside(legacy, exc)
            return
        self._apply(Snapshot(jobs=data.jobs, acked=data.acked))
        self._compact()  # the log now holds it all: the old file goes
        legacy.unlink()

    @staticmethod
    def _set_aside(path: Path, exc: Exception) -> None:
        aside = path.with_name(path.name + ".unreadable")
        log.error(
            "the job journal %s cannot be read (%s); kept as %s, starting with an empty one:"
            " the server queues again the jobs this agent does not list",
            path,
            exc,
            aside,
        )
        path.replace(aside)

    def _apply(self, record: Record) -> None:
        """One record's change to the journal in memory: how a mutation is made, and how the
        file is read back (so the two cannot disagree)."""
        if isinstance(record, Started):
            self._jobs[record.id] = Entry(state="running", started_at=record.at)
        elif isinstance(record, Finished):
            result = record.result
            entry = self._jobs.get(result.job_id)
            started = entry.started_at if entry else (result.started_at or 0.0)
            self._jobs[result.job_id] = Entry(state="finished", started_at=started, result=result)
        elif isinstance(record, Acked):
            for job_id in record.ids:
                entry = self._jobs.get(job_id)
                if entry is None or entry.state != "running":
                    self._jobs.pop(job_id, None)
                self._remember_acked(job_id)
        else:
            self._jobs = dict(record.jobs)
            self._acked.clear()
            self._acked_set.clear()
            for job_id in record.acked[-ACKED_KEEP:]:
                self._remember_acked(job_id)

    # ------------------------------------------------------------ writing the file

    def _record(self, record: Record, write: bool, sync: bool = False) -> None:
        """Apply ``record`` in memory; ``write``: append it (after the records waiting in
        memory, so the file keeps their order) now; ``sync``: then fsync the file."""
        self._apply(record)
        self._pending.append(_ENCODER.encode(record) + b"\n")
        if write:
            self._append(sync)

    def _append(self, sync: bool) -> None:
        if not self._pending:
            return
        if not self._dir_ready:
            ensure_dir(self.dir)
            self._dir_ready = True
        data = b"".join(self._pending)
        created = self._size == 0
        try:
            fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600
            )
        except FileNotFoundError:  # the state directory went away: make it again next time
            self._dir_ready = False
            raise
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            if sync:
                sync_file(self.path, data_too=False)  # the file's name, in its directory
            else:
                self._name_unsynced = True
        self._pending.clear()
        self._size += len(data)

    def _compact(self) -> None:
        """Replace the log by one snapshot record (``atomic_write``: written, fsynced, renamed
        over it, directory fsynced). Rare, so the general helper's extra system calls do not
        matter here as they would on every job's start."""
        if not self._dir_ready:
            ensure_dir(self.dir)
            self._dir_ready = True
        data = _ENCODER.encode(Snapshot(jobs=self._jobs, acked=list(self._acked))) + b"\n"
        atomic_write(self.path, data)
        self._pending.clear()  # the snapshot holds them
        self._size = self._compacted_size = len(data)

    def sync(self) -> None:
        """fsync what the last write without fsync left in the page cache (blocking: call it in
        a thread): the file, and its directory only if the file is new (an append changes no
        name; in a fan-out that is one fsync less per agent)."""
        name_too, self._name_unsynced = self._name_unsynced, False
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:  # nothing written yet
            return
        try:
            os.fsync(fd)
            if name_too:
                sync_file(self.path, data_too=False)
        except OSError:
            self._name_unsynced |= name_too  # asked again by the next sync
            raise
        finally:
            os.close(fd)

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
        """Record ``job_id`` as running, in the file at once. ``durable=False`` appends without
        fsync (safe against the agent dying, not yet against a power loss): the caller runs
        :meth:`sync` soon, off the job's path (JobRunner does, while the process starts)."""
        self._record(Started(id=job_id, at=at), write=True, sync=durable)

    def finish(self, result: m.JobResult, durable: bool = True) -> None:
        """Record the result. ``durable=False`` records it in memory only, so that the result
        can go out before the write (:meth:`flush`) instead of after it: a fan-out's results
        then wait for no disk. The crash window that opens is harmless: the ``running`` entry
        on disk becomes a failed result at the next start, and the server ignores a result
        for a job that is final already."""
        self._record(Finished(result=result), write=durable, sync=durable)

    def flush(self, durable: bool = True) -> None:
        """Write what :meth:`finish` (``durable=False``) or :meth:`ack` (``save=False``) recorded
        in memory; ``durable=False``: without fsync. Compacts the log when it has grown enough
        (that write is fsynced whatever ``durable`` says: it replaces the file)."""
        if self._size + sum(map(len, self._pending)) > max(COMPACT_MIN_BYTES, 2 * self._compacted_size):
            self._compact()
        else:
            self._append(sync=durable)

    def ack(self, job_ids: list[int], save: bool = True) -> list[int]:
        """Forget acknowledged results; returns the ids that were actually removed. ``save=False``
        leaves the write to a later :meth:`flush` (a lost ack only makes the result go out again).

        A still-running job is never dropped by an ack (the server cannot acknowledge a
        result it has not received), but its id is remembered so it is not run again.
        """
        ids = list(dict.fromkeys(job_ids))
        removed = [i for i in ids if (e := self._jobs.get(i)) is not None and e.state != "running"]
        self._record(Acked(ids=ids), write=save, sync=save)
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
            self._record(Finished(result=result), write=False)
            results.append(result)
        if results:
            self.flush()
        return results
