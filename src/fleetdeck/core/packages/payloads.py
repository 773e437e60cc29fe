"""Payload storage: one ZIP per package, content-addressed under ``<root>/<sha[:2]>/<sha>.zip``.

Files given one by one are packed as OCO does: exactly one file that already is a ZIP is stored
as it is; anything else is zipped, each file under its given name. Writes are atomic (temp file
in the same directory, fsync, rename), so a reader never sees half a payload, and identical
payloads are stored once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.packages.entities import PayloadFile

CHUNK = 1024 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive


def is_zip(data: bytes) -> bool:
    if not data.startswith(ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, ValueError):
        return False
    return True


def _safe_name(name: str) -> str:
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if not clean or clean.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise ValidationFailed(f"invalid file name {name!r}", field="files", reason=Reason.INVALID)
    return clean


def build_zip(files: Sequence[PayloadFile]) -> bytes | None:
    """The archive for these files; None when no file has a name and content."""
    files = [f for f in files if f.name and f.content]
    if not files:
        return None
    if len(files) == 1 and is_zip(files[0].content):
        return files[0].content
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        seen: set[str] = set()
        for f in files:
            name = _safe_name(f.name)
            if name in seen:
                raise ValidationFailed(f"file {name!r} given twice", field="files", reason=Reason.INVALID)
            seen.add(name)
            zf.writestr(name, f.content)
    return buffer.getvalue()


def _write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write`` fills a temporary file next to ``target``, which then replaces it (fsynced
    first), so a reader never sees half a payload."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_zip_file(path: Path) -> bool:
    """Whether the file is a ZIP archive: its central directory is read, not its content."""
    try:
        with path.open("rb") as fh:
            if not fh.read(4).startswith(ZIP_MAGIC):
                return False
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return True


class _Hashing:
    """A write-only file object that hashes what passes through it (a ZIP written without
    seeking: ``zipfile`` then uses data descriptors, so every byte is written exactly once)."""

    def __init__(self, raw: BinaryIO, digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest
        self.written = 0

    def write(self, data: bytes) -> int:
        self._raw.write(data)
        self._digest.update(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    def tell(self) -> int:
        return self.written

    def close(self) -> None:
        """The caller closes the file underneath."""

    def seekable(self) -> bool:
        return False


class PayloadStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.zip"

    def put(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists() and target.stat().st_size == len(data):
            return sha, len(data)
        _write_atomically(target, lambda out: out.write(data))
        return sha, len(data)

    def adopt(self, source: Path, sha256: str, size: int) -> None:
        """Takes over ``source`` whose digest is already known (a streamed upload hashed its
        bytes as they arrived), so a payload of gigabytes is not read a second time: renamed
        into place (or dropped when the store has it already). ``source`` is gone afterwards."""
        target = self.path(sha256)
        try:
            if target.exists() and target.stat().st_size == size:
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(source, target)  # the spool directory is inside the store: same file system
        finally:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()

    def wrap(self, source: Path, name: str) -> tuple[str, int]:
        """``source``, a file that is no ZIP, packed as the one member ``name`` of a new ZIP
        (as ``build_zip`` packs a single file given as bytes), streamed: the ZIP is hashed while
        it is written, memory stays bounded. ``source`` is gone afterwards."""
        member = _safe_name(name or "payload.bin")
        digest = hashlib.sha256()
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".wrap-", suffix=".tmp", dir=self.root)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as raw:
                out = _Hashing(raw, digest)
                with (
                    zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
                    source.open("rb") as src,
                    zf.open(member, "w", force_zip64=True) as dst,
                ):
                    shutil.copyfileobj(src, dst, CHUNK)
                size = out.written
            self.adopt(tmp, digest.hexdigest(), size)
            return digest.hexdigest(), size
        finally:
            for leftover in (tmp, source):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    def put_file(self, source: Path) -> tuple[str, int]:
        """Takes over ``source`` (a ZIP written elsewhere, e.g. a package importer's spool file):
        hashed in chunks, then renamed into place, or copied when it lies on another file
        system; ``source`` is gone afterwards. Memory stays bounded whatever the size, so a
        payload of gigabytes never has to be held as bytes."""
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(fh.fileno())
        sha = digest.hexdigest()
        target = self.path(sha)
        try:
            if target.exists() and target.stat().st_size == size:
                return sha, size
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(source, target)
            except OSError:  # another file system: copy next to the target, then rename
                with source.open("rb") as fh:
                    _write_atomically(target, lambda out: shutil.copyfileobj(fh, out, CHUNK))
        finally:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
        return sha, size

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
