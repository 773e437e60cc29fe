"""Fetching and unpacking package payloads (stdlib only: http.client, zipfile).

Downloads resume with ``Range`` after a dropped connection (also one cut off midway: a body
shorter than its ``Content-Length`` is taken as a drop, not as the end), report their progress
in bytes, wait when the server says it is busy (503 with ``Retry-After``: its cap on concurrent
payload downloads) without counting that against the retry time, are checked against the SHA-256
the server announced, and go over the same pinned TLS as the agent's websocket: the
certificate fingerprint is compared *before* the agent's key is sent. Unpacking refuses
archive entries that would land outside the target directory (zip-slip).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from fleetdeck.agent import AGENT_VERSION
from fleetdeck.agent.config import WS_PATH, cert_fingerprint
from fleetdeck.agent.transport import ca_tls_context, pinned_tls_context

if TYPE_CHECKING:
    import http.client

# http.client and zipfile are imported where a download or an unpack happens, not here: the
# connection imports this module for ServerAccess, and an idle agent should not carry them
# (with the email package http.client brings, ~1 MiB of resident memory; issue #20).

CHUNK = 64 * 1024
# A download cut off by a restarting server (connection refused or reset) is tried again, with
# a growing pause, for this long: a server restart during a rollout takes seconds, and failing
# every install that was downloading then (as three quick attempts did) is worse than waiting.
RETRY_FOR_SEC = 120.0
RETRY_PAUSE_MAX_SEC = 5.0
TIMEOUT_SEC = 60.0


# Longest wait a server's Retry-After may ask for (a busy server's queue, not a stop).
BUSY_WAIT_MAX_SEC = 60.0

# (bytes received so far, bytes in all or None when the server did not say)
Progress = Callable[[int, int | None], None]


class PayloadError(Exception):
    """The payload could not be fetched, verified or unpacked."""


class _Busy(Exception):
    """The server serves as many payload downloads as it may: come back after ``wait`` s."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"server busy, retry in {wait:g} s")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class ServerAccess:
    base_url: str  # http(s)://host:port[/prefix]
    uid: str
    key: str
    fingerprint: str | None  # pinned certificate (https only)
    ca_pem: str | None = None  # or the pinned CA: any server certificate it signed


