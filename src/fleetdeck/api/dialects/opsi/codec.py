"""Bodies as opsiconfd reads and writes them: JSON or msgpack, plain or gzip/deflate/LZ4-frame.

opsi clients pick msgpack + LZ4 when the ``Server`` header names opsiconfd >= 4.2, so both must
work exactly. Decompression is capped (``max_bytes``), so a small "zip bomb" cannot make the
server allocate gigabytes: the cap is enforced while inflating, not after.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any, Literal

import lz4.frame
import msgspec

from fleetdeck.api.kit.bodies import decode_json, encode_json

Serialization = Literal["json", "msgpack"]

JSON_TYPE = "application/json"
MSGPACK_TYPE = "application/msgpack"
COMPRESS_ABOVE = 10_000  # opsiconfd compresses responses only above this size


class CodecError(Exception):
    """The body cannot be decompressed or deserialised (opsi answers HTTP 400)."""


def request_serialization(content_type: str | None) -> Serialization | None:
    """``None`` when the request named no known type (JSON is assumed, the answer follows Accept)."""
    ct = (content_type or "").lower()
    if "msgpack" in ct:
        return "msgpack"
    if "json" in ct:
        return "json"
    return None


def response_serialization(request: Serialization | None, accept: str | None) -> Serialization:
    if request is not None:
        return request
    return "msgpack" if "msgpack" in (accept or "").lower() else "json"


def _inflate(data: bytes, wbits: int, max_bytes: int) -> bytes:
    engine = zlib.decompressobj(wbits)
    out = engine.decompress(data, max_bytes + 1)
    if len(out) > max_bytes or engine.unconsumed_tail:
        raise CodecError(f"decompressed body is larger than {max_bytes} bytes")
    if not engine.eof:
        raise CodecError("compressed body is truncated")
    return out


def _lz4(data: bytes, max_bytes: int) -> bytes:
    engine = lz4.frame.LZ4FrameDecompressor()
    try:
        out = engine.decompress(data, max_length=max_bytes + 1)
    except RuntimeError as exc:
        raise CodecError(f"invalid LZ4 frame: {exc}") from None
    if len(out) > max_bytes or (not engine.eof and not engine.needs_input):
        raise CodecError(f"decompressed body is larger than {max_bytes} bytes")
    if not engine.eof:
        raise CodecError("LZ4 frame is truncated")
    return bytes(out)


def decompress(data: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    enc = (content_encoding or "").lower().strip()
    if not enc or enc == "identity":
        return data
    try:
        if "lz4" in enc:
            return _lz4(data, max_bytes)
        if "deflate" in enc:
            # opsiconfd uses zlib-wrapped deflate; accept raw deflate too, as browsers send it.
            try:
                return _inflate(data, zlib.MAX_WBITS, max_bytes)
            except zlib.error:
                return _inflate(data, -zlib.MAX_WBITS, max_bytes)
        if "gzip" in enc:
            return _inflate(data, 16 + zlib.MAX_WBITS, max_bytes)
    except zlib.error as exc:
        raise CodecError(f"invalid {enc} data: {exc}") from None
    raise CodecError(f"Unhandled Content-Encoding {content_encoding!r}")


def loads(data: bytes, serialization: Serialization) -> Any:
    """JSON strictly (the kit's ``decode_json``: no NaN, Infinity, 1e400 or lone surrogates)."""
    try:
        if serialization == "msgpack":
            return msgspec.msgpack.decode(data)
        return decode_json(data)
    except (ValueError, msgspec.DecodeError, RecursionError) as exc:
        raise CodecError(f"invalid {serialization} body: {exc}") from None


def dumps(value: Any, serialization: Serialization) -> bytes:
    """msgpack or JSON; a non-finite float (possible in msgpack input) becomes JSON ``null``."""
    if serialization == "msgpack":
        return msgspec.msgpack.encode(value)
    return encode_json(value)


def response_encoding(accept_encoding: str | None) -> str | None:
    """opsi's priority lz4 > deflate > gzip; ``""`` when the header asks for nothing we know."""
    ae = (accept_encoding or "").lower()
    if not ae.strip():
        return None
    for enc in ("lz4", "deflate", "gzip"):
        if enc in ae:
            return enc
    if "identity" in ae or "*" in ae:
        return None
    return ""


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return bytes(lz4.frame.compress(data))
    if encoding == "deflate":
        return zlib.compress(data)
    return gzip.compress(data)
