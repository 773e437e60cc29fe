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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Protocol

from sqlalchemy import select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, PermissionDenied, TooLarge, Unavailable, ValidationFailed
from fleetdeck.core.jobs.entities import FILE_PUT_KIND, BatchCreated
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
        self, db: Database, audit: AuditLog, jobs: FileJobs, store: FileStore | None, max_bytes: int
    ) -> None:
        self._db = db
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
    ) -> FilePushed:
        """Keep the file and queue one ``file_put`` job per target computer (named by uid, or a
        member of ``group_ids`` or of the rule groups ``rule_groups``)."""
        self._audit.require(actor, Perm.UPLOAD_FILES, "file.put", "job_batch")
        mode = check_request(request)
        if not computer_uids and not group_ids and not rule_groups:
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
        stored = self._store.save(source, self.max_bytes)
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
    ) -> BatchCreated: ...
