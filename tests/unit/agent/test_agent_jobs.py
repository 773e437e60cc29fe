"""Job runner and journal, driven directly with a fake ``send`` (no server)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import psutil
import pytest

from fleetdeck.agent import jobs
from fleetdeck.agent.command import OUTPUT_CAP
from fleetdeck.agent.jobs import JobRunner
from fleetdeck.agent.journal import RESTARTED_MESSAGE, Journal
from fleetdeck.agent.power import RESTART, PowerActions
from fleetdeck.protocol import messages as m
from tests.waiting import async_wait_for


class Sink:
    """Collects what the runner sends, with arrival times."""

    def __init__(self) -> None:
        self.messages: list[m.Message] = []
        self.times: list[float] = []

    async def send(self, msg: m.Message) -> None:
        self.messages.append(msg)
        self.times.append(time.monotonic())

    def of(self, kind: type[m.Message]) -> list[m.Message]:
        return [msg for msg in self.messages if isinstance(msg, kind)]

    def result(self) -> m.JobResult:
        results = self.of(m.JobResult)
        assert len(results) == 1, self.messages
        result = results[0]
        assert isinstance(result, m.JobResult)
        return result


def cmd_job(
    job_id: int, command: str, timeout: int = 30, cwd: str | None = None, env: dict[str, str] | None = None
) -> m.JobSpec:
    spec = m.CommandSpec(command=command, timeout_sec=timeout, cwd=cwd, env=env or {})
    return m.JobSpec(id=job_id, kind="command", command=spec)


def on_disk(state_dir: Path) -> dict[int, str]:
    """Each job's state as the journal file says, read as a new agent process would."""
    reread = Journal(state_dir)
    return {job_id: entry.state for job_id in reread.known_ids() if (entry := reread.get(job_id))}


async def run_one(tmp_path: Path, job: m.JobSpec) -> Sink:
    sink = Sink()
    runner = JobRunner(Journal(tmp_path), sink.send)
    assert runner.submit(job)
    await runner.drain()
    return sink


def test_output_captured_and_updates_in_order(tmp_path: Path) -> None:
    sink = asyncio.run(run_one(tmp_path, cmd_job(1, "echo hello; echo oops >&2")))
    result = sink.result()
    assert result.status == "succeeded"
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert result.stderr == "oops\n"
    assert not result.truncated
    # a command that finishes at once reports only its result (with started_at)
    assert sink.of(m.JobUpdate) == []
    assert isinstance(sink.messages[-1], m.JobResult)
    assert result.started_at is not None and result.finished_at is not None


def test_a_command_still_running_reports_running(tmp_path: Path) -> None:
    sink = asyncio.run(run_one(tmp_path, cmd_job(11, "sleep 0.6; echo done")))
    updates = [u for u in sink.of(m.JobUpdate) if isinstance(u, m.JobUpdate)]
    assert [u.status for u in updates] == ["running"]
    assert sink.messages.index(updates[0]) < len(sink.messages) - 1  # before the result
    assert sink.result().stdout == "done\n"


def test_nonzero_exit_is_failed(tmp_path: Path) -> None:
    result = asyncio.run(run_one(tmp_path, cmd_job(2, "echo before; exit 3"))).result()
    assert result.status == "failed"
    assert result.exit_code == 3
    assert result.stdout == "before\n"


def test_cwd_and_env_are_applied(tmp_path: Path) -> None:
    job = cmd_job(
        3, 'pwd; echo "$FLEETDECK_T"; echo "$PATH" | grep -c /', cwd=str(tmp_path), env={"FLEETDECK_T": "v1"}
    )
    result = asyncio.run(run_one(tmp_path, job)).result()
    assert result.stdout.splitlines() == [str(tmp_path), "v1", "1"]  # env is merged over os.environ


def test_bash_interpreter(tmp_path: Path) -> None:
    job = m.JobSpec(
        id=4, kind="command", command=m.CommandSpec(command="echo ${BASH_VERSION:+bash}", interpreter="bash")
    )
    assert asyncio.run(run_one(tmp_path, job)).result().stdout == "bash\n"


def test_unsupported_kind_fails(tmp_path: Path) -> None:
    result = asyncio.run(run_one(tmp_path, m.JobSpec(id=5, kind="package_install"))).result()
    assert result.status == "failed"
    assert result.message == "unsupported job kind: package_install"


