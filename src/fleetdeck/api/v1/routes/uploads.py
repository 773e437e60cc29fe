"""Payload uploads that stream: the body goes to disk as it arrives, hashed on the way.

Three ways in, all ending in core's ``PackageService`` uploads (``core/packages/uploads.py``):

* ``PUT /packages/{id}/payload``: the raw payload as the request body, in one request;
* ``POST /packages/{id}/payload``: a ``multipart/form-data`` form whose part ``file`` is the
  payload (what a browser's file input sends), parsed as it streams;
* ``POST /uploads`` + ``PATCH /uploads/{id}`` (+ ``HEAD``): resumable, for slow or unreliable
  links. The client announces the length, sends pieces at ``Upload-Offset`` (tus 1.0's header;
  ``Content-Range: bytes a-b/total`` is accepted too), and after a dropped connection asks
  ``HEAD`` where to go on. Bytes that arrived before a drop are kept.

The handlers are ``async``: they read ``request.stream()`` and hand the bytes, at most
``BATCH`` at a time, to a worker thread that writes them, so memory stays flat whatever the
size (``bench/upload.py`` measures it). Permission, package, size and free space are checked
by core before the first byte is read; the request body limit ``max_body_bytes`` does not
apply here (these routes are ``api.limits.STREAMING``), ``max_payload_bytes`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from fleetdeck.api.limits import BodyTooLarge
from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.errors import UnsupportedMedia
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.uploads import UploadCreate, UploadOut
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.packages.uploads import UploadInfo, UploadSink
from fleetdeck.core.services import Services

router = APIRouter(tags=["packages"], responses=errors(401, 403, 422))

BATCH = 1024 * 1024  # bytes handed to the writing thread at once
RAW_TYPES = ("application/offset+octet-stream", "application/octet-stream")
_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)$")
SHA_HEADER = "X-Payload-SHA256"

CONTRACT = """
**Streaming upload contract** (what `fleetdeck packages upload` uses):

