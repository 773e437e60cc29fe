"""How package files travel to the server: the one place that knows.

Today that is /api/v1's JSON routes (``POST /packages``, ``POST /packages/import-opsi``), files
base64-encoded inside the JSON body; the server's ``max_body_bytes`` limit applies (a 413 says
so). The body is generated as it is sent, a chunk of each file at a time, with its length known
beforehand, so the CLI's memory stays flat whatever the file size and the progress bar follows
the bytes actually sent. A streaming upload route replaces this by changing ``send_package``
alone: it gets the same arguments and returns the created package.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetdeck.cli.remote.client import Remote

CHUNK = 3 * 256 * 1024  # a multiple of 3: base64 of consecutive chunks concatenates exactly

Advance = Callable[[int], None]  # called with the number of file bytes just sent


@dataclass(frozen=True)
class Upload:
    """A file to send under the name the payload gives it (a path relative to the payload root)."""

    path: Path
    name: str
    size: int


def collect(paths: list[Path]) -> list[Upload]:
    """Files as given; a directory's files (recursively) under names relative to it."""
    out: list[Upload] = []
    for path in paths:
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                out.append(Upload(f, f.relative_to(path).as_posix(), f.stat().st_size))
        else:
            out.append(Upload(path, path.name, path.stat().st_size))
    return out


def _b64_len(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _file_parts(upload: Upload, advance: Advance) -> Iterator[bytes]:
    with upload.path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield base64.b64encode(chunk)
            advance(len(chunk))


def json_body(
    fields: dict[str, Any], key: str, files: list[Upload], many: bool, advance: Advance
) -> tuple[int, Iterator[bytes]]:
    """``fields`` plus ``key``: a list of ``{"name", "content"}`` (``many``) or one of them,
    as (Content-Length, chunks)."""
    head = (
        json.dumps(fields)[:-1] + (", " if fields else "") + json.dumps(key) + ": " + ("[" if many else "")
    ).encode()
    opens = [
        (("," if i else "") + '{"name": ' + json.dumps(f.name) + ', "content": "').encode()
        for i, f in enumerate(files)
    ]
    close, tail = b'"}', (b"]}" if many else b"}")
    length = (
        len(head)
        + len(tail)
        + sum(len(o) + _b64_len(f.size) + len(close) for o, f in zip(opens, files, strict=True))
    )

    def chunks() -> Iterator[bytes]:
        yield head
        for opening, upload in zip(opens, files, strict=True):
            yield opening
            yield from _file_parts(upload, advance)
            yield close
        yield tail

    return length, chunks()


def _post_json(remote: Remote, path: str, length: int, body: Iterator[bytes]) -> Any:
    response = remote.request(
        "POST",
        path,
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(length)},
    )
    return response.json()["data"]


def send_package(
    remote: Remote, fields: dict[str, Any], files: list[Upload], advance: Advance
) -> dict[str, Any]:
    """Create a package (``fields`` as ``POST /packages`` takes them) with ``files`` as payload."""
    length, body = json_body(fields, "files", files, True, advance)
    created: dict[str, Any] = _post_json(remote, "/packages", length, body)
    return created


def send_opsi(remote: Remote, fields: dict[str, Any], package: Upload, advance: Advance) -> dict[str, Any]:
    """Import an opsi package file (``POST /packages/import-opsi``)."""
    length, body = json_body(fields, "file", [package], False, advance)
    imported: dict[str, Any] = _post_json(remote, "/packages/import-opsi", length, body)
    return imported