def test_output_is_capped_keeping_the_head(tmp_path: Path) -> None:
    job = cmd_job(6, "echo START; head -c 1500000 /dev/zero | tr '\\0' a; echo; echo END")
    result = asyncio.run(run_one(tmp_path, job)).result()
    assert result.truncated
    assert len(result.stdout.encode()) == OUTPUT_CAP
    assert result.stdout.startswith("START\naaa")
    assert "END" not in result.stdout


def test_chunks_stream_before_the_result(tmp_path: Path) -> None:
    sink = asyncio.run(run_one(tmp_path, cmd_job(7, "echo first; sleep 0.6; echo second")))
    outputs = [o for o in sink.of(m.JobOutput) if isinstance(o, m.JobOutput)]
    assert "".join(o.data for o in outputs) == "first\nsecond\n"
    assert outputs[0].data == "first\n"
    assert [o.seq for o in outputs] == list(range(1, len(outputs) + 1))
    first_at = sink.times[sink.messages.index(outputs[0])]
    result_at = sink.times[sink.messages.index(sink.result())]
    assert result_at - first_at > 0.4  # the first chunk was sent while the command still ran


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    # Two background children (one a nested shell) plus the shell itself.
    cmd = f"sleep 100 & echo $! >> {pidfile}; sh -c 'sleep 100' & echo $! >> {pidfile}; "
    cmd += f"echo $$ >> {pidfile}; wait"
    started = time.monotonic()
    result = asyncio.run(run_one(tmp_path, cmd_job(8, cmd, timeout=1))).result()
    assert time.monotonic() - started < 8
    assert result.status == "timeout"
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3
    assert all(_gone(pid) for pid in pids), [(p, psutil.pid_exists(p)) for p in pids]


def test_cancel_kills_and_reports_cancelled(tmp_path: Path) -> None:
    async def scenario() -> Sink:
        sink = Sink()
        runner = JobRunner(Journal(tmp_path), sink.send)
        runner.submit(cmd_job(9, f"echo $$ > {tmp_path / 'pid'}; sleep 60"))
        await async_wait_for(
            lambda: any(isinstance(u, m.JobUpdate) and u.status == "running" for u in sink.messages),
            what="job 9 reported running",
        )
        assert runner.cancel(9)
        await runner.drain()
        return sink

    started = time.monotonic()
    result = asyncio.run(scenario()).result()
    assert time.monotonic() - started < 8
    assert result.status == "cancelled"
    assert _gone(int((tmp_path / "pid").read_text()))


