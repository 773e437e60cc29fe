"""Jobs of kind ``file_put``: fetch a file the server keeps and write it to a destination path.

The file is fetched into a temporary file next to the destination (resuming with ``Range``,
checked against the SHA-256 the server announced: ``payload.fetch``), given the requested mode
and owner, then renamed over the destination, so no reader ever sees half a file. An existing
destination is overwritten with ``force``; with ``sync`` it is rewritten only when its content
differs, and only chmod/chown'ed when just its mode or owner differ; otherwise it is left alone
and the result's message starts with ``ignored:``. System directories are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
from pathlib import Path

from fleetdeck.agent.payload import PayloadError, ServerAccess, fetch
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

KIND = "file_put"
IGNORED = "ignored: "
# never written to, whatever the server asks: the system's own programs and trees
PROTECTED = (
    *("/bin", "/sbin", "/boot", "/usr/bin", "/usr/sbin", "/dev", "/lib", "/lib32", "/lib64", "/run"),
    *("/proc", "/sys"),
)


class FileError(Exception):
    """The file cannot be written as asked."""


def _protected(dest: Path) -> bool:
    text = str(dest)
    return any(text == p or text.startswith(p + "/") for p in PROTECTED)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _ids(user: str, group: str) -> tuple[int, int]:
    """uid and gid for chown (-1: leave as it is); owners are a Unix notion."""
    if not user and not group:
        return -1, -1
    if os.name != "posix":
        raise FileError("owner and group can only be set on Unix")
    import grp
    import pwd

    try:
        uid = pwd.getpwnam(user).pw_uid if user else -1
    except KeyError:
        raise FileError(f"no user {user!r} on this computer") from None
    try:
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        raise FileError(f"no group {group!r} on this computer") from None
    return uid, gid


def _apply(path: Path, mode: int | None, uid: int, gid: int) -> None:
    if mode is not None:
        os.chmod(path, mode)
    if uid != -1 or gid != -1:
        try:
            os.chown(path, uid, gid)
        except PermissionError:
            raise FileError(f"not allowed to change the owner of {path}") from None


def _differs(path: Path, mode: int | None, uid: int, gid: int) -> bool:
    st = path.stat()
    return (
        (mode is not None and stat.S_IMODE(st.st_mode) != mode)
        or uid not in (-1, st.st_uid)
        or gid not in (-1, st.st_gid)
    )


def put(job_id: int, params: dict[str, object], access: ServerAccess, cancelled: threading.Event) -> str:
    """Write the file; returns what was done (``ignored: ...`` when nothing). Blocking."""
    dest = Path(str(params.get("dest", "")))
    sha256, size = str(params.get("sha256", "")), int(str(params.get("size", 0)))
    raw_mode = params.get("mode")
    mode = int(raw_mode) if isinstance(raw_mode, int) else None
    force, sync = bool(params.get("force")), bool(params.get("sync"))
    if not dest.is_absolute() or not dest.name:
        raise FileError(f"destination {str(dest)!r} is not an absolute file path")
    dest = Path(os.path.normpath(dest))
    if _protected(dest):
        raise FileError(f"destination {dest} is in a protected system directory")
    if dest.is_dir():
        raise FileError(f"destination {dest} is a directory")
    uid, gid = _ids(str(params.get("user", "")), str(params.get("group", "")))
    if dest.exists():
        if sync and _sha256(dest) == sha256:
            if not _differs(dest, mode, uid, gid):
                return f"{IGNORED}{dest} is already in sync"
            _apply(dest, mode, uid, gid)
            return f"{dest} already had this content; mode and owner set"
        if not force and not sync:
            return f"{IGNORED}{dest} exists; neither force nor sync was asked"
    if not dest.parent.is_dir():
        raise FileError(f"directory {dest.parent} does not exist")
    tmp = dest.parent / f".{dest.name}.fleetdeck-{job_id}.part"
    try:
        fetch(access, f"/agent/v1/files/{job_id}", tmp, sha256, size, lambda _d, _t: None, cancelled)
        _apply(tmp, mode if mode is not None else 0o644, uid, gid)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return f"{size} bytes written to {dest}"


async def run(job: m.JobSpec, access: ServerAccess | None) -> m.JobResult:
    started = time.time()
    status: m.AgentJobStatus = "failed"
    out, message = "", ""
    if access is None:
        message = "this agent cannot fetch files (no server address)"
    else:
        try:
            out = await asyncio.to_thread(put, job.id, dict(job.params), access, threading.Event())
            status = "succeeded"
            message = out if out.startswith(IGNORED) else ""
        except (FileError, PayloadError, OSError) as exc:
            message = str(exc)
    log.info("file job %s: %s %s", job.id, status, message or out)
    return m.JobResult(
        job_id=job.id,
        status=status,
        exit_code=0 if status == "succeeded" else 1,
        stdout=out,
        started_at=started,
        finished_at=time.time(),
        message=message,
    )
