"""A payload download cut off while the server restarts is tried again until the server is back
(agent/payload.py), rather than failing the install after three quick attempts. The "server"
here drops its first connections unanswered, as a server being killed and restarted does, then
serves the payload."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetdeck.agent import payload
from fleetdeck.agent.payload import PayloadError, ServerAccess, fetch

PAYLOAD = b"PK-not-really-a-zip" * 100


@contextlib.contextmanager
def serving(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback HTTP "server" that hands each connection to ``answer`` (then closes it), in a
    thread; yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    # close() alone does not wake an accept() blocked in another thread on Linux (the join
    # waited out its 5 s); shutdown() does, with an OSError that ends the loop.
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)
    assert not thread.is_alive()


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[int]]]:
    """Drops the first 5 connections without a byte, then answers each with PAYLOAD.
    Yields its base URL and the list of connections it has seen (dropped ones as 0)."""
    seen: list[int] = []

    def answer(conn: socket.socket) -> None:
        if len(seen) < 5:
            seen.append(0)
            return
        seen.append(1)
        conn.recv(65536)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PAYLOAD)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + PAYLOAD)

    with serving(answer) as url:
        yield url, seen


def test_a_download_cut_off_by_a_restarting_server_is_retried_until_it_is_back(
    flaky_server: tuple[str, list[int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payload, "RETRY_PAUSE_MAX_SEC", 0.05)  # the pauses, not the behaviour
    url, seen = flaky_server
    dest = tmp_path / "payload.zip"
    access = ServerAccess(url, "uid", "key", None)
    fetch(
        access,
        "/agent/v1/payload/1",
        dest,
        hashlib.sha256(PAYLOAD).hexdigest(),
        len(PAYLOAD),
        lambda *_: None,
    )
    assert dest.read_bytes() == PAYLOAD
    assert seen == [0, 0, 0, 0, 0, 1]  # five cut off (more than the three attempts of before), then served


def test_a_server_that_stays_away_fails_the_download_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payload, "RETRY_FOR_SEC", 0.2)
    monkeypatch.setattr(payload, "RETRY_PAUSE_MAX_SEC", 0.05)
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens there
    access = ServerAccess(f"http://127.0.0.1:{port}", "uid", "key", None)
    with pytest.raises(PayloadError, match=r"payload download failed after \d+ attempts in 0.2 s: .*refused"):
        fetch(access, "/p", tmp_path / "p.zip", "0" * 64, 10, lambda *_: None)


@pytest.fixture
def cutting_server() -> Iterator[tuple[str, list[str]]]:
    """Answers the first request with 503 + Retry-After (busy), the second with the whole
    Content-Length but only half the body before it closes (a drop), the third honouring its
    Range. Yields its base URL and the Range header of each request ("" for none)."""
    ranges: list[str] = []

    def answer(conn: socket.socket) -> None:
        head = conn.recv(65536).decode()
        lines = head.split("\r\n")
        rng = next((h.split(":", 1)[1].strip() for h in lines if h.lower().startswith("range:")), "")
        ranges.append(rng)
        if len(ranges) == 1:
            busy = b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
            conn.sendall(busy + b"Connection: close\r\n\r\n")
        elif not rng:
            head_out = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PAYLOAD)}\r\nConnection: close\r\n\r\n"
            conn.sendall(head_out.encode() + PAYLOAD[: len(PAYLOAD) // 2])
        else:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            rest = PAYLOAD[start:]
            head_out = (
                f"HTTP/1.1 206 Partial Content\r\nContent-Length: {len(rest)}\r\n"
                f"Content-Range: bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}\r\n"
                "Connection: close\r\n\r\n"
            )
            conn.sendall(head_out.encode() + rest)

    with serving(answer) as url:
        yield url, ranges


def test_a_busy_server_is_waited_out_and_a_body_cut_off_midway_resumes_with_range(
    cutting_server: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payload, "BUSY_WAIT_MAX_SEC", 0.05)  # the waits, not the behaviour
    monkeypatch.setattr(payload, "RETRY_PAUSE_MAX_SEC", 0.05)
    url, ranges = cutting_server
    dest = tmp_path / "payload.zip"
    seen: list[tuple[int, int | None]] = []
    access = ServerAccess(url, "uid", "key", None)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    fetch(access, "/agent/v1/payload/1", dest, sha, len(PAYLOAD), lambda *a: seen.append(a))
    assert dest.read_bytes() == PAYLOAD
    assert ranges == ["", "", f"bytes={len(PAYLOAD) // 2}-"]
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert (len(PAYLOAD) // 2, len(PAYLOAD)) in seen  # progress in bytes, from where it resumed