def test_same_job_id_never_runs_twice(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = cmd_job(10, f"echo run >> {marker}; sleep 0.2")

    async def scenario() -> tuple[bool, bool, bool]:
        sink = Sink()
        runner = JobRunner(Journal(tmp_path), sink.send)
        first = runner.submit(job)
        during = runner.submit(job)  # redelivered while running
        await runner.drain()
        after = runner.submit(job)  # redelivered after it finished, result not yet acked
        await runner.drain()
        return first, during, after

    assert asyncio.run(scenario()) == (True, False, False)

    async def after_restart_and_ack() -> bool:
        runner = JobRunner(Journal(tmp_path), Sink().send)  # a new process reads the journal
        again = runner.submit(job)
        runner.ack([10])
        runner2 = JobRunner(Journal(tmp_path), Sink().send)
        again2 = runner2.submit(job)  # acked ids are remembered too
        await runner2.drain()
        return again or again2

    assert asyncio.run(after_restart_and_ack()) is False
    assert marker.read_text() == "run\n"


def test_running_entry_at_start_becomes_failed_result(tmp_path: Path) -> None:
    Journal(tmp_path).start(11, time.time())  # a previous agent died mid-job
    sink = Sink()
    runner = JobRunner(Journal(tmp_path), sink.send)
    assert runner.known_ids() == [11]
    recovered = runner.recover()
    assert [r.job_id for r in recovered] == [11]
    results = runner.unacked_results()
    assert len(results) == 1
    assert results[0].status == "failed"
    assert results[0].message == RESTARTED_MESSAGE

    async def redeliver() -> bool:
        started = runner.submit(cmd_job(11, "true"))
        await runner.drain()
        return started

    assert asyncio.run(redeliver()) is False  # not re-run ...
    assert sink.messages == results  # ... only its known result is sent again
    assert Journal(tmp_path).unacked_results() == results  # persisted


def test_acked_results_are_removed(tmp_path: Path) -> None:
    async def scenario() -> JobRunner:
        runner = JobRunner(Journal(tmp_path), Sink().send)
        runner.submit(cmd_job(12, "true"))
        runner.submit(cmd_job(13, "true"))
        await runner.drain()
        return runner

    runner = asyncio.run(scenario())
    assert [r.job_id for r in runner.unacked_results()] == [12, 13]
    runner.ack([12])
    assert [r.job_id for r in runner.unacked_results()] == [13]
    reloaded = Journal(tmp_path)
    assert [r.job_id for r in reloaded.unacked_results()] == [13]
    assert reloaded.known_ids() == [13]
    assert on_disk(tmp_path) == {13: "finished"}
    assert reloaded.seen(12)
    assert os.stat(tmp_path / "jobs.jsonl").st_mode & 0o777 == 0o600


def test_acked_ids_are_bounded(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.ack(list(range(1500)))
    reloaded = Journal(tmp_path)
    assert not reloaded.seen(0)
    assert reloaded.seen(1499) and reloaded.seen(500) and not reloaded.seen(499)


@pytest.mark.parametrize("missing", ["/nonexistent/dir"])
def test_bad_cwd_fails_cleanly(tmp_path: Path, missing: str) -> None:
    result = asyncio.run(run_one(tmp_path, cmd_job(14, "true", cwd=missing))).result()
    assert result.status == "failed"
    assert "cannot start command" in result.message


def test_reboot_is_reported_then_done(tmp_path: Path) -> None:
    power = PowerActions(simulate=True)

    async def go() -> Sink:
        sink = Sink()
        runner = JobRunner(Journal(tmp_path), sink.send, power=power)
        assert runner.submit(m.JobSpec(id=7, kind="action", params={"action": "reboot", "delay_min": 2}))
        await runner.drain()
        return sink

    result = asyncio.run(go()).result()
    assert result.status == "succeeded" and result.stdout == "simulated: reboot in 2 min"
    assert power.performed == [(RESTART, 2)]


def test_message_and_unknown_action(tmp_path: Path) -> None:
    shown = asyncio.run(
        run_one(tmp_path, m.JobSpec(id=8, kind="action", params={"action": "message", "message": "hi"}))
    )
    assert shown.result().stdout == "would show: hi"  # no packages runner: power actions simulated
    odd = asyncio.run(
        run_one(tmp_path, m.JobSpec(id=9, kind="action", params={"action": "explode"}))
    ).result()
    assert odd.status == "failed" and odd.message == "unknown action: 'explode'"


def test_result_goes_out_before_the_journal_write_and_is_journaled_after(tmp_path: Path) -> None:
    """The result is sent while the journal on disk still says ``running`` (no fsync on the
    fan-out's path); once sent, it is on disk, and an ack that came first still removes it."""
    on_disk_at_send: list[str] = []

    async def main() -> Journal:
        journal = Journal(tmp_path)

        async def send(msg: m.Message) -> None:
            if isinstance(msg, m.JobResult):
                on_disk_at_send.append(on_disk(tmp_path)[7])

        runner = JobRunner(journal, send)
        assert runner.submit(cmd_job(7, "true"))
        await runner.drain()
        return journal

    journal = asyncio.run(main())
    assert on_disk_at_send == ["running"]
    entry = Journal(tmp_path).get(7)
    assert entry is not None and entry.state == "finished"
    assert entry.result is not None and entry.result.status == "succeeded"
    # an ack between the in-memory finish and the flush: the flush writes the acked state
    journal.start(8, time.time())
    journal.finish(m.JobResult(job_id=8, status="succeeded"), durable=False)
    journal.ack([8])
    journal.flush()
    assert 8 not in on_disk(tmp_path)
    assert Journal(tmp_path).seen(8)


def test_the_job_starts_after_the_write_and_the_fsync_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process finds its ``running`` entry in the file already (an agent that dies from
    then on reports the job failed, never runs it again); the fsync comes after, in a thread."""
    synced: list[str] = []
    real_sync = Journal.sync

    def sync(self: Journal) -> None:
        synced.append(on_disk(tmp_path)[21])
        real_sync(self)

    monkeypatch.setattr(Journal, "sync", sync)
    result = asyncio.run(run_one(tmp_path, cmd_job(21, f"cat {tmp_path / 'jobs.jsonl'}"))).result()
    assert result.status == "succeeded"
    assert [json.loads(line) for line in result.stdout.splitlines()][-1] == {
        "type": "start",
        "id": 21,
        "at": Journal(tmp_path).get(21).started_at,  # type: ignore[union-attr]
    }
    assert synced and synced[0] in ("running", "finished")


def test_an_fsync_that_fails_does_not_fail_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Journal) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Journal, "sync", broken)
    assert asyncio.run(run_one(tmp_path, cmd_job(22, "echo ok"))).result().stdout == "ok\n"


def test_results_and_acks_reach_the_file_later_in_one_write(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[int], list[int], int]:
        runner = JobRunner(Journal(tmp_path), Sink().send)
        runner.submit(cmd_job(23, "true"))
        await async_wait_for(lambda: runner.unacked_results() != [])
        await asyncio.sleep(0.05)  # the result went out; the file still says running
        state = on_disk(tmp_path)[23]
        runner.ack([23])  # in memory at once ...
        in_file = list(on_disk(tmp_path))
        lines = (tmp_path / "jobs.jsonl").read_bytes().count(b"\n")
        await asyncio.sleep(jobs.LAZY_WRITE_SEC + 0.3)  # ... in the file after LAZY_WRITE_SEC
        added = (tmp_path / "jobs.jsonl").read_bytes().count(b"\n") - lines
        return state, in_file, list(on_disk(tmp_path)), added

    state, before, after, added = asyncio.run(scenario())
    assert (state, before, after) == ("running", [23], [])
    assert added == 2  # the result and the ack, appended together
    assert Journal(tmp_path).seen(23)  # the acked id is remembered on disk


def test_an_unreadable_journal_is_kept_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A line that cannot be read with lines after it is not a cut-off write: the file is
    damaged, and which jobs it named is not known any more."""
    damaged = b'{"type":"start","id":5,"at":1.0}\n{"type":"sta\x00\x00\n{"type":"ack","ids":[5]}\n'
    (tmp_path / "jobs.jsonl").write_bytes(damaged)
    journal = Journal(tmp_path)
    assert journal.known_ids() == []
    assert (tmp_path / "jobs.jsonl.unreadable").read_bytes() == damaged
    assert "cannot be read" in caplog.text
    journal.start(6, time.time())
    assert Journal(tmp_path).known_ids() == [6]


def test_a_record_cut_off_by_a_crash_is_dropped_and_cut_off_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path)
    journal.start(5, 1.0)
    journal.start(6, 2.0)
    whole = (tmp_path / "jobs.jsonl").read_bytes()
    (tmp_path / "jobs.jsonl").write_bytes(whole + b'{"type":"finish","result":{"job_')  # power loss
    reread = Journal(tmp_path)
    assert reread.running_ids() == [5, 6]
    assert "cut-off record" in caplog.text
    assert (tmp_path / "jobs.jsonl").read_bytes() == whole  # the next record starts a line
    reread.finish(m.JobResult(job_id=5, status="succeeded"))
    assert on_disk(tmp_path) == {5: "finished", 6: "running"}


def test_the_log_is_compacted_as_it_grows_and_keeps_what_matters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy agent's log does not grow without bound: past the threshold a flush replaces it
    with one snapshot of the jobs still held and the acked ids remembered."""
    from fleetdeck.agent import journal as journal_module

    monkeypatch.setattr(journal_module, "COMPACT_MIN_BYTES", 4096)
    journal = Journal(tmp_path)
    sizes = []
    for job_id in range(1, 2001):
        journal.start(job_id, float(job_id), durable=False)
        journal.finish(m.JobResult(job_id=job_id, status="succeeded", stdout="x" * 50), durable=False)
        if job_id % 10:  # every tenth result stays unacknowledged
            journal.ack([job_id], save=False)
        journal.flush(durable=False)
        sizes.append((tmp_path / "jobs.jsonl").stat().st_size)
    reread = Journal(tmp_path)
    assert reread.known_ids() == list(range(10, 2001, 10))
    assert [r.job_id for r in reread.unacked_results()] == list(range(10, 2001, 10))
    assert reread.seen(1999) and not reread.seen(1) and not reread.seen(2002)
    first = (tmp_path / "jobs.jsonl").read_bytes().split(b"\n", 1)[0]
    assert json.loads(first)["type"] == "snapshot"
    # bounded by twice the last snapshot (200 results + 1000 ids: ~30 KB), not 2000 jobs (~300 KB)
    assert max(sizes) < 100_000
    assert min(sizes[1000:]) > 10_000  # ... and compaction does not run at every flush


def test_a_journal_of_an_earlier_agent_version_is_taken_over(tmp_path: Path) -> None:
    """``jobs.json`` (the whole journal as one document, before the log) is read once, written
    into the log and removed: the jobs it held are neither lost nor run again."""
    legacy = {
        "jobs": {
            "7": {"state": "running", "started_at": 1.0},
            "8": {"state": "finished", "started_at": 2.0, "result": {"job_id": 8, "status": "succeeded"}},
        },
        "acked": [5, 6],
    }
    (tmp_path / "jobs.json").write_text(json.dumps(legacy))
    journal = Journal(tmp_path)
    assert journal.running_ids() == [7]
    assert [r.job_id for r in journal.unacked_results()] == [8]
    assert journal.seen(5) and journal.seen(6)
    assert not (tmp_path / "jobs.json").exists()
    reread = Journal(tmp_path)
    assert (reread.running_ids(), reread.known_ids(), reread.seen(6)) == ([7], [7, 8], True)


@pytest.mark.parametrize("direct", [True, False], ids=["posix_spawn", "asyncio"])
def test_both_ways_of_starting_a_job_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """posix_spawn + pidfd (Linux) and asyncio's subprocess: same output, exit code, session,
    stdin and signal dispositions (SIGPIPE back to default: ``yes | head`` ends quietly)."""
    from fleetdeck.agent import process

    monkeypatch.setattr(process, "DIRECT_SPAWN", direct)
    process.direct_spawn_works.cache_clear()
    try:
        command = (
            "yes | head -n 2; echo err >&2; cat; "  # cat reads stdin: /dev/null, ends at once
            "ps -o sid= -p $$ | tr -d ' '; echo $$; exit 3"
        )
        result = asyncio.run(run_one(tmp_path, cmd_job(24, command))).result()
        assert process.direct_spawn_works() is direct
    finally:
        process.direct_spawn_works.cache_clear()
    assert result.status == "failed" and result.exit_code == 3
    lines = result.stdout.split()
    assert lines[:2] == ["y", "y"]
    assert lines[2] == lines[3]  # its own session: the shell is the session leader
    assert result.stderr == "err\n"


def test_a_job_killed_by_a_signal_reports_minus_the_signal(tmp_path: Path) -> None:
    result = asyncio.run(run_one(tmp_path, cmd_job(25, "kill -9 $$"))).result()
    assert result.status == "failed" and result.exit_code == -9


def test_a_job_that_closes_its_output_and_runs_on_is_still_waited_for(tmp_path: Path) -> None:
    """Both pipes end long before the process does: its exit code still comes (a pidfd then)."""
    command = "echo before; exec >&- 2>&-; sleep 0.4; exit 4"
    started = time.monotonic()
    result = asyncio.run(run_one(tmp_path, cmd_job(26, command))).result()
    assert (result.status, result.exit_code, result.stdout) == ("failed", 4, "before\n")
    assert time.monotonic() - started >= 0.4


def test_live_output_is_coalesced_and_a_quick_job_sends_it_with_the_result(tmp_path: Path) -> None:
    """Output that a job writes in one burst goes out as one frame; a job without output and
    one that ends at once send no JobOutput of their own timer, only before the result."""
    burst = asyncio.run(run_one(tmp_path, cmd_job(27, "for i in 1 2 3 4 5; do echo $i; done; sleep 0.3")))
    outputs = [o for o in burst.of(m.JobOutput) if isinstance(o, m.JobOutput)]
    assert [(o.seq, o.data) for o in outputs] == [(1, "1\n2\n3\n4\n5\n")]
    assert burst.messages.index(outputs[0]) < burst.messages.index(burst.result())
    silent = asyncio.run(run_one(tmp_path / "s", cmd_job(28, "true")))
    assert silent.of(m.JobOutput) == [] and silent.result().status == "succeeded"


def test_a_big_burst_goes_out_before_the_flush_interval(tmp_path: Path) -> None:
    """CHUNK_BYTES pending are sent at once, not after FLUSH_SEC (the job still runs)."""
    from fleetdeck.agent import command

    sink = asyncio.run(run_one(tmp_path, cmd_job(29, "head -c 40000 /dev/zero | tr '\\0' x; sleep 0.5")))
    outputs = [o for o in sink.of(m.JobOutput) if isinstance(o, m.JobOutput)]
    assert "".join(o.data for o in outputs) == "x" * 40000
    assert all(len(o.data) <= command.CHUNK_BYTES for o in outputs)
    result_at = sink.times[sink.messages.index(sink.result())]
    assert result_at - sink.times[sink.messages.index(outputs[0])] > 0.3  # sent while it ran


def test_the_fsync_thread_serves_many_jobs_and_drain_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fsync thread for the runner, not a task and a pool job per job; drain() returns once
    every fsync asked for has run."""
    import threading

    threads: set[str] = set()
    real_sync = Journal.sync

    def sync(self: Journal) -> None:
        threads.add(threading.current_thread().name)
        time.sleep(0.05)  # a slow disk: the jobs go on meanwhile
        real_sync(self)

    monkeypatch.setattr(Journal, "sync", sync)

    async def scenario() -> JobRunner:
        runner = JobRunner(Journal(tmp_path), Sink().send)
        for job_id in range(40, 46):
            assert runner.submit(cmd_job(job_id, "true"))
        await runner.drain()
        return runner

    runner = asyncio.run(scenario())
    assert threads == {"fleetdeck-journal-sync"}
    assert runner._synced()


def test_without_a_free_descriptor_for_a_pidfd_the_exit_is_waited_for_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetdeck.agent import process

    if not process.direct_spawn_works():
        pytest.skip("jobs start with asyncio here: no pidfd involved")

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    result = asyncio.run(run_one(tmp_path, cmd_job(30, "exec >&- 2>&-; sleep 0.2; exit 5"))).result()
    assert (result.status, result.exit_code) == ("failed", 5)


def test_sync_fsyncs_the_directory_only_for_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append changes no name: after the first record (which created the file) a sync
    fsyncs the file alone, not the directory too (one fsync less per agent in a fan-out)."""
    from fleetdeck.agent import journal as journal_module

    directories: list[str] = []
    real = journal_module.sync_file

    def sync_file(path: Path, data_too: bool = True) -> None:
        directories.append(path.name)
        real(path, data_too)

    monkeypatch.setattr(journal_module, "sync_file", sync_file)
    journal = Journal(tmp_path)
    journal.start(1, 1.0, durable=False)  # creates jobs.jsonl
    journal.sync()
    assert directories == ["jobs.jsonl"]
    journal.start(2, 2.0, durable=False)
    journal.sync()
    journal.sync()
    assert directories == ["jobs.jsonl"]  # appends: the file's own fsync only
    assert Journal(tmp_path).running_ids() == [1, 2]


def test_a_start_is_fsynced_a_moment_later_with_the_others_and_not_after_an_ack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fsync of a job's start waits SYNC_DELAY_SEC and takes the starts appended meanwhile
    with it (one fsync for a burst); if the server acknowledged every one of those jobs by then,
    it does not run at all (the server holds their results)."""
    monkeypatch.setattr(jobs, "SYNC_DELAY_SEC", 0.3)
    synced: list[float] = []
    real_sync = Journal.sync

    def sync(self: Journal) -> None:
        synced.append(time.monotonic())
        real_sync(self)

    monkeypatch.setattr(Journal, "sync", sync)

    async def scenario() -> tuple[float, list[float], list[float], list[float]]:
        runner = JobRunner(Journal(tmp_path), Sink().send)
        began = time.monotonic()
        for job_id in (51, 52, 53):  # a burst: one fsync
            assert runner.submit(cmd_job(job_id, "sleep 0.5"))
        await asyncio.sleep(0.15)
        early = list(synced)  # not yet: the delay
        await async_wait_for(lambda: len(synced) >= 1, timeout=5)
        await asyncio.sleep(0.4)
        burst = list(synced)
        await runner.drain()
        # quick jobs, acknowledged within the delay: no fsync
        for job_id in (54, 55):
            assert runner.submit(cmd_job(job_id, "true"))
        await async_wait_for(lambda: len(runner.unacked_results()) == 5)
        runner.ack([51, 52, 53, 54, 55])
        await asyncio.sleep(0.5)
        acked = synced[len(burst) :]
        await runner.drain()
        return began, early, burst, acked

    began, early, burst, acked = asyncio.run(scenario())
    assert early == []
    assert len(burst) == 1 and burst[0] - began >= 0.3
    assert acked == []
    assert Journal(tmp_path).seen(55) and Journal(tmp_path).known_ids() == []
