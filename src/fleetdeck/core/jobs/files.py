"""Files pushed to computers: the server keeps the file, each target's agent fetches it (with
``Range``, checked against its SHA-256) and writes it to a destination path with the requested
mode and owner.

One push is a job batch of kind ``file_put``, one job per computer; the job's spec names the
stored file (content-addressed: ``<files dir>/<sha[:2]>/<sha>``), the destination and the
options (``force``: overwrite an existing file; ``sync``: rewrite it only when its checksum,
mode or owner differ). What happened is the job's result: succeeded, or succeeded with the
message ``ignored: ...`` (the file was left as it was), or failed. An agent may fetch the file
only through a job of its own that is still pending. Needs UPLOAD_FILES; audited
``file.put``.

A stored file is kept while a pending ``file_put`` job names it (its agent may still fetch it)
and removed by housekeeping's ``files.purge`` duty (``purge_unused``) once none does. A push
holds the store's lock shared from writing the file until its jobs are committed, the purge
holds it exclusively, so a file just written for a push is never taken for an unused one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Protocol

from sqlalchemy import select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, system_actor
from fleetdeck.core.errors import NotFound, PermissionDenied, TooLarge, Unavailable, ValidationFailed
from fleetdeck.core.jobs.entities import FILE_PUT_KIND, BatchCreated, TagTarget
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, Job, RuleGroup
from fleetdeck.storage.uow import UnitOfWork

KIND = FILE_PUT_KIND
TIMEOUT_SEC = 3600  # the agent gives up fetching and writing after this long
IGNORED = "ignored: "  # how a result's message starts when the file was left as it was
CHUNK = 1024 * 1024
MAX_DEST = 4096
MAX_OWNER = 64
PENDING = ("queued", "sent", "running")
# A temporary file of a push that died midway is removed once it is this old (a live push
# holds the store's lock, so the purge does not run meanwhile; this is only a second guard).
STALE_TMP_SEC = 3600
# never written to: kernel and device trees (the agent refuses system directories as well)
FORBIDDEN = ("/proc/", "/sys/", "/dev/", "/run/")
_OWNER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$")


class BadDestination(ValidationFailed):
    """The destination is no absolute path, or one no file may be written to."""


@dataclass(frozen=True, slots=True)
class FilePutRequest:
    dest: str
    mode: str = ""  # octal, e.g. "0644"; empty: the agent's default
    user: str = ""
    group: str = ""
    force: bool = False
    sync: bool = False
    filename: str = ""


@dataclass(frozen=True, slots=True)
class FilePushed:
    uuid: str
    dest: str
    size: int
    sha256: str
    batch: BatchCreated


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: Path
    sha256: str
    size: int


def _is_absolute(dest: str) -> bool:
    return PurePosixPath(dest).is_absolute() or PureWindowsPath(dest).is_absolute()


def check_request(req: FilePutRequest) -> int | None:
    """The checked request's mode as a number (None: not given); ValidationFailed otherwise."""
    if not req.dest or len(req.dest) > MAX_DEST or "\x00" in req.dest or not _is_absolute(req.dest):
        raise BadDestination("dest must be an absolute path with the file name", field="dest")
    if req.dest.endswith(("/", "\\")) or any(
        (req.dest + "/").startswith(p) or req.dest.startswith(p) for p in FORBIDDEN
    ):
        raise BadDestination(f"files may not be written to {req.dest!r}", field="dest")
    for name, value in (("user", req.user), ("group", req.group)):
        if value and (len(value) > MAX_OWNER or not _OWNER.match(value)):
            raise ValidationFailed(f"invalid {name} name {value!r}", field=name)
    if not req.mode:
        return None
    if not re.fullmatch(r"0?[0-7]{3,4}", req.mode):
        raise ValidationFailed(f"invalid mode {req.mode!r}: an octal number such as 0644", field="mode")
    return int(req.mode, 8)