def base_url(ws_url: str) -> str:
    """``wss://host:8443/agent/v1/ws`` -> ``https://host:8443``."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    path = parts.path[: -len(WS_PATH)] if parts.path.endswith(WS_PATH) else parts.path
    return urlunsplit((scheme, parts.netloc, path.rstrip("/"), "", ""))


def _connect(access: ServerAccess) -> tuple[http.client.HTTPConnection, str]:
    import http.client

    parts = urlsplit(access.base_url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host,
            parts.port or 443,
            timeout=TIMEOUT_SEC,
            context=ca_tls_context(access.ca_pem) if access.ca_pem else pinned_tls_context(),
        )
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            raise PayloadError(
                f"server certificate not signed by the pinned CA: {exc.verify_message}"
            ) from None
        sock = conn.sock
        der = sock.getpeercert(binary_form=True) if sock is not None else None  # type: ignore[union-attr]
        seen = cert_fingerprint(der) if der else None
        expected = None if access.ca_pem else access.fingerprint
        if seen is None or (expected is not None and seen != expected):
            conn.close()
            raise PayloadError(f"server certificate {seen} does not match the pinned {access.fingerprint}")
    else:
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=TIMEOUT_SEC)
    return conn, parts.path.rstrip("/")


def _fetch_once(
    access: ServerAccess,
    path: str,
    dest: Path,
    size: int | None,
    progress: Progress,
    cancelled: threading.Event,
) -> None:
    import http.client

    have = dest.stat().st_size if dest.exists() else 0
    conn, prefix = _connect(access)
    try:
        headers = {
            "Authorization": f"Bearer {access.uid}:{access.key}",
            "User-Agent": f"fleetdeck-agent/{AGENT_VERSION}",
        }
        if have:
            headers["Range"] = f"bytes={have}-"
        conn.request("GET", prefix + path, headers=headers)
        resp = conn.getresponse()
        if resp.status == 416 and size is not None and have >= size:
            return  # already complete
        if resp.status == 503 and resp.headers.get("Retry-After", "").strip().isdigit():
            raise _Busy(min(float(resp.headers["Retry-After"].strip()), BUSY_WAIT_MAX_SEC))
        if resp.status not in (200, 206):
            body = resp.read(500).decode(errors="replace").strip()
            raise PayloadError(f"payload download refused: HTTP {resp.status} {body}")
        total = size or (int(resp.headers.get("Content-Length", "0")) + (have if resp.status == 206 else 0))
        mode = "ab" if resp.status == 206 else "wb"
        done = have if resp.status == 206 else 0
        with dest.open(mode) as out:
            progress(done, total or None)
            while chunk := resp.read(CHUNK):
                if cancelled.is_set():
                    raise PayloadError("cancelled")
                out.write(chunk)
                done += len(chunk)
                progress(done, total or None)
        if total and done < total:
            # http.client ends a body cut off by a dropped connection as if it were complete:
            # a drop, retried from here with Range.
            raise http.client.IncompleteRead(b"", total - done)
    finally:
        conn.close()


def fetch(
    access: ServerAccess,
    path: str,
    dest: Path,
    sha256: str,
    size: int | None,
    progress: Progress,
    cancelled: threading.Event | None = None,
) -> None:
    """Download to ``dest`` (resuming a partial file), then verify; blocking (run in a thread).
    ``progress(done, total)`` is called for every piece received (the caller throttles)."""
    import http.client

    cancelled = cancelled or threading.Event()
    give_up = time.monotonic() + RETRY_FOR_SEC
    attempt = 0
    while True:
        attempt += 1
        try:
            _fetch_once(access, path, dest, size, progress, cancelled)
            break
        except _Busy as busy:
            # Waiting in the server's queue is not failing: the retry time starts again after it.
            cancelled.wait(busy.wait)
            give_up = time.monotonic() + busy.wait + RETRY_FOR_SEC
            attempt = 0
            if cancelled.is_set():
                break
        except (OSError, http.client.HTTPException) as exc:
            if cancelled.is_set():
                break
            if time.monotonic() >= give_up:
                raise PayloadError(
                    f"payload download failed after {attempt} attempts in {RETRY_FOR_SEC:g} s: {exc}"
                ) from exc
            cancelled.wait(min(2 ** (attempt - 1), RETRY_PAUSE_MAX_SEC))
    if cancelled.is_set():
        raise PayloadError("cancelled")
    digest = hashlib.sha256()
    with dest.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        dest.unlink(missing_ok=True)
        raise PayloadError(f"payload checksum mismatch: got {digest.hexdigest()}, expected {sha256}")
    final = dest.stat().st_size
    progress(final, final)


def _member_path(root: Path, name: str) -> Path:
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    if not parts or clean.startswith("/") or ".." in parts or ":" in parts[0]:
        raise PayloadError(f"unsafe path in payload: {name!r}")
    target = root.joinpath(*parts)
    if not target.resolve().is_relative_to(root.resolve()):
        raise PayloadError(f"unsafe path in payload: {name!r}")
    return target


def unpack(archive: Path, root: Path) -> int:
    """Extract every member below ``root``; returns the number of files."""
    import zipfile

    count = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            targets = [(_member_path(root, m.filename), m) for m in members]  # check all before writing
            for target, info in targets:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (info.external_attr >> 16) & 0o777
                if mode and os.name == "posix":
                    os.chmod(target, (mode & 0o755) | 0o600)
                count += 1
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise PayloadError(f"payload is not a valid ZIP: {exc}") from exc
    return count