* One request: `PUT /api/v1/packages/{id}/payload` with the payload as the body
  (`Content-Type: application/octet-stream`, `Content-Length` recommended), optional
  `X-Payload-SHA256: <hex>` (checked after the last byte; 422 on mismatch) and `?filename=`
  (the member name when the file is no ZIP). Or `POST` the same path as `multipart/form-data`
  with the payload in the part named `file` (its filename is used). Answer: 200 with the
  upload (`sha256` is the stored payload's). A dropped connection discards the bytes.
* Resumable: `POST /api/v1/uploads` `{"package_id", "length", "filename"?, "sha256"?}` → 201
  with `id` (and `Location`). Then `PATCH /api/v1/uploads/{id}` with
  `Content-Type: application/offset+octet-stream` and `Upload-Offset: <n>` (or
  `Content-Range: bytes <first>-<last>/<length>`), the body being bytes from there; any
  number of pieces, of any size. 204 with `Upload-Offset` while bytes are missing, 200 with
  the completed upload after the last one. A wrong offset is 409 with the real one
  (`detail.offset`, also in `Upload-Offset`); `HEAD /api/v1/uploads/{id}` says where it stands
  after a drop. `DELETE` abandons it.
* Refused before a byte is kept: 401/403 (needs `manage_packages`), 404 (no such package or
  upload), 413 `too_large` (more than `max_payload_bytes`, or more than the declared length),
  503 (not enough free disk space), 415 (another content type). JSON bodies keep the 1 MiB
  `max_body_bytes` limit.
"""


def _out(info: UploadInfo) -> UploadOut:
    return UploadOut.model_validate(info)


def _headers(info: UploadInfo) -> dict[str, str]:
    h = {"Upload-Offset": str(info.offset), "Cache-Control": "no-store"}
    if info.length is not None:
        h["Upload-Length"] = str(info.length)
    return h


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _raw_only(request: Request) -> None:
    if _content_type(request) not in (*RAW_TYPES, ""):  # none given: the bytes as they are
        raise UnsupportedMedia(
            "send the payload as application/octet-stream (PATCH /uploads/{id}:"
            " application/offset+octet-stream) or, to POST /packages/{id}/payload, as multipart/form-data"
        )


def _length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise ValidationFailed(
            "Content-Length is not a number", field="Content-Length", reason=Reason.INVALID
        )
    return int(value)


async def _pump(request: Request, write: Callable[[bytes], None]) -> bool:
    """The body into ``write`` (in a worker thread, ``BATCH`` bytes at a time); False when
    the client went away before the end (what arrived until then is written)."""
    buf = bytearray()
    ended = True
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) >= BATCH:
                data = bytes(buf)
                buf.clear()
                await asyncio.to_thread(write, data)
    except ClientDisconnect:
        ended = False
    if buf:
        await asyncio.to_thread(write, bytes(buf))
    return ended


async def _receive(request: Request, sink: UploadSink, write: Callable[[bytes], None] | None = None) -> bool:
    """``_pump`` into ``sink``, closing it: kept when the body ended or the client dropped
    (a resumable upload goes on from there), cut back when a write was refused."""
    try:
        ended = await _pump(request, write or sink.write)
    except (BodyTooLarge, ValidationFailed):
        await asyncio.to_thread(sink.close, keep=False)
        raise
    except BaseException:
        await asyncio.to_thread(sink.close)
        raise
    await asyncio.to_thread(sink.close)
    return ended


@router.post(
    "/uploads",
    status_code=201,
    responses=errors(404, 413, 503),
    description="Starts a resumable payload upload for a package.\n" + CONTRACT,
)
def create_upload(
    body: UploadCreate, actor: CurrentActor, services: ServicesDep, response: Response
) -> Data[UploadOut]:
    info = services.packages.create_upload(
        actor, body.package_id, body.length, filename=body.filename, sha256=body.sha256
    )
    response.headers.update(_headers(info))
    response.headers["Location"] = f"/api/v1/uploads/{info.id}"
    return Data(data=_out(info))


@router.get("/uploads/{upload_id}", responses=errors(404))
def get_upload(
    upload_id: IdPath, actor: CurrentActor, services: ServicesDep, response: Response
) -> Data[UploadOut]:
    """Where an upload stands (``offset``), or what it became (``complete``, ``sha256``)."""
    info = services.packages.upload(actor, upload_id)
    response.headers.update(_headers(info))
    return Data(data=_out(info))


@router.head("/uploads/{upload_id}", responses=errors(404))
def head_upload(upload_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """``Upload-Offset`` (bytes received) and ``Upload-Length``, without a body (tus)."""
    return Response(status_code=200, headers=_headers(services.packages.upload(actor, upload_id)))


@router.patch(
    "/uploads/{upload_id}",
    responses={**errors(404, 409, 413, 415), 204: {"description": "Piece stored; bytes still missing."}},
    description="Appends a piece at its offset; 200 with the upload when it is complete.\n" + CONTRACT,
)
async def patch_upload(
    upload_id: IdPath,
    request: Request,
    actor: CurrentActor,
    services: ServicesDep,
    upload_offset: Annotated[str | None, Header()] = None,
    content_range: Annotated[str | None, Header()] = None,
) -> Any:
    await asyncio.to_thread(services.packages.upload, actor, upload_id)  # 404/403 before the rest
    _raw_only(request)
    offset, length = _offset(upload_offset, content_range)
    incoming = _length(request)
    sink = await asyncio.to_thread(services.packages.open_upload, actor, upload_id, offset, incoming)
    if length is not None and length != sink.length:
        await asyncio.to_thread(sink.close)
        raise ValidationFailed(
            f"Content-Range names a length of {length}, the upload has {sink.length}",
            field="Content-Range",
            reason=Reason.INVALID,
        )
    await _receive(request, sink)
    if not sink.complete:
        return Response(
            status_code=204, headers={"Upload-Offset": str(sink.offset), "Cache-Control": "no-store"}
        )
    info = await asyncio.to_thread(services.packages.finish_upload, actor, sink)
    return Data(data=_out(info))


def _offset(upload_offset: str | None, content_range: str | None) -> tuple[int, int | None]:
    """The piece's first byte, from ``Upload-Offset`` or ``Content-Range`` (and the total
    length the latter names, when it names one)."""
    if upload_offset is not None:
        if not upload_offset.strip().isdigit():
            raise ValidationFailed(
                "Upload-Offset is not a number", field="Upload-Offset", reason=Reason.INVALID
            )
        return int(upload_offset), None
    if content_range is not None:
        match = _RANGE.fullmatch(content_range.strip())
        if match is None or int(match[2]) < int(match[1]):
            raise ValidationFailed(
                "Content-Range must be 'bytes <first>-<last>/<length>'",
                field="Content-Range",
                reason=Reason.INVALID,
            )
        return int(match[1]), None if match[3] == "*" else int(match[3])
    raise ValidationFailed(
        "send the piece's offset: Upload-Offset or Content-Range",
        field="Upload-Offset",
        reason=Reason.INVALID,
    )


@router.delete("/uploads/{upload_id}", status_code=204, responses=errors(404, 409))
def delete_upload(upload_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Abandons an unfinished upload and its bytes."""
    services.packages.abort_upload(actor, upload_id)
    return Response(status_code=204)


