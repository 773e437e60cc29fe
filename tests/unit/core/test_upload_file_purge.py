"""Housekeeping's clean-up of disk space nobody will use again (issue #20): abandoned payload
uploads (``PackageService.purge_abandoned_uploads``, duty ``uploads.purge``) and pushed files no
pending ``file_put`` job names (``FilePushService.purge_unused``, duty ``files.purge``). Real
database, real spool and store directories, a clock the test moves; a file's age is set with
``os.utime`` to the clock's time, never waited for."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound
from fleetdeck.core.housekeeping import Housekeeping, standard_duties
from fleetdeck.core.jobs.files import STALE_TMP_SEC, FilePutRequest
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import BACKEND, SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_reads import write_transactions

DAY = timedelta(days=1)


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", files_dir=settings.data_dir / "files")
    return build_services(runtime.db, SECRET, config, clock=clock)


@pytest.fixture
def actor(svc: Services) -> Actor:
    return factories.user(svc, Role.ADMIN)


def age(path: Path, at: datetime) -> None:
    """The file was last written at ``at`` (the test clock's time)."""
    os.utime(path, (at.timestamp(), at.timestamp()))


def write(svc: Services, actor: Actor, upload_id: int, data: bytes) -> None:
    sink = svc.packages.open_upload(actor, upload_id, svc.packages.upload(actor, upload_id).offset)
    sink.write(data)
    sink.close()


def part(settings: Settings, upload_id: int) -> Path:
    return settings.data_dir / "payloads" / ".uploads" / f"{upload_id}.part"


# ------------------------------------------------------------------ uploads


def test_uploads_untouched_for_the_setting_go_with_their_bytes_and_an_audit_row(
    svc: Services, actor: Actor, settings: Settings, clock: ManualClock
) -> None:
    pkg = factories.package(svc, actor, "purged").id
    stale, slow, fresh = (svc.packages.create_upload(actor, pkg, 100).id for _ in range(3))
    for uid in (stale, slow):
        write(svc, actor, uid, b"x" * 10)
    age(part(settings, stale), T0)
    age(part(settings, slow), T0 + DAY - timedelta(minutes=1))  # a piece arrived late yesterday
    clock.now = T0 + DAY + timedelta(seconds=1)
    age(part(settings, fresh), T0)  # created at T0, and written at T0: as old as ``stale``
    svc.packages.create_upload(actor, pkg, 100)  # created now: not abandoned whatever its file says
    mark = factories.audit_mark(svc)

    assert svc.packages.purge_abandoned_uploads(DAY) == 2

    left = {u.id for u in svc.packages.pending_uploads(actor, pkg)}
    assert stale not in left and fresh not in left and slow in left
    assert not part(settings, stale).exists() and part(settings, slow).exists()
    with pytest.raises(NotFound):  # a client coming back finds no upload, not a 500
        svc.packages.open_upload(actor, stale, 10)
    rows = factories.audit_since(svc, mark)
    assert sorted((r.action, r.object_id, r.detail["offset"]) for r in rows) == sorted(
        [("payload_upload.abandoned", str(stale), 10), ("payload_upload.abandoned", str(fresh), 0)]
    )
    assert {(r.user_id, r.via) for r in rows} == {(None, "housekeeping")}  # a system action
    assert svc.packages.purge_abandoned_uploads(DAY) == 0  # nothing twice


def test_an_upload_being_written_now_and_a_finished_one_are_kept(
    svc: Services, actor: Actor, settings: Settings, clock: ManualClock
) -> None:
    pkg = factories.package(svc, actor, "kept").id
    busy, done = (svc.packages.create_upload(actor, pkg, 3).id for _ in range(2))
    sink = svc.packages.open_upload(actor, done, 0)
    sink.write(b"abc")
    sink.close()
    svc.packages.finish_upload(actor, sink)
    age(part(settings, busy), T0)
    clock.now = T0 + 2 * DAY
    with part(settings, busy).open("rb") as fh:  # a request writing it holds the lock
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        assert svc.packages.purge_abandoned_uploads(DAY) == 0
    assert svc.packages.upload(actor, done).complete
    assert svc.packages.purge_abandoned_uploads(DAY) == 1
    with pytest.raises(NotFound):
        svc.packages.upload(actor, busy)
    assert svc.packages.upload(actor, done).complete  # a finished upload is a record, kept


def test_spool_files_of_a_deleted_package_go_once_old(
    svc: Services, actor: Actor, settings: Settings, clock: ManualClock
) -> None:
    pkg = factories.package(svc, actor, "deleted").id
    uid = svc.packages.create_upload(actor, pkg, 100).id
    write(svc, actor, uid, b"y" * 5)
    svc.packages.delete(actor, pkg)  # the upload row goes by cascade, the file does not
    assert part(settings, uid).exists()
    assert svc.packages.purge_abandoned_uploads(DAY) == 0  # still young
    age(part(settings, uid), T0 - DAY - timedelta(seconds=1))
    assert svc.packages.purge_abandoned_uploads(DAY) == 1
    assert not part(settings, uid).exists()


def test_the_duty_reads_the_setting(
    svc: Services, actor: Actor, settings: Settings, clock: ManualClock
) -> None:
    pkg = factories.package(svc, actor, "duty").id
    uid = svc.packages.create_upload(actor, pkg, 100).id
    age(part(settings, uid), T0)
    clock.now = T0 + timedelta(hours=2)
    duties = {d.name: d for d in standard_duties(svc)}
    keeper = Housekeeping(svc.leases, list(duties.values()), "node:1")
    assert asyncio.run(keeper.run_once(duties["uploads.purge"]))
    assert svc.packages.upload(actor, uid).id == uid  # the default is a day
    svc.settings.set(actor, "uploads.abandon_after_sec", 3600)
    assert asyncio.run(keeper.run_once(duties["uploads.purge"]))
    with pytest.raises(NotFound):
        svc.packages.upload(actor, uid)


# ------------------------------------------------------------------ pushed files


def push(svc: Services, actor: Actor, data: bytes, computer_ids: list[int]) -> tuple[str, list[int]]:
    uids = [svc.computers.get(actor, cid).summary.uid for cid in computer_ids]
    pushed = svc.file_pushes.push(actor, io.BytesIO(data), FilePutRequest("/tmp/x"), computer_uids=uids)
    return pushed.sha256, list(pushed.batch.job_ids)


def stored(settings: Settings, sha: str) -> Path:
    return settings.data_dir / "files" / sha[:2] / sha


def test_a_pushed_file_is_kept_while_a_job_may_fetch_it(
    svc: Services, actor: Actor, settings: Settings
) -> None:
    one, two = (factories.computer(svc, actor, name) for name in ("one", "two"))
    sha, (job1, job2) = push(svc, actor, b"config", [one, two])
    other, (job3,) = push(svc, actor, b"other", [one])
    mark = factories.audit_mark(svc)
    assert svc.file_pushes.purge_unused() == 0  # all queued
    factories.deliver(svc, one)
    factories.finish(svc, one, job1)
    factories.finish(svc, one, job3)
    assert svc.file_pushes.purge_unused() == 1  # ``other``: its only job ended
    assert not stored(settings, other).exists() and not stored(settings, other).parent.exists()
    assert stored(settings, sha).is_file()  # job2 (queued) may still fetch it
    assert svc.file_pushes.file_for_agent(two, job2).sha256 == sha
    svc.jobs.cancel(actor, job2)
    assert svc.file_pushes.purge_unused() == 1
    assert not stored(settings, sha).exists()
    rows = factories.audit_since(svc, mark)
    assert [(r.user_id, r.via) for r in rows if r.action == "file.purge"] == [(None, "housekeeping")] * 2
    assert [r.detail["files"] for r in rows if r.action == "file.purge"] == [[other], [sha]]


def test_a_purge_with_nothing_to_remove_takes_no_write_lock(
    runtime: Runtime, svc: Services, actor: Actor, settings: Settings
) -> None:
    """The purge reads which files pending jobs still name in a read-only transaction: on
    SQLite a round that removes nothing (every few minutes, on every node) never queues for the
    database's write lock behind pushes and agents' results."""
    cid = factories.computer(svc, actor, "c")
    sha, _jobs = push(svc, actor, b"still wanted", [cid])
    with write_transactions(runtime.db.engine) as writes:
        assert svc.file_pushes.purge_unused() == 0
    assert stored(settings, sha).is_file()
    if BACKEND == "sqlite":
        assert writes == []


def test_the_purge_waits_for_a_push_and_clears_dead_pushes_temporary_files(
    svc: Services, actor: Actor, settings: Settings, clock: ManualClock
) -> None:
    cid = factories.computer(svc, actor, "c")
    sha, (job,) = push(svc, actor, b"payload", [cid])
    svc.jobs.cancel(actor, job)
    store = svc.file_pushes._store
    assert store is not None
    with store.locked(exclusive=False):  # a push between writing the file and queueing its jobs
        assert svc.file_pushes.purge_unused() == 0
    assert stored(settings, sha).exists()
    tmp = settings.data_dir / "files" / ".push-dead"
    tmp.write_bytes(b"half")
    age(tmp, T0 - timedelta(seconds=STALE_TMP_SEC - 60))
    assert svc.file_pushes.purge_unused() == 1  # the unused file; the temporary one is young
    assert tmp.exists()
    clock.now = T0 + timedelta(minutes=2)
    assert svc.file_pushes.purge_unused() == 1
    assert not tmp.exists()
    assert (settings.data_dir / "files" / ".lock").exists()  # the lock file stays


def test_a_young_temporary_file_does_not_stop_the_purge(
    svc: Services, actor: Actor, settings: Settings
) -> None:
    """A push still writing its temporary file is passed over; every unused file is removed
    all the same, whichever order the directory lists them in."""
    cid = factories.computer(svc, actor, "c")
    young: list[Path] = []
    shas: list[str] = []
    for round_ in range(2):  # temporary files written before and after stored ones
        for i in range(2):
            tmp = settings.data_dir / "files" / f".push-young{round_}{i}"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(b"half")
            age(tmp, T0)
            young.append(tmp)
        for i in range(3):
            sha, (job,) = push(svc, actor, f"payload {round_} {i}".encode(), [cid])
            svc.jobs.cancel(actor, job)
            shas.append(sha)
    assert svc.file_pushes.purge_unused() == 6
    assert [stored(settings, sha).exists() for sha in shas] == [False] * 6
    assert all(tmp.exists() for tmp in young)
