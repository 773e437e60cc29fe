"""Files pushed to computers in core (``core/jobs/files.py``), asserting effects: every check
of a request (destination, owner, mode), the content-addressed store (atomic, size limit, no
leftovers), the jobs a push queues and their spec, the targets (computers by uid, groups, rule
groups) and the refusals before a file is kept, and what an agent may fetch. The purge is
tested in ``test_upload_file_purge.py``. Real database and store directory."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest

from fleetdeck.core.authz import Role, system_actor
from fleetdeck.core.errors import NotFound, PermissionDenied, TooLarge, Unavailable, ValidationFailed
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.jobs.files import (
    TIMEOUT_SEC,
    BadDestination,
    FilePutRequest,
    FileStore,
    check_request,
)
from fleetdeck.core.query import Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
DATA = b"hello, file\n"


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    config = CoreConfig(files_dir=settings.data_dir / "files", max_pushed_file_bytes=100)
    return build_services(runtime.db, SECRET, config, clock=clock)


@pytest.fixture
def files(settings: Settings) -> Path:
    return settings.data_dir / "files"


def uid_of(svc: Services, cid: int) -> str:
    return svc.computers.get(ADMIN, cid).summary.uid


# ------------------------------------------------------------------ the request


@pytest.mark.parametrize(
    "dest",
    [
        "",
        "relative/file",
        "x" * 4097,
        "/tmp/a\x00b",
        "/tmp/dir/",
        "C:\\dir\\",
        "/proc/x",
        "/sys/y",
        "/dev/z",
        "/run/a",
        "/proc",
        "/dev",
    ],
)
def test_bad_destinations(dest: str) -> None:
    with pytest.raises(BadDestination) as err:
        check_request(FilePutRequest(dest))
    assert err.value.detail["field"] == "dest"


def test_destination_texts() -> None:
    with pytest.raises(BadDestination, match="dest must be an absolute path with the file name"):
        check_request(FilePutRequest("a/b"))
    with pytest.raises(BadDestination, match="files may not be written to '/proc/1'"):
        check_request(FilePutRequest("/proc/1"))


@pytest.mark.parametrize("dest", ["/tmp/f", "C:\\Temp\\f.txt", "/" + "x" * 4095, "/procfs/x", "/devices"])
def test_good_destinations(dest: str) -> None:
    assert check_request(FilePutRequest(dest)) is None


@pytest.mark.parametrize(
    ("mode", "value"), [("644", 0o644), ("0644", 0o644), ("0755", 0o755), ("1777", 0o1777), ("", None)]
)
def test_modes(mode: str, value: int | None) -> None:
    assert check_request(FilePutRequest("/tmp/f", mode=mode)) == value


@pytest.mark.parametrize("mode", ["64", "0648", "u+x", "000644", "12345", "0o644", " 644"])
def test_bad_modes(mode: str) -> None:
    with pytest.raises(
        ValidationFailed, match=re.escape(f"invalid mode '{mode}': an octal number such as 0644")
    ) as err:
        check_request(FilePutRequest("/tmp/f", mode=mode))
    assert err.value.detail["field"] == "mode"


@pytest.mark.parametrize("field", ["user", "group"])
@pytest.mark.parametrize("name", ["-root", "a b", "x" * 65, "ro$ot", "$", "a/b"])
def test_bad_owners(field: str, name: str) -> None:
    with pytest.raises(ValidationFailed, match=f"invalid {field} name") as err:
        check_request(FilePutRequest("/tmp/f", **{field: name}))  # type: ignore[arg-type]
    assert err.value.detail["field"] == field


@pytest.mark.parametrize("name", ["root", "www-data", "a.b_c", "MACHINE$", "user@domain", "x" * 64, "_svc"])
def test_good_owners(name: str) -> None:
    assert check_request(FilePutRequest("/tmp/f", user=name, group=name)) is None


# ------------------------------------------------------------------ the store


def test_the_store_keeps_files_by_their_digest_and_atomically(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    kept = store.save(io.BytesIO(DATA), 100)
    sha = hashlib.sha256(DATA).hexdigest()
    assert (kept.sha256, kept.size, kept.path) == (sha, len(DATA), tmp_path / "store" / sha[:2] / sha)
    assert kept.path.read_bytes() == DATA
    assert store.path(sha) == kept.path
    assert list(store.stored()) == [kept.path]
    again = store.save(io.BytesIO(DATA), len(DATA))  # exactly at the limit
    assert again.path == kept.path
    with pytest.raises(TooLarge, match="the file is larger than 11 bytes") as err:
        store.save(io.BytesIO(DATA), len(DATA) - 1)
    assert err.value.detail["field"] == "upload"
    assert list(store.stored()) == [kept.path]  # the temporary file went
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [sha[:2]]


def test_a_big_file_is_read_in_chunks(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s")
    big = bytes(range(256)) * (5 * 1024 * 8)  # 10 MiB: several chunks
    kept = store.save(io.BytesIO(big), len(big))
    assert kept.size == len(big) and kept.path.read_bytes() == big
    with pytest.raises(TooLarge):
        store.save(io.BytesIO(big), len(big) - 1)


def test_stored_lists_leftover_temporary_files_not_the_lock(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s")
    assert list(store.stored()) == []  # no directory yet
    with store.locked(exclusive=False) as got:
        assert got is True
    (tmp_path / "s" / ".push-abc").write_bytes(b"x")
    (tmp_path / "s" / "other").write_bytes(b"x")
    assert [p.name for p in store.stored()] == [".push-abc"]


def test_the_exclusive_lock_is_not_had_while_a_push_holds_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s")
    with store.locked(exclusive=False) as shared:
        assert shared
        with FileStore(tmp_path / "s").locked(exclusive=True) as exclusive:
            assert exclusive is False
        with FileStore(tmp_path / "s").locked(exclusive=False) as other_push:
            assert other_push is True
    with store.locked(exclusive=True) as exclusive:
        assert exclusive is True


# ------------------------------------------------------------------ pushes


def test_a_push_keeps_the_file_and_queues_one_job_per_computer(svc: Services, files: Path) -> None:
    op = factories.user(svc, Role.OPERATOR, "pusher")
    a, b = factories.computer(svc, ADMIN, "a"), factories.computer(svc, ADMIN, "b")
    mark = factories.audit_mark(svc)
    request = FilePutRequest("/etc/motd", "0640", "root", "adm", True, False, "motd.txt")
    pushed = svc.file_pushes.push(
        op, io.BytesIO(DATA), request, computer_uids=[uid_of(svc, b), uid_of(svc, a), uid_of(svc, a)]
    )
    sha = hashlib.sha256(DATA).hexdigest()
    assert (pushed.dest, pushed.size, pushed.sha256, len(pushed.uuid)) == ("/etc/motd", len(DATA), sha, 36)
    assert (files / sha[:2] / sha).read_bytes() == DATA
    jobs = [svc.jobs.get(op, j) for j in pushed.batch.job_ids]
    assert sorted(j.computer_id for j in jobs) == [a, b]
    assert {j.kind for j in jobs} == {"file_put"}
    assert jobs[0].spec == {
        "upload": pushed.uuid,
        "sha256": sha,
        "size": len(DATA),
        "dest": "/etc/motd",
        "force": True,
        "sync": False,
        "timeout_sec": TIMEOUT_SEC,
        "mode": 0o640,
        "user": "root",
        "group": "adm",
        "filename": "motd.txt",
    }
    rows = [r for r in factories.audit_since(svc, mark) if r.action == "file.put"]
    assert [(r.result, r.username, r.detail.get("dest"), r.detail.get("size")) for r in rows] == [
        ("ok", "pusher", "/etc/motd", len(DATA))
    ]


def test_a_push_without_options_names_none_in_the_spec(svc: Services) -> None:
    cid = factories.computer(svc, ADMIN, "plain")
    pushed = svc.file_pushes.push(
        ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x", sync=True), computer_uids=[uid_of(svc, cid)]
    )
    (job,) = [svc.jobs.get(ADMIN, j) for j in pushed.batch.job_ids]
    assert set(job.spec) == {"upload", "sha256", "size", "dest", "force", "sync", "timeout_sec"}
    assert (job.spec["force"], job.spec["sync"]) == (False, True)


def test_a_push_reaches_groups_and_rule_groups(svc: Services) -> None:
    a, b, c = (factories.computer(svc, ADMIN, n, os="Linux") for n in ("web-a", "web-b", "db-c"))
    gid = factories.group(svc, ADMIN, "g", [c])
    svc.rule_groups.create(ADMIN, "web", "", {"name": ["web-*"]}, [])
    pushed = svc.file_pushes.push(
        ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x"), group_ids=[gid], rule_groups=["web", "web"]
    )
    assert sorted(svc.jobs.get(ADMIN, j).computer_id for j in pushed.batch.job_ids) == [a, b, c]
    only_rules = svc.file_pushes.push(ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/y"), rule_groups=["web"])
    assert sorted(svc.jobs.get(ADMIN, j).computer_id for j in only_rules.batch.job_ids) == [a, b]


def test_refusals_keep_no_file(svc: Services, files: Path, runtime: Runtime, settings: Settings) -> None:
    cid = factories.computer(svc, ADMIN, "target")
    uid = uid_of(svc, cid)
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.file_pushes.push(viewer, io.BytesIO(DATA), FilePutRequest("/tmp/x"), computer_uids=[uid])
    assert [(r.action, r.object_type, r.result) for r in factories.audit_since(svc, mark)] == [
        ("file.put", "job_batch", "denied")
    ]
    with pytest.raises(BadDestination):
        svc.file_pushes.push(ADMIN, io.BytesIO(DATA), FilePutRequest("rel"), computer_uids=[uid])
    with pytest.raises(ValidationFailed, match="give at least one computer or group") as err:
        svc.file_pushes.push(ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x"))
    assert err.value.detail["field"] == "client_id"
    with pytest.raises(NotFound, match="computer nope not found"):
        svc.file_pushes.push(ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x"), computer_uids=[uid, "nope"])
    with pytest.raises(ValidationFailed, match=re.escape("Unknown group with id='ghost'.")) as err:
        svc.file_pushes.push(
            ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x"), computer_uids=[uid], rule_groups=["ghost"]
        )
    assert err.value.detail["field"] == "group_ids"
    with pytest.raises(TooLarge):
        svc.file_pushes.push(ADMIN, io.BytesIO(b"x" * 101), FilePutRequest("/tmp/x"), computer_uids=[uid])
    assert [p for p in files.rglob("*") if p.is_file() and p.name != ".lock"] == []
    assert svc.jobs.find(ADMIN, Query()).total == 0
    storeless = build_services(runtime.db, SECRET, CoreConfig(), clock=ManualClock(T0))
    with pytest.raises(Unavailable, match="this server keeps no files"):
        storeless.file_pushes.push(ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x"), computer_uids=[uid])
    assert storeless.file_pushes.purge_unused() == 0


def test_an_agent_fetches_only_through_a_pending_job_of_its_own(svc: Services, files: Path) -> None:
    a, b = factories.computer(svc, ADMIN, "a"), factories.computer(svc, ADMIN, "b")
    pushed = svc.file_pushes.push(
        ADMIN, io.BytesIO(DATA), FilePutRequest("/tmp/x"), computer_uids=[uid_of(svc, a), uid_of(svc, b)]
    )
    jobs = {svc.jobs.get(ADMIN, j).computer_id: j for j in pushed.batch.job_ids}
    got = svc.file_pushes.file_for_agent(a, jobs[a])
    assert (got.sha256, got.size, got.path.read_bytes()) == (pushed.sha256, len(DATA), DATA)
    with pytest.raises(NotFound, match=f"file job {jobs[b]} not found"):
        svc.file_pushes.file_for_agent(a, jobs[b])  # another computer's job
    with pytest.raises(NotFound):
        svc.file_pushes.file_for_agent(a, jobs[a] + jobs[b])  # no such job
    command = svc.jobs.create_commands(ADMIN, CommandRequest("ls"), computer_ids=[a]).job_ids[0]
    with pytest.raises(NotFound):
        svc.file_pushes.file_for_agent(a, command)  # no file job
    svc.jobs.cancel(ADMIN, jobs[a])
    with pytest.raises(PermissionDenied, match="no longer pending"):
        svc.file_pushes.file_for_agent(a, jobs[a])
    (files / pushed.sha256[:2] / pushed.sha256).unlink()
    with pytest.raises(NotFound, match=f"pushed file {pushed.sha256} not found"):
        svc.file_pushes.file_for_agent(b, jobs[b])


def test_the_store_makes_its_directories(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "not" / "yet")
    kept = store.save(io.BytesIO(DATA), 100)
    assert kept.path.read_bytes() == DATA
    with FileStore(tmp_path / "also" / "not").locked(exclusive=True) as mine:
        assert mine is True
    assert (tmp_path / "also" / "not" / ".lock").is_file()
