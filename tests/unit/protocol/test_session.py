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