@router.get("/packages/{package_id}/uploads", responses=errors(404))
def list_uploads(package_id: IdPath, actor: CurrentActor, services: ServicesDep) -> DataList[UploadOut]:
    """The package's unfinished uploads (a client that lost an upload's id finds it here)."""
    rows = services.packages.pending_uploads(actor, package_id)
    return data_list([_out(u) for u in rows], len(rows))


@router.put(
    "/packages/{package_id}/payload",
    responses=errors(404, 413, 415, 503),
    description="Replaces the package's payload with the request body, streamed to disk.\n" + CONTRACT,
)
async def put_payload(
    package_id: IdPath,
    request: Request,
    actor: CurrentActor,
    services: ServicesDep,
    filename: str = "",
    x_payload_sha256: Annotated[str | None, Header()] = None,
) -> Data[UploadOut]:
    await asyncio.to_thread(services.packages.may_upload, actor, package_id)
    _raw_only(request)
    length = _length(request)
    info = await _one_request(services, actor, package_id, length, filename, x_payload_sha256)
    sink = await asyncio.to_thread(services.packages.open_upload, actor, info.id, 0, length)
    return await _finish(request, services, actor, sink)


@router.post(
    "/packages/{package_id}/payload",
    responses=errors(404, 413, 415, 503),
    description="Replaces the package's payload with the form part `file` (multipart/form-data),"
    " parsed and written to disk as it streams.\n" + CONTRACT,
)
async def post_payload(
    package_id: IdPath,
    request: Request,
    actor: CurrentActor,
    services: ServicesDep,
    x_payload_sha256: Annotated[str | None, Header()] = None,
) -> Data[UploadOut]:
    await asyncio.to_thread(services.packages.may_upload, actor, package_id)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data":
        raise UnsupportedMedia("POST /packages/{id}/payload takes multipart/form-data (PUT: the raw payload)")
    if not boundary:
        raise ValidationFailed(
            "multipart/form-data without a boundary", field="Content-Type", reason=Reason.INVALID
        )
    info = await _one_request(services, actor, package_id, None, "", x_payload_sha256)
    sink = await asyncio.to_thread(services.packages.open_upload, actor, info.id, 0)
    form = _FormFile(sink, boundary)
    return await _finish(request, services, actor, sink, form.write, form)


async def _one_request(
    services: Services, actor: Actor, package_id: int, length: int | None, filename: str, sha: str | None
) -> UploadInfo:
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha.lower()):
        raise ValidationFailed(
            f"{SHA_HEADER} must be 64 hexadecimal digits", field=SHA_HEADER, reason=Reason.INVALID
        )
    return await asyncio.to_thread(
        services.packages.create_upload,
        actor,
        package_id,
        length,
        filename=filename[:255],
        sha256=sha.lower() if sha else None,
    )


async def _finish(
    request: Request,
    services: Services,
    actor: Actor,
    sink: UploadSink,
    write: Callable[[bytes], None] | None = None,
    form: _FormFile | None = None,
) -> Data[UploadOut]:
    """A one-request upload: the body in, then stored; dropped or refused, it is abandoned."""
    try:
        ended = await _receive(request, sink, write)
        if not ended:
            raise ClientDisconnect
        if form is not None:
            form.check()
        if sink.length is not None and not sink.complete:
            raise ValidationFailed(
                f"the body ended after {sink.offset} of {sink.length} bytes",
                field="body",
                reason=Reason.INVALID,
            )
        info = await asyncio.to_thread(
            services.packages.finish_upload, actor, sink, filename=form.filename if form else None
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(services.packages.abort_upload, actor, sink.upload_id)
        raise
    return Data(data=_out(info))


class _FormFile:
    """A multipart/form-data body parsed as it streams: the bytes of the part named ``file``
    go to the sink; other parts (at most a few KiB) are ignored."""

    OTHER_MAX = 64 * 1024

    def __init__(self, sink: UploadSink, boundary: bytes) -> None:
        self.sink = sink
        self.filename = ""
        self.found = False
        self._in_file = False
        self._other = 0
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )
        self._done = False

    def write(self, data: bytes) -> None:
        self._parser.write(data)

    def check(self) -> None:
        self._parser.finalize()
        if not self.found:
            raise ValidationFailed(
                "the form has no part named 'file'", field="file", reason=Reason.REQUIRED_MISSING
            )

    def _begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._in_file = params.get(b"name") == b"file" and not self.found
        if self._in_file:
            self.found = True
            self.filename = params.get(b"filename", b"").decode("utf-8", "replace").rsplit("/", 1)[-1]

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.sink.write(data[start:end])
            return
        self._other += end - start
        if self._other > self.OTHER_MAX:
            raise ValidationFailed(
                "form fields besides 'file' are too large", field="body", reason=Reason.INVALID
            )

    def _end(self) -> None:
        self._in_file = False
