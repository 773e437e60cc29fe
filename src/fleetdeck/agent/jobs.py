"""The job runner: accepts JobRun frames, runs them once, reports, and remembers results.

It knows nothing about websockets: it is given an async ``send`` callback (which may drop
frames while disconnected) and a :class:`~fleetdeck.agent.journal.Journal`. That keeps it
testable without a server, and lets jobs survive reconnects: a job keeps running while the
connection is down and its result is delivered on the next connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from fleetdeck.agent import actions, files
from fleetdeck.agent.command import CommandExecution, Send
from fleetdeck.agent.journal import Journal
from fleetdeck.agent.packages import KINDS as PACKAGE_KINDS
from fleetdeck.agent.packages import PackageRunner
from fleetdeck.agent.power import PowerActions
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

STOPPED_MESSAGE = "agent stopped while the job was running"
RUNNING_NOTICE_SEC = 0.25
# Results and acks reach the journal file this long after they happened, in one write (without
# fsync): off the path of the other jobs of a fan-out, and usually one write for both.
LAZY_WRITE_SEC = 0.5
# The journal's fsync thread ends after this long without work (a new one starts with the next job).
SYNC_THREAD_IDLE_SEC = 60.0
# A job's start record is fsynced this long after it was appended, with every start appended
# meanwhile (a group commit), and not at all if the server has acknowledged all those jobs'
# results by then: its record of the job then decides, whatever the journal loses. A quick
# job (most of a fan-out) costs no fsync; a longer one is durable after this long.
SYNC_DELAY_SEC = 0.25


class JobRunner:
    """Runs jobs concurrently, each exactly once (package jobs one after another, see
    :class:`~fleetdeck.agent.packages.PackageRunner`).

    Public interface: :meth:`submit` (a JobRun arrived), :meth:`cancel` (JobCancel),
    :meth:`ack` (ResultAck), :meth:`unacked_results` (to resend after a reconnect),
    :meth:`recover` (once at start), :meth:`wait` / :meth:`drain` (tests),
    :meth:`shutdown` (SIGTERM).
    """

    def __init__(
        self,
        journal: Journal,
        send: Send,
        packages: PackageRunner | None = None,
        power: PowerActions | None = None,
    ) -> None:
        self.journal = journal
        self._send = send
        self.packages = packages
        self.power = power or (packages.power if packages is not None else PowerActions(simulate=True))
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._executions: dict[int, CommandExecution] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._write_handle: asyncio.TimerHandle | None = None
        # The fsync thread (_sync_soon): asked through a condition, it never wakes the event loop.
        self._sync_cond = threading.Condition()
        self._sync_wanted = False  # an fsync was asked for and has not started
        self._sync_busy = False  # an fsync is running
        self._sync_thread: threading.Thread | None = None
        self._sync_due = 0.0  # monotonic time the asked-for fsync runs at (SYNC_DELAY_SEC)
        self._sync_now = False  # drain(): do not wait for _sync_due
        self._unsynced: set[int] = set()  # jobs started since the last fsync, not yet acked

    def recover(self) -> list[m.JobResult]:
        """Turn jobs a dead predecessor left ``running`` into failed results (never re-run)."""
        results = self.journal.recover()
        for result in results:
            log.warning("job %s was running when the agent stopped; reporting it failed", result.job_id)
        return results

    def known_ids(self) -> list[int]:
        return self.journal.known_ids()

    def unacked_results(self) -> list[m.JobResult]:
        return self.journal.unacked_results()

    def submit(self, job: m.JobSpec) -> bool:
        """Start ``job`` unless this id was seen before. Returns whether it was started.

        The journal entry is written synchronously, before the task is created (so a duplicate
        JobRun arriving a moment later is already recognised, and an agent that dies from here
        on reports the job failed rather than running it again); its fsync runs in a worker
        thread meanwhile, not before the process starts (fleetdeck.agent.journal says what a
        power loss in between can do).
        """
        if self.journal.seen(job.id):
            entry = self.journal.get(job.id)
            if entry is not None and entry.result is not None:
                # The server evidently missed our result: send it again right away.
                self._spawn_send(entry.result)
            log.info("job %s already known; not running it again", job.id)
            return False
        self.journal.start(job.id, time.time(), durable=False)
        self._sync_soon(job.id)
        if job.kind in PACKAGE_KINDS and self.packages is not None:
            self.packages.enqueue(job.id)
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.id, None))
        return True

    def _spawn_send(self, msg: m.Message) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self._send(msg))
        self._background.add(task)  # keep a reference until it is done
        task.add_done_callback(self._background.discard)

    async def _run(self, job: m.JobSpec) -> None:
        if job.kind == "command" and job.command is not None:
            # No "accepted" notice: the server marked the job sent when it handed it over, and
            # the hello of a reconnect lists it. "running" goes out only for a command that is
            # still running after RUNNING_NOTICE_SEC; most finish sooner, and then the result
            # alone (which carries started_at) says everything: one frame instead of three.
            execution = CommandExecution(job.id, job.command, self._send)
            self._executions[job.id] = execution
            notice: list[asyncio.TimerHandle] = []

            async def started() -> None:
                update = m.JobUpdate(job_id=job.id, status="running", at=time.time())
                loop = asyncio.get_running_loop()
                notice.append(loop.call_later(RUNNING_NOTICE_SEC, self._spawn_send, update))

            try:
                result = await execution.run(started)
            except Exception as exc:  # a bug must not leave the job 'running' forever
                log.exception("job %s crashed the runner", job.id)
                result = m.JobResult(
                    job_id=job.id, status="failed", finished_at=time.time(), message=f"agent error: {exc}"
                )
            finally:
                self._executions.pop(job.id, None)
                for handle in notice:
                    handle.cancel()
        elif job.kind in PACKAGE_KINDS and self.packages is not None:
            await self._send(m.JobUpdate(job_id=job.id, status="accepted", at=time.time()))
            result, post = await self.packages.run(job)
            self.journal.finish(result)
            log.info("job %s finished: %s (exit %s)", job.id, result.status, result.exit_code)
            await self._send(result)
            await self.packages.after(post)
            return
        elif job.kind == files.KIND:
            result = await files.run(job, self.packages.access if self.packages is not None else None)
        elif job.kind == actions.KIND:
            result, power = await actions.run(job, self.power)
            self.journal.finish(result)
            log.info("job %s finished: %s", job.id, result.status)
            await self._send(result)
            if power is not None:
                await self.power.run(*power)
            return
        else:
            problem = f"unsupported job kind: {job.kind}"
            if job.kind == "command":
                problem = "command job without a command"
            result = m.JobResult(job_id=job.id, status="failed", finished_at=time.time(), message=problem)
        # In memory first (an ack that comes back at once finds the job finished), out to the
        # server, then to disk a little later, with the ack (Journal.finish, LAZY_WRITE_SEC).
        self.journal.finish(result, durable=False)
        log.info("job %s finished: %s (exit %s)", job.id, result.status, result.exit_code)
        await self._send(result)
        self._write_soon()

    def _write_soon(self) -> None:
        """Write the journal's in-memory changes LAZY_WRITE_SEC from now (at once outside a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.persist()
            return
        if self._write_handle is None:
            self._write_handle = loop.call_later(LAZY_WRITE_SEC, self.persist)

    def persist(self) -> None:
        """Write what the journal holds in memory only (results, acks), now, without fsync."""
        if self._write_handle is not None:
            self._write_handle.cancel()
            self._write_handle = None
        if not self.journal.dirty:
            return
        try:
            self.journal.flush(durable=False)
        except OSError as exc:  # the results went out; if they are acked, nothing is lost
            log.error("cannot record job results in the journal: %s", exc)

    def _sync_soon(self, job_id: int) -> None:
        """fsync the journal SYNC_DELAY_SEC from now in a thread of the runner's own (one at a
        time; the starts appended meanwhile go with it), unless every job started since the
        last fsync has been acknowledged by then; at once outside a loop.

        Not ``asyncio.to_thread``: its answer comes back through the loop (a wake-up, a future,
        a task step per job) although nobody waits for it. Here the loop only notifies a
        condition; :meth:`drain` waits for the fsyncs asked so far."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._sync_once()
            return
        with self._sync_cond:
            self._unsynced.add(job_id)
            if not self._sync_wanted:
                self._sync_wanted = True
                self._sync_due = time.monotonic() + SYNC_DELAY_SEC
            if self._sync_thread is None:
                self._sync_thread = threading.Thread(
                    target=self._sync_worker, name="fleetdeck-journal-sync", daemon=True
                )
                self._sync_thread.start()
            else:
                self._sync_cond.notify_all()

    def _sync_worker(self) -> None:
        cond = self._sync_cond
        while True:
            with cond:
                if not self._sync_wanted and not cond.wait_for(
                    lambda: self._sync_wanted, SYNC_THREAD_IDLE_SEC
                ):
                    self._sync_thread = None  # idle: a later _sync_soon starts a new thread
                    return
                while not self._sync_now and (left := self._sync_due - time.monotonic()) > 0:
                    cond.wait(left)
                self._sync_wanted = self._sync_now = False
                needed, self._unsynced = self._unsynced, set()
                self._sync_busy = bool(needed)
                cond.notify_all()  # drain() may be waiting: nothing more to do when none is needed
            if not needed:  # all acknowledged: the server holds their results
                continue
            try:
                self._sync_once()
            finally:
                with cond:
                    self._sync_busy = False
                    cond.notify_all()

    def _synced(self) -> bool:
        with self._sync_cond:
            return not self._sync_wanted and not self._sync_busy

    def _wait_synced(self) -> None:
        with self._sync_cond:
            self._sync_now = self._sync_wanted  # no delay: the caller waits for it
            self._sync_cond.notify_all()
            self._sync_cond.wait_for(lambda: not self._sync_wanted and not self._sync_busy)

    def _sync_once(self) -> None:
        try:
            self.journal.sync()
        except OSError as exc:
            log.error("cannot fsync the job journal: %s", exc)

    def busy(self) -> bool:
        """Is a job running?"""
        return bool(self._tasks)

    def cancel(self, job_id: int) -> bool:
        """Kill the job's process tree; its result will say ``cancelled``."""
        if self.packages is not None and self.packages.cancel(job_id):
            return True
        execution = self._executions.get(job_id)
        if execution is None:
            log.info("cancel for job %s, which is not running here", job_id)
            return False
        execution.stop("cancelled", "cancelled by the server")
        return True

    def ack(self, job_ids: list[int]) -> None:
        """Forget acknowledged results: in memory now, in the file with the next write."""
        removed = self.journal.ack(job_ids, save=False)
        with self._sync_cond:
            self._unsynced.difference_update(job_ids)  # nothing of theirs needs an fsync now
        log.debug("results acknowledged: %s", removed)
        self._write_soon()

    async def wait(self, job_id: int) -> None:
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for every job, send and fsync, then write the journal (tests; shutdown)."""
        while self._tasks or self._background:
            await asyncio.gather(*self._tasks.values(), *self._background, return_exceptions=True)
        if not self._synced():
            await asyncio.to_thread(self._wait_synced)
        self.persist()

    async def shutdown(self) -> None:
        """Kill every running job's process tree and record it as failed (SIGTERM path)."""
        if self.packages is not None:
            self.packages.stop_all(STOPPED_MESSAGE)
        for execution in list(self._executions.values()):
            execution.stop("failed", STOPPED_MESSAGE)
        await self.drain()
