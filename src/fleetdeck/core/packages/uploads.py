"""Streaming, resumable payload uploads: a package's payload sent as raw bytes, in one request or
in pieces, never held in memory.

An upload is created for a package with its declared length (``create_upload``: permission,
package, size limit and free disk space are checked before a byte is kept; audited
``payload_upload.create``). Its bytes go to a spool file ``<payload dir>/.uploads/<id>.part``
whose size *is* the offset, so a piece that arrives writes no row and an interrupted request
keeps what it delivered: the client asks for the offset (``upload``) and sends the rest.
``open_upload`` hands the transport an ``UploadSink`` for one request's bytes, locked (``flock``,
so two server processes sharing the directory cannot interleave two writers) and hashed as the
bytes pass; the digest is kept in memory for the next piece, and rebuilt from the spool file
when another process or a restart took it. When the last byte is in, ``finish_upload`` checks
the announced SHA-256, moves the file into the payload store (wrapping a file that is no ZIP
into one, as ``build_zip`` does for a single file) and makes it the package's payload, audited
``payload_upload.complete`` in the same transaction.

Uploads nobody finishes do not stay for ever: housekeeping's ``uploads.purge`` duty calls
``purge_abandoned_uploads``, which removes an unfinished upload whose spool file was last
written longer ago than ``uploads.abandon_after_sec`` (its row and its bytes, audited
``payload_upload.abandoned`` by the system), and spool files whose row is gone (a deleted
package's uploads go with it by cascade, their files do not).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, system_actor
from fleetdeck.core.errors import Conflict, NotFound, Reason, TooLarge, Unavailable, ValidationFailed
from fleetdeck.core.packages.payloads import CHUNK, PayloadStore, is_zip_file
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Package, PayloadUpload
from fleetdeck.storage.uow import UnitOfWork

SPOOL = ".uploads"
# Free space an upload must leave on the payload file system (a full disk stops the database too).
DISK_RESERVE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadInfo:
    id: int
    package_id: int | None
    length: int | None  # None: known when the body ends (a one-request upload of unknown size)
    offset: int
    filename: str
    expected_sha256: str | None
    sha256: str | None  # the stored payload's digest, once complete
    complete: bool
    created_at: datetime
    created_by: str
    completed_at: datetime | None


class UploadSink:
    """One request's bytes appended to an upload's spool file. ``write`` is blocking (the
    transport calls it from a worker thread); ``close`` releases the lock and remembers the
    digest for the next piece."""

    def __init__(
        self,
        owner: PayloadUploads,
        upload_id: int,
        fh: BinaryIO,
        start: int,
        length: int | None,
        digest: hashlib._Hash,
    ) -> None:
        self._owner = owner
        self.upload_id = upload_id
        self._fh = fh
        self.start = start
        self.offset = start
        self.length = length
        self._digest = digest
        self._closed = False

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length

    def write(self, data: bytes) -> None:
        if self.length is not None and self.offset + len(data) > self.length:
            raise TooLarge(
                f"more bytes than the upload's length of {self.length}", field="body", reason=Reason.INVALID
            )
        if self.length is None and self.offset + len(data) > self._owner.max_bytes:
            raise TooLarge(
                f"the payload exceeds the limit of {self._owner.max_bytes} bytes (max_payload_bytes)",
                field="body",
                reason=Reason.INVALID,
            )
        self._fh.write(data)
        self._digest.update(data)
        self.offset += len(data)

    def close(self, *, keep: bool = True) -> None:
        """``keep`` False: what this request wrote is cut off again (a piece refused midway)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._fh.flush()
            if not keep:
                self._fh.truncate(self.start)
                self.offset = self.start
            else:
                os.fsync(self._fh.fileno())
        finally:
            self._fh.close()  # releases the flock
        if keep:
            self._owner._remember(self.upload_id, self.offset, self._digest)


