"""Tunnel stream frames as binary WebSocket messages (``FEATURE_BINARY_STREAMS``).

``TunnelData`` in JSON carries its bytes in base64: a third more on the wire, and an encode and
a decode of every byte at each end. Between an agent and a server that both speak this feature
(the agent lists it in its hello, the server's ``Welcome.features`` says it accepted it),
``TunnelData`` and ``TunnelAck`` travel instead as a small fixed header and the raw bytes::

    kind (1 byte) | stream id (4 bytes, unsigned, big-endian) | body
    KIND_DATA 0x01: body = the stream's bytes, 1 .. MAX_DATA
    KIND_ACK  0x02: body = size (4 bytes, unsigned, big-endian)

The other tunnel frames (open, opened, close) stay JSON: they are rare. Both kinds of frame share
one connection whatever the WebSocket opcode (the server sends its JSON as binary messages): a
JSON frame begins with ``{`` or whitespace, never with a byte below 0x09, which is where the
binary kinds live (``is_binary``).

Decoding is total: a frame too short for its header, or whose body does not fit its kind
(oversized or empty data, an ack of the wrong length), comes back as :class:`StreamFault`
naming the stream when the header has one, so the receiver ends that stream (or drops the
frame) and the connection and its other streams go on. An unknown kind in the binary range is
:class:`messages.Unknown` (a newer peer's frame), ignored like any unknown JSON type.
"""

from __future__ import annotations

import struct

import msgspec

from fleetdeck.protocol import messages as m

KIND_DATA = 0x01
KIND_ACK = 0x02
FIRST_JSON_BYTE = 0x09  # tab: the lowest byte a JSON text may begin with
MAX_DATA = 128 * 1024  # a data frame's bytes at most (a JSON TunnelData: m.TUNNEL_FRAME)
MAX_STREAM = 0xFFFFFFFF

_HEAD = struct.Struct(">BI")
_ACK = struct.Struct(">BII")
HEADER_SIZE = _HEAD.size  # 5


class StreamFault(msgspec.Struct, frozen=True):
    """A binary frame that cannot be taken: the receiver ends ``stream`` (None: the frame was
    too short to name one, and is dropped)."""

    stream: int | None
    error: str


def is_binary(frame: bytes | str) -> bool:
    """Is ``frame`` a binary stream frame (rather than a JSON one)?"""
    return not isinstance(frame, str) and len(frame) > 0 and frame[0] < FIRST_JSON_BYTE


def fits(msg: m.TunnelData | m.TunnelAck) -> bool:
    """Can ``msg`` travel as a binary frame? (Its stream id and size fit the header, its data the
    limit; otherwise it goes as JSON, which the peer still reads.)"""
    if not 0 <= msg.stream <= MAX_STREAM:
        return False
    if isinstance(msg, m.TunnelData):
        return 0 < len(msg.data) <= MAX_DATA
    return 0 <= msg.size <= MAX_STREAM


def encode_data(stream: int, data: bytes) -> bytes:
    return _HEAD.pack(KIND_DATA, stream) + data


def encode_ack(stream: int, size: int) -> bytes:
    return _ACK.pack(KIND_ACK, stream, size)


def encode(msg: m.TunnelData | m.TunnelAck) -> bytes:
    """The binary frame of ``msg`` (check :func:`fits` first)."""
    if isinstance(msg, m.TunnelData):
        return encode_data(msg.stream, msg.data)
    return encode_ack(msg.stream, msg.size)


def decode(frame: bytes) -> m.TunnelData | m.TunnelAck | StreamFault | m.Unknown:
    """A binary frame (``is_binary``) as the typed message it stands for, or why not."""
    if len(frame) < HEADER_SIZE:
        return StreamFault(None, f"binary frame of {len(frame)} bytes, shorter than its header")
    kind, stream = _HEAD.unpack_from(frame)
    body = len(frame) - HEADER_SIZE
    if kind == KIND_DATA:
        if body == 0:
            return StreamFault(stream, "empty data frame")
        if body > MAX_DATA:
            return StreamFault(stream, f"data frame of {body} bytes, over the {MAX_DATA} limit")
        return m.TunnelData(stream=stream, data=bytes(frame[HEADER_SIZE:]))
    if kind == KIND_ACK:
        if body != _ACK.size - HEADER_SIZE:
            return StreamFault(stream, f"ack frame with a body of {body} bytes, not 4")
        return m.TunnelAck(stream=stream, size=_ACK.unpack_from(frame)[2])
    return m.Unknown(type=f"binary:{kind}")


def encode_frame(msg: m.Message, binary: bool) -> tuple[bytes, bool]:
    """How a sender puts ``msg`` on the wire: (frame, is it binary). Binary for tunnel data and
    acks when the peer takes them (``binary``) and they fit, JSON otherwise."""
    if binary and isinstance(msg, m.TunnelData | m.TunnelAck) and fits(msg):
        return encode(msg), True
    return m.encode(msg), False