class FileStore:
    """Pushed files, content-addressed; written atomically (a reader never sees half a file)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[bool]:
        """The store's ``flock`` (shared across the server processes of this data directory):
        shared for a push, waited for; exclusive for the purge, not waited for (yields False
        while a push is under way)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
            except BlockingIOError:
                yield False
                return
            yield True  # closing the file releases the lock

    def stored(self) -> Iterator[Path]:
        """Every stored file and leftover temporary file (not the lock)."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.is_dir():
                yield from (p for p in entry.iterdir() if p.is_file())
            elif entry.name.startswith(".push-"):
                yield entry

    def save(self, source: BinaryIO, max_bytes: int) -> StoredFile:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".push-", dir=self.root)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"the file is larger than {max_bytes} bytes", field="upload")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return StoredFile(target, sha, size)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class FilePushService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        jobs: FileJobs,
        store: FileStore | None,
        max_bytes: int,
        clock: Clock,
    ) -> None:
        self._db = db
        self._clock = clock  # required, as for every service: one clock, the composition root's
        self._audit = audit
        self._jobs = jobs
        self._store = store
        self.max_bytes = max_bytes

    def push(
        self,
        actor: Actor,
        source: BinaryIO,
        request: FilePutRequest,
        *,
        computer_uids: Sequence[str] = (),
        group_ids: Sequence[int] = (),
        rule_groups: Sequence[str] = (),
        tags: TagTarget | None = None,
    ) -> FilePushed:
        """Keep the file and queue one ``file_put`` job per target computer (named by uid, or a
        member of ``group_ids`` or of the rule groups ``rule_groups``, or having ``tags``)."""
        self._audit.require(actor, Perm.UPLOAD_FILES, "file.put", "job_batch")
        mode = check_request(request)
        if tags is not None and not tags.tags:
            raise ValidationFailed("please specify tags in the tags list", field="tags")
        if not computer_uids and not group_ids and not rule_groups and tags is None:
            raise ValidationFailed("give at least one computer or group", field="client_id")
        if self._store is None:
            raise Unavailable("this server keeps no files (no data directory)")
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(Computer.uid, Computer.id).where(Computer.uid.in_(set(computer_uids)))
            )
            found = {uid: cid for uid, cid in rows}
            keys = list(dict.fromkeys(rule_groups))
            known_keys = select(RuleGroup.key).where(RuleGroup.key.in_(keys))
            known = set(uow.session.scalars(known_keys)) if keys else set()
        missing = [u for u in computer_uids if u not in found]
        if missing:
            raise NotFound("computer", missing[0])
        unknown = [k for k in keys if k not in known]  # before the file is kept (checked again later)
        if unknown:
            raise ValidationFailed(f"Unknown group with id={unknown[0]!r}.", field="group_ids")
        with self._store.locked(exclusive=False):
            return self._push(
                actor,
                self._store.save(source, self.max_bytes),
                request,
                mode,
                found,
                group_ids,
                rule_groups,
                tags,
            )

    def _push(
        self,
        actor: Actor,
        stored: StoredFile,
        request: FilePutRequest,
        mode: int | None,
        found: dict[str, int],
        group_ids: Sequence[int],
        rule_groups: Sequence[str],
        tags: TagTarget | None,
    ) -> FilePushed:
        push_id = str(uuid.uuid4())
        spec: dict[str, object] = {
            "upload": push_id,
            "sha256": stored.sha256,
            "size": stored.size,
            "dest": request.dest,
            "force": request.force,
            "sync": request.sync,
            "timeout_sec": TIMEOUT_SEC,
        }
        if mode is not None:
            spec["mode"] = mode
        for key, value in (("user", request.user), ("group", request.group), ("filename", request.filename)):
            if value:
                spec[key] = value
        batch = self._jobs.create_file_puts(
            actor,
            spec,
            computer_ids=sorted(set(found.values())),
            group_ids=group_ids,
            rule_groups=rule_groups,
            tags=tags,
        )
        return FilePushed(push_id, request.dest, stored.size, stored.sha256, batch)

    def file_for_agent(self, computer_id: int, job_id: int) -> StoredFile:
        """The file of a pending ``file_put`` job of this computer (else denied)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            job = uow.session.get(Job, job_id)
            if job is None or job.computer_id != computer_id or job.kind != KIND:
                raise NotFound("file job", job_id)
            if job.status not in PENDING:
                raise PermissionDenied("the file job is no longer pending")
            sha, size = str(job.spec.get("sha256", "")), int(job.spec.get("size", 0))
        if self._store is None or not self._store.path(sha).is_file():
            raise NotFound("pushed file", sha)
        return StoredFile(self._store.path(sha), sha, size)

    def purge_unused(self) -> int:
        """Periodic (housekeeping ``files.purge``): remove the stored files no pending
        ``file_put`` job names (every agent that was to fetch one has fetched it, or its job
        ended), and temporary files of pushes that died; returns how many went. Skips the
        round while a push holds the store's lock."""
        if self._store is None:
            return 0
        stale = self._clock() - timedelta(seconds=STALE_TMP_SEC)
        with self._store.locked(exclusive=True) as mine:
            if not mine:
                return 0
            with UnitOfWork(self._db, readonly=True) as uow:
                specs = uow.session.scalars(select(Job.spec).where(Job.kind == KIND, Job.status.in_(PENDING)))
                wanted = {str(spec.get("sha256", "")) for spec in specs}
            gone: list[str] = []
            for path in self._store.stored():
                if path.name.startswith(".push-"):
                    if datetime.fromtimestamp(path.stat().st_mtime, UTC) >= stale:
                        continue
                elif path.name in wanted:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    gone.append(path.name)
                if path.parent != self._store.root:
                    with contextlib.suppress(OSError):
                        path.parent.rmdir()  # empty once its last file went
        if gone:
            with UnitOfWork(self._db) as uow:
                self._audit.add(
                    uow.session,
                    system_actor("housekeeping"),
                    "file.purge",
                    "file",
                    count=len(gone),
                    files=gone,
                )
        return len(gone)


class FileJobs(Protocol):
    """What the push needs of the job service (``JobService.create_file_puts``)."""

    def create_file_puts(
        self,
        actor: Actor,
        spec: dict[str, object],
        *,
        computer_ids: Sequence[int],
        group_ids: Sequence[int],
        rule_groups: Sequence[str],
        tags: TagTarget | None,
    ) -> BatchCreated: ...