class PayloadUploads:
    """Mixed into ``PackageService``: needs ``_db``, ``_audit``, ``_clock``, ``_store`` and
    ``_collect_payload``."""

    _db: Database
    _audit: AuditLog
    _clock: Clock
    _store: PayloadStore | None
    max_bytes: int

    def _init_uploads(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._digests: dict[int, tuple[int, hashlib._Hash]] = {}
        self._digest_lock = threading.Lock()

    def _collect_payload(self, sha: str) -> None:  # PackageService's
        raise NotImplementedError

    def _spool(self) -> Path:
        if self._store is None:
            raise Unavailable("no payload directory is configured")
        return self._store.root / SPOOL

    def _part(self, upload_id: int) -> Path:
        return self._spool() / f"{upload_id}.part"

    def _remember(self, upload_id: int, offset: int, digest: hashlib._Hash) -> None:
        with self._digest_lock:
            self._digests[upload_id] = (offset, digest)

    def _digest_at(self, upload_id: int, part: Path, offset: int) -> hashlib._Hash:
        """The digest of the first ``offset`` bytes: remembered from the last piece, or read
        again from the spool file (another server process wrote the last piece, or a restart)."""
        with self._digest_lock:
            kept = self._digests.pop(upload_id, None)
        if kept is not None and kept[0] == offset:
            return kept[1]
        digest = hashlib.sha256()
        with part.open("rb") as fh:
            remaining = offset
            while remaining and (chunk := fh.read(min(CHUNK, remaining))):
                digest.update(chunk)
                remaining -= len(chunk)
        return digest

    def _info(self, row: PayloadUpload) -> UploadInfo:
        done = row.completed_at is not None
        offset = row.length or 0 if done else _size(self._part(row.id))
        return UploadInfo(
            id=row.id,
            package_id=row.package_id,
            length=row.length,
            offset=offset,
            filename=row.filename,
            expected_sha256=row.expected_sha256,
            sha256=row.sha256,
            complete=done,
            created_at=row.created_at,
            created_by=row.created_by,
            completed_at=row.completed_at,
        )

    def create_upload(
        self,
        actor: Actor,
        package_id: int,
        length: int | None,
        *,
        filename: str = "",
        sha256: str | None = None,
    ) -> UploadInfo:
        """An empty upload for the payload of ``package_id``; ``length`` None only for a body
        sent in one request whose size shows when it ends. Refused before any byte is kept:
        no permission, no such package, longer than ``max_bytes``, not enough free disk."""
        with self._audit.mutation(
            actor, "payload_upload.create", "payload_upload", perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            if s.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            if length is not None and length < 1:
                raise ValidationFailed("the payload is empty", field="length", reason=Reason.REQUIRED_MISSING)
            if length is not None and length > self.max_bytes:
                raise TooLarge(
                    f"the payload of {length} bytes exceeds the limit of {self.max_bytes} bytes"
                    " (max_payload_bytes)",
                    field="length",
                    reason=Reason.INVALID,
                    limit=self.max_bytes,
                )
            if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)):
                raise ValidationFailed(
                    "sha256 must be 64 lower-case hexadecimal digits", field="sha256", reason=Reason.INVALID
                )
            spool = self._spool()
            spool.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(spool).free
            if length is not None and length + DISK_RESERVE_BYTES > free:
                raise Unavailable(f"not enough free disk space for {length} bytes ({free} free)")
            row = PayloadUpload(
                length=length,
                filename=filename[:255],
                package_id=package_id,
                expected_sha256=sha256,
                created_at=self._clock(),
                created_by=actor.username,
                user_id=actor.user_id,
            )
            s.add(row)
            s.flush()
            self._part(row.id).touch(mode=0o600)
            m.object_id = str(row.id)
            m.detail = {"package_id": package_id, "length": length, "filename": row.filename}
            return self._info(row)

    def may_upload(self, actor: Actor, package_id: int) -> None:
        """Whether ``actor`` may upload a payload for this package (permission, package exists):
        a transport asks before it looks at a body it would refuse anyway."""
        actor.require(Perm.MANAGE_PACKAGES)
        with UnitOfWork(self._db, readonly=True) as uow:
            if uow.session.get(Package, package_id) is None:
                raise NotFound("package", package_id)

    def upload(self, actor: Actor, upload_id: int) -> UploadInfo:
        actor.require(Perm.MANAGE_PACKAGES)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.get(PayloadUpload, upload_id)
            if row is None:
                raise NotFound("upload", upload_id)
            return self._info(row)

    def open_upload(
        self, actor: Actor, upload_id: int, offset: int, incoming: int | None = None
    ) -> UploadSink:
        """A sink for bytes from ``offset`` on, which must be where the upload stands (else
        ``Conflict`` with the real offset in its detail); ``incoming``, the request's announced
        size, must fit in what is left (else ``TooLarge``, before a byte is read)."""
        info = self.upload(actor, upload_id)
        if info.complete:
            raise Conflict("the upload is complete", offset=info.offset)
        remaining = (info.length if info.length is not None else self.max_bytes) - offset
        if incoming is not None and incoming > remaining:
            raise TooLarge(
                f"{incoming} bytes sent, only {max(remaining, 0)} expected from offset {offset}",
                field="body",
                reason=Reason.INVALID,
            )
        part = self._part(upload_id)
        try:
            fh = part.open("r+b")
        except FileNotFoundError:
            raise NotFound("upload", upload_id) from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise Conflict("another request is writing this upload now", offset=info.offset) from None
        try:
            have = os.fstat(fh.fileno()).st_size
            if offset != have:
                raise Conflict(f"the upload stands at offset {have}, not {offset}", offset=have)
            digest = self._digest_at(upload_id, part, have)
            fh.seek(have)
        except BaseException:
            fh.close()
            raise
        return UploadSink(self, upload_id, fh, have, info.length, digest)

    def finish_upload(self, actor: Actor, sink: UploadSink, *, filename: str | None = None) -> UploadInfo:
        """After the sink is closed with every byte in: verify, store, attach to the package.
        A one-request upload of unknown length ends here at whatever arrived."""
        upload_id = sink.upload_id
        raw_sha = sink._digest.hexdigest()
        part = self._part(upload_id)
        with self._audit.mutation(
            actor, "payload_upload.complete", "payload_upload", upload_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            row = s.get(PayloadUpload, upload_id)
            if row is None or row.package_id is None:
                raise NotFound("upload", upload_id)
            if row.completed_at is not None:
                raise Conflict("the upload is complete", offset=row.length)
            if row.length is not None and sink.offset != row.length:
                raise Conflict(
                    f"the upload stands at offset {sink.offset} of {row.length}", offset=sink.offset
                )
            if row.expected_sha256 and raw_sha != row.expected_sha256:
                with contextlib.suppress(FileNotFoundError):
                    os.truncate(part, 0)  # start again: the bytes are not what was announced
                raise ValidationFailed(
                    f"the uploaded bytes have SHA-256 {raw_sha}, not the announced {row.expected_sha256};"
                    " the upload starts again at offset 0",
                    field="sha256",
                    reason=Reason.INVALID,
                )
            if filename:
                row.filename = filename[:255]
            store = self._store
            assert store is not None  # _spool() checked it
            if sink.offset == 0:
                raise ValidationFailed("the payload is empty", field="body", reason=Reason.REQUIRED_MISSING)
            if is_zip_file(part):
                sha, size = raw_sha, sink.offset
                store.adopt(part, sha, size)
            else:
                sha, size = store.wrap(part, row.filename or "payload.bin")
            pkg = s.get(Package, row.package_id)
            if pkg is None:
                raise NotFound("package", row.package_id)
            old = pkg.payload_sha256
            pkg.payload_sha256, pkg.payload_size = sha, size
            pkg.updated_at = self._clock()
            row.length = row.length if row.length is not None else sink.offset
            row.sha256, row.completed_at = sha, self._clock()
            m.detail = {
                "package_id": row.package_id,
                "sha256": sha,
                "size": size,
                "uploaded_sha256": raw_sha,
                "uploaded_bytes": sink.offset,
            }
            s.flush()
            info = self._info(row)
        with self._digest_lock:
            self._digests.pop(upload_id, None)
        if old and old != sha:
            self._collect_payload(old)
        return info

    def abort_upload(self, actor: Actor, upload_id: int) -> None:
        """Forget an unfinished upload and its bytes (a finished one is only a record: refused)."""
        with self._audit.mutation(
            actor, "payload_upload.delete", "payload_upload", upload_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            row = m.session.get(PayloadUpload, upload_id)
            if row is None:
                raise NotFound("upload", upload_id)
            if row.completed_at is not None:
                raise Conflict("the upload is complete", offset=row.length)
            m.detail = {"package_id": row.package_id, "offset": _size(self._part(upload_id))}
            m.session.delete(row)
        with self._digest_lock:
            self._digests.pop(upload_id, None)
        with contextlib.suppress(FileNotFoundError):
            self._part(upload_id).unlink()

    def pending_uploads(self, actor: Actor, package_id: int) -> list[UploadInfo]:
        """The unfinished uploads of a package (a client that lost its upload id finds it here)."""
        actor.require(Perm.MANAGE_PACKAGES)
        with UnitOfWork(self._db, readonly=True) as uow:
            if uow.session.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            rows = uow.session.scalars(
                select(PayloadUpload)
                .where(PayloadUpload.package_id == package_id, PayloadUpload.completed_at.is_(None))
                .order_by(PayloadUpload.created_at)
            )
            return [self._info(r) for r in rows]

    def purge_abandoned_uploads(self, abandon_after: timedelta) -> int:
        """Periodic (housekeeping ``uploads.purge``): remove the unfinished uploads untouched
        for ``abandon_after``, and spool files without an upload; returns how many went.

        "Touched" is the later of the upload's creation and its spool file's last write: a
        piece writes no row (see the module's docstring), so the file's time is the only trace
        of a slow client still at work. An upload a request is writing now holds the file's
        ``flock`` and is left alone; the lock is held from the check to the unlink, so a piece
        arriving meanwhile finds no upload (``NotFound``) rather than writing into a deleted
        file."""
        if self._store is None:
            return 0
        spool = self._spool()
        cutoff = self._clock() - abandon_after
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(PayloadUpload.id, PayloadUpload.created_at).where(PayloadUpload.completed_at.is_(None))
            )
            open_uploads: dict[int, datetime] = {uid: created for uid, created in rows}
        removed = 0
        for upload_id, created in sorted(open_uploads.items()):
            if created < cutoff and self._purge_upload(upload_id, cutoff):
                removed += 1
        # Spool files of no upload (their package was deleted): gone once they are old too.
        for part in spool.glob("*.part") if spool.is_dir() else ():
            stem = part.stem
            if stem.isdigit() and int(stem) in open_uploads:
                continue
            with contextlib.suppress(FileNotFoundError):
                if _mtime(part) < cutoff:
                    part.unlink()
                    removed += 1
        return removed

    def _purge_upload(self, upload_id: int, cutoff: datetime) -> bool:
        part = self._part(upload_id)
        try:
            fh = part.open("rb")
        except FileNotFoundError:
            fh = None
        try:
            if fh is not None:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # a request is writing it: not abandoned
                if _mtime(part) >= cutoff:
                    return False
            with UnitOfWork(self._db) as uow:
                row = uow.session.get(PayloadUpload, upload_id)
                if row is None or row.completed_at is not None:
                    return False
                offset = _size(part)
                self._audit.add(
                    uow.session,
                    system_actor("housekeeping"),
                    "payload_upload.abandoned",
                    "payload_upload",
                    upload_id,
                    package_id=row.package_id,
                    offset=offset,
                    length=row.length,
                    created_by=row.created_by,
                )
                uow.session.delete(row)
            with self._digest_lock:
                self._digests.pop(upload_id, None)
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            return True
        finally:
            if fh is not None:
                fh.close()


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
