"""``protocol.binary``: tunnel data and acks as binary frames. They round-trip; they never
collide with a JSON frame; and whatever arrives in their range decodes to something typed (the
message, a ``StreamFault`` naming the stream to end, or ``Unknown``), never an exception, and
the session goes on taking frames after a bad one."""

from __future__ import annotations

import struct

import pytest

from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.binary import StreamFault
from fleetdeck.protocol.session import AgentSession, ProtocolViolation, ServerSession, State


def test_data_and_ack_round_trip() -> None:
    data = bytes(range(256)) * 7
    frame = binary.encode(m.TunnelData(stream=0xFFFFFFFF, data=data))
    assert frame[:5] == b"\x01\xff\xff\xff\xff" and frame[5:] == data  # header + the raw bytes
    assert binary.decode(frame) == m.TunnelData(stream=0xFFFFFFFF, data=data)
    ack = binary.encode(m.TunnelAck(stream=7, size=524288))
    assert ack == struct.pack(">BII", 2, 7, 524288)
    assert binary.decode(ack) == m.TunnelAck(stream=7, size=524288)
    full = b"\x01" + b"\x00\x00\x00\x01" + b"x" * binary.MAX_DATA  # exactly the limit: fine
    assert binary.decode(full) == m.TunnelData(stream=1, data=b"x" * binary.MAX_DATA)


@pytest.mark.parametrize(
    "frame",
    [m.encode(m.Heartbeat()), b" {}", b"\t{}", b"\n{}", b"\r{}", "{}", b"", b"[]"],
)
def test_json_frames_are_never_taken_for_binary_ones(frame: bytes | str) -> None:
    assert not binary.is_binary(frame)


def test_what_goes_binary_and_what_stays_json() -> None:
    data = m.TunnelData(stream=3, data=b"abc")
    assert binary.encode_frame(data, True) == (binary.encode(data), True)
    assert binary.encode_frame(data, False) == (m.encode(data), False)  # a peer without the feature
    for json_only in (
        m.TunnelOpen(stream=3, host="h", port=1),
        m.TunnelClose(stream=3),
        m.Heartbeat(),
        m.TunnelData(stream=2**32, data=b"x"),  # a stream id beyond the header's 4 bytes
        m.TunnelData(stream=3, data=b"x" * (binary.MAX_DATA + 1)),
        m.TunnelData(stream=3, data=b""),
    ):
        frame, is_binary = binary.encode_frame(json_only, True)
        assert not is_binary and m.decode(frame) == json_only


@pytest.mark.parametrize(
    ("frame", "stream", "why"),
    [
        (b"\x01", None, "shorter than its header"),
        (b"\x02\x00\x00\x00", None, "shorter than its header"),
        (b"\x01\x00\x00\x00\x05", 5, "empty data frame"),
        (b"\x01\x00\x00\x00\x05" + b"x" * (binary.MAX_DATA + 1), 5, "over the 131072 limit"),
        (b"\x02\x00\x00\x00\x06\x00\x00\x01", 6, "not 4"),
        (b"\x02\x00\x00\x00\x06\x00\x00\x00\x01\x00", 6, "not 4"),
    ],
    ids=["one-byte", "short-header", "empty-data", "oversized-data", "short-ack", "long-ack"],
)
def test_malformed_frames_are_stream_faults(frame: bytes, stream: int | None, why: str) -> None:
    assert binary.is_binary(frame)
    fault = binary.decode(frame)
    assert isinstance(fault, StreamFault) and fault.stream == stream and why in fault.error


def test_an_unknown_kind_is_a_newer_peers_frame() -> None:
    assert binary.decode(b"\x07\x00\x00\x00\x01xyz") == m.Unknown(type="binary:7")


def _established_server() -> ServerSession:
    s = ServerSession()
    s.receive(m.encode(m.Hello(uid="u", key="k", agent_version="1", features=[m.FEATURE_BINARY_STREAMS])))
    s.authenticated()
    return s


def test_sessions_take_binary_frames_once_established_and_go_on_after_bad_ones() -> None:
    s = _established_server()
    assert s.receive(binary.encode_data(9, b"up")) == m.TunnelData(stream=9, data=b"up")
    assert isinstance(s.receive(b"\x01\x00"), StreamFault)
    assert isinstance(s.receive(b"\x01\x00\x00\x00\x09" + b"x" * (binary.MAX_DATA + 1)), StreamFault)
    assert isinstance(s.receive(b"\x05\x00\x00\x00\x09"), m.Unknown)
    assert s.state is State.ESTABLISHED
    assert isinstance(s.receive(m.encode(m.Heartbeat())), m.Heartbeat)  # the connection goes on

    a = AgentSession()
    a.receive(m.encode(m.Welcome(computer_id=1, heartbeat_sec=30, server_version="1")))
    assert a.receive(binary.encode_ack(4, 100)) == m.TunnelAck(stream=4, size=100)
    assert isinstance(a.receive(b"\x02\x00\x00\x00\x04"), StreamFault)
    assert a.state is State.ESTABLISHED
    assert isinstance(a.receive(m.encode(m.ResultAck(job_ids=[1]))), m.ResultAck)


def test_binary_frames_before_the_session_is_established_are_violations() -> None:
    for session in (ServerSession(), AgentSession()):
        with pytest.raises(ProtocolViolation) as exc:
            session.receive(binary.encode_data(1, b"x"))
        assert exc.value.code == "bad_frame"


def test_welcome_features_are_optional_for_older_servers() -> None:
    old = b'{"type":"welcome","computer_id":1,"heartbeat_sec":30,"server_version":"0.9"}'
    welcome = m.decode_from_server(old)
    assert isinstance(welcome, m.Welcome) and welcome.features == []
