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
