"""How package files travel to the server: the one place that knows.

A package's payload goes by /api/v1's streaming routes (docs/operations.md, "Large payloads"):
the package record is created first (``POST /packages``, JSON without files), then its payload
is streamed as raw bytes, so no JSON body limit applies and the CLI's memory stays flat. The
payload is one ZIP: a single ZIP file is sent as it is; anything else (one other file, several
files, directories) is zipped locally first, into a temporary file, so the SHA-256 the server
reports for the stored payload can be checked against the local one. Up to ``resumable_above``
bytes it is one ``PUT /packages/{id}/payload``; above it, a resumable upload (``POST /uploads``
+ ``PATCH /uploads/{id}``), which after a dropped connection asks the server where it stands
(``HEAD``) and goes on from the server's offset. opsi packages still go through the JSON route
``POST /packages/import-opsi`` (base64, the server's ``max_body_bytes`` applies), generated as
it is sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleetdeck.cli.remote.client import Remote, error_message, fail

CHUNK = 3 * 256 * 1024  # a multiple of 3: base64 of consecutive chunks concatenates exactly
RESUMABLE_ABOVE = 16 * 1024 * 1024  # default: larger payloads use the resumable upload
RETRIES = 8  # dropped connections in a row (without progress in between) before giving up
RAW = "application/offset+octet-stream"

Advance = Callable[[int], None]  # called with the number of file bytes just sent
Position = Callable[[int, int], None]  # called with (bytes on their way or stored, total)


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


@dataclass(frozen=True)
class Payload:
    """The one file that is uploaded: a ZIP, with the name and digest the server will report."""

    path: Path
    filename: str
    size: int
    sha256: str


@contextlib.contextmanager
def payload_zip(files: list[Upload]) -> Iterator[Payload]:
    """A single ZIP as it is; anything else zipped (deflated, like the server's JSON route)
    into a temporary file that is gone afterwards."""
    with contextlib.ExitStack() as stack:
        if len(files) == 1 and zipfile.is_zipfile(files[0].path):
            path, filename = files[0].path, files[0].name
        else:
            names = [f.name for f in files]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                fail(f"file {twice[0]!r} given twice (the payload's names must differ)", 2)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleetdeck-upload-")))
            path, filename = tmp / "payload.zip", "payload.zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in files:
                    zf.write(f.path, f.name)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        yield Payload(path, filename, path.stat().st_size, digest.hexdigest())


def _stream(payload: Payload, offset: int, position: Position) -> Iterator[bytes]:
    """The payload's bytes from ``offset`` on, reporting each chunk as it leaves."""
    with payload.path.open("rb") as fh:
        fh.seek(offset)
        done = offset
        while chunk := fh.read(CHUNK):
            yield chunk
            done += len(chunk)
            position(done, payload.size)


def _put(remote: Remote, package_id: int, payload: Payload, position: Position) -> dict[str, Any]:
    """One request: ``PUT /packages/{id}/payload``, the server checking the announced hash."""
    response = remote.request(
        "PUT",
        f"/packages/{package_id}/payload",
        params={"filename": payload.filename},
        content=_stream(payload, 0, position),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": str(payload.size),
            "X-Payload-SHA256": payload.sha256,
        },
    )
    data: dict[str, Any] = response.json()["data"]
    return data


def _resumable(remote: Remote, package_id: int, payload: Payload, position: Position) -> dict[str, Any]:
    """``POST /uploads``, then ``PATCH`` the rest from the server's offset until it is complete.
    A connection that drops (or times out) is retried from where ``HEAD`` says the upload
    stands, up to ``RETRIES`` times in a row without progress, waiting a little longer each time."""
    info = remote.data(
        "POST",
        "/uploads",
        {
            "package_id": package_id,
            "length": payload.size,
            "filename": payload.filename,
            "sha256": payload.sha256,
        },
    )
    url = f"/uploads/{info['id']}"
    offset, best, tries, lost = 0, 0, 0, False
    while True:
        try:
            if lost:
                head = remote.http.head(url)
                if head.status_code != 200:
                    fail(error_message(head))
                offset = int(head.headers["Upload-Offset"])
                position(offset, payload.size)
            response = remote.http.patch(
                url,
                content=_stream(payload, offset, position),
                headers={
                    "Content-Type": RAW,
                    "Upload-Offset": str(offset),
                    "Content-Length": str(payload.size - offset),
                },
            )
        except httpx.TransportError as exc:
            tries, lost = tries + 1, True
            if tries > RETRIES:
                fail(f"upload {info['id']} stopped at byte {offset} of {payload.size}: {exc}")
            time.sleep(min(0.25 * 2**tries, 10.0))
            continue
        if response.status_code == 200:
            data: dict[str, Any] = response.json()["data"]
            return data
        if response.status_code not in (204, 409):
            fail(error_message(response))
        # 204: a piece stored, more to send; 409: the server stands elsewhere (or is still
        # finishing the piece a dropped connection sent): go on from its offset
        offset = int(response.headers.get("Upload-Offset", offset))
        if offset > best:
            best, tries = offset, 0
        else:
            tries += 1
            if tries > RETRIES:
                fail(error_message(response))
            time.sleep(min(0.25 * 2**tries, 10.0))
        lost = False
        position(offset, payload.size)


def send_package(
    remote: Remote,
    fields: dict[str, Any],
    files: list[Upload],
    position: Position,
    resumable_above: int = RESUMABLE_ABOVE,
) -> dict[str, Any]:
    """Create a package (``fields`` as ``POST /packages`` takes them) with ``files`` as its
    payload, streamed; the stored payload's SHA-256 must be the local one. A package whose
    payload could not be uploaded is deleted again, so no half-made package stays behind."""
    with payload_zip(files) as payload:
        package = remote.data("POST", "/packages", fields)
        pid = int(package["id"])
        try:
            send = _resumable if payload.size > resumable_above else _put
            upload = send(remote, pid, payload, position)
            if upload.get("sha256") != payload.sha256:
                fail(
                    f"the server stored a payload with SHA-256 {upload.get('sha256')}, "
                    f"not the local {payload.sha256}"
                )
        except BaseException:
            with contextlib.suppress(httpx.HTTPError):
                remote.http.delete(f"/packages/{pid}")
            raise
        stored: dict[str, Any] = remote.data("GET", f"/packages/{pid}")
        return stored


def send_opsi(remote: Remote, fields: dict[str, Any], package: Upload, advance: Advance) -> dict[str, Any]:
    """Import an opsi package file (``POST /packages/import-opsi``)."""
    length, body = json_body(fields, "file", [package], False, advance)
    imported: dict[str, Any] = _post_json(remote, "/packages/import-opsi", length, body)
    return imported
