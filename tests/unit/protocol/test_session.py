from __future__ import annotations

import pytest

from fleetdeck.protocol import messages as m
from fleetdeck.protocol.session import AgentSession, ProtocolViolation, ServerSession, State


def test_server_requires_hello_first() -> None:
    s = ServerSession()
    with pytest.raises(ProtocolViolation) as exc:
        s.receive(m.encode(m.Heartbeat()))
    assert exc.value.code == "hello_required"


def test_server_flow() -> None:
    s = ServerSession()
    assert isinstance(s.receive(m.encode(m.Hello(uid="u", key="k", agent_version="1"))), m.Hello)
    with pytest.raises(ProtocolViolation):
        s.receive(m.encode(m.Heartbeat()))  # not authenticated yet
    s.authenticated()
    assert isinstance(s.receive(m.encode(m.Heartbeat())), m.Heartbeat)
    with pytest.raises(ProtocolViolation):
        s.receive(m.encode(m.Hello(uid="u", key="k", agent_version="1")))
    s.close()
    with pytest.raises(ProtocolViolation):
        s.receive(m.encode(m.Heartbeat()))


@pytest.mark.parametrize(
    "frame", [b"", b"not json", b'{"type":"nope"}', b'{"type":"job_result","job_id":"x"}', b"[]"]
)
def test_malformed_frames(frame: bytes) -> None:
    s = ServerSession()
    with pytest.raises(ProtocolViolation) as exc:
        s.receive(frame)
    assert exc.value.code == "bad_frame"


def test_protocol_version_mismatch() -> None:
    with pytest.raises(ProtocolViolation) as exc:
        ServerSession().receive(m.encode(m.Hello(uid="u", key="k", agent_version="1", protocol=99)))
    assert exc.value.code == "protocol_version"


def test_agent_session() -> None:
    a = AgentSession()
    with pytest.raises(ProtocolViolation):
        a.receive(m.encode(m.JobCancel(job_id=1)))
    a = AgentSession()
    a.receive(m.encode(m.Welcome(computer_id=1, heartbeat_sec=30, server_version="x")))
    assert a.state is State.ESTABLISHED
    assert isinstance(a.receive(m.encode(m.JobCancel(job_id=1))), m.JobCancel)
    assert isinstance(a.receive(m.encode(m.Bye())), m.Bye)
    assert a.state is State.CLOSED


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    frame = b'{"type":"heartbeat","cpu_load":0.5}'
    s = ServerSession()
    s.receive(m.encode(m.Hello(uid="u", key="k", agent_version="1")))
    s.authenticated()
    assert isinstance(s.receive(frame), m.Heartbeat)


def _established_server() -> ServerSession:
    s = ServerSession()
    s.receive(m.encode(m.Hello(uid="u", key="k", agent_version="1", features=[m.FEATURE_REQUESTS])))
    s.authenticated()
    return s


def _established_agent() -> AgentSession:
    a = AgentSession()
    a.receive(m.encode(m.Welcome(computer_id=1, heartbeat_sec=30, server_version="x")))
    return a


def test_request_and_reply_round_trip() -> None:
    request = m.Request(id=7, kind=m.PING)
    assert m.encode(request) == b'{"type":"request","id":7,"kind":"ping"}'
    assert _established_agent().receive(m.encode(request)) == request
    reply = m.Reply(ref_id=7, body={"time": 1.5, "uptime": 2.0})
    assert _established_server().receive(m.encode(reply)) == reply
    refusal = m.Reply(ref_id=8, ok=False, error="unknown request kind 'x'")
    assert m.encode(refusal) == b'{"type":"reply","ref_id":8,"ok":false,"error":"unknown request kind \'x\'"}'
    assert _established_server().receive(m.encode(refusal)) == refusal


def test_requests_and_replies_only_on_an_established_session() -> None:
    opening = AgentSession()
    with pytest.raises(ProtocolViolation) as exc:
        opening.receive(m.encode(m.Request(id=1, kind=m.PING)))  # before welcome
    assert exc.value.code == "unexpected"
    enrolling = AgentSession()
    enrolling.sent_enroll()
    with pytest.raises(ProtocolViolation):
        enrolling.receive(m.encode(m.Request(id=1, kind=m.PING)))
    s = ServerSession()
    s.receive(m.encode(m.Hello(uid="u", key="k", agent_version="1")))
    with pytest.raises(ProtocolViolation) as exc:
        s.receive(m.encode(m.Reply(ref_id=1)))  # hello not accepted yet
    assert exc.value.code == "not_ready"
    closed = _established_server()
    closed.close()
    with pytest.raises(ProtocolViolation):
        closed.receive(m.encode(m.Reply(ref_id=1)))


def test_requests_go_one_way() -> None:
    """A Reply is not a server message and a Request is not an agent message: each side hands
    the other's as an unknown frame, which it ignores."""
    assert _established_agent().receive(m.encode(m.Reply(ref_id=1))) == m.Unknown(type="reply")
    assert _established_server().receive(m.encode(m.Request(id=1, kind="ping"))) == m.Unknown(type="request")


def test_unknown_types_pass_once_established_and_only_then() -> None:
    newer = b'{"type":"screen_share","size":2}'
    assert _established_server().receive(newer) == m.Unknown(type="screen_share")
    assert _established_agent().receive(newer) == m.Unknown(type="screen_share")
    with pytest.raises(ProtocolViolation) as exc:
        ServerSession().receive(newer)  # the first frame must be hello or enroll
    assert exc.value.code == "bad_frame"
    with pytest.raises(ProtocolViolation) as exc:
        AgentSession().receive(newer)  # the first answer must be welcome
    assert exc.value.code == "bad_frame"


@pytest.mark.parametrize(
    ("side", "frame"),
    [
        ("server", b'{"type":"reply","ref_id":"x"}'),  # a known type with bad fields stays malformed
        ("agent", b'{"type":"request"}'),
        ("agent", b'{"type":"request","id":1,"kind":"ping","body":[]}'),
        ("server", b'{"type":7}'),
        ("agent", b'{"kind":"ping"}'),
        ("server", b"[]"),
        ("agent", b"nope"),
    ],
)
def test_malformed_frames_stay_violations_when_established(side: str, frame: bytes) -> None:
    session = _established_server() if side == "server" else _established_agent()
    with pytest.raises(ProtocolViolation) as exc:
        session.receive(frame)
    assert exc.value.code == "bad_frame"


def test_hello_features_default_to_none() -> None:
    """An agent from before requests sends no features; the server then never sends it one."""
    old = m.decode_from_agent(b'{"type":"hello","uid":"u","key":"k","agent_version":"0.1"}')
    assert isinstance(old, m.Hello) and old.features == []
