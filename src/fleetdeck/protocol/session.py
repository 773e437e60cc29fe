"""Sans-I/O session state machines for both ends of an agent connection.

They take decoded frames and say whether each is allowed in the current state, so the rules
of the conversation (hello first, nothing after close, ...) are written once and unit-tested
without sockets, as python-websockets does for its own protocol.

Requests go one way: the server sends ``Request`` and the agent answers ``Reply``, both only
on an established session. A frame of a type this side does not know comes back as
``messages.Unknown`` once established (the caller ignores it), so a newer peer can add
messages; before that, the opening frames must be the ones this side knows.

Binary stream frames (``protocol.binary``: tunnel data and acks) are taken once the session is
established, from either side; one that cannot be decoded is a ``binary.StreamFault`` for the
caller to end that stream with, never a violation that ends the connection.
"""

from __future__ import annotations

import enum

from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.binary import StreamFault


class ProtocolViolation(Exception):
    """The peer sent something the protocol does not allow in the current state."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class State(enum.Enum):
    OPENING = "opening"  # waiting for the first frame (server) / for welcome (agent)
    ENROLLING = "enrolling"  # enroll sent/received; the connection closes after the answer
    AUTHENTICATING = "authenticating"  # hello received, credentials being checked (server)
    ESTABLISHED = "established"
    CLOSED = "closed"


def _binary(frame: bytes | str, state: State) -> m.TunnelData | m.TunnelAck | StreamFault | m.Unknown:
    if state is not State.ESTABLISHED or isinstance(frame, str):
        raise ProtocolViolation("bad_frame", "a binary stream frame before the session is established")
    return binary.decode(frame)


class ServerSession:
    """What the server may accept from an agent, and when."""

    def __init__(self) -> None:
        self.state = State.OPENING

    def receive(self, frame: bytes | str) -> m.AgentMessage | m.Unknown | StreamFault:
        if self.state is State.CLOSED:
            raise ProtocolViolation("closed", "session is closed")
        if binary.is_binary(frame):
            return _binary(frame, self.state)
        try:
            msg = m.decode_from_agent(frame)
        except m.DecodeError as exc:
            unknown = m.unknown_type(frame, m.AGENT_TYPES) if self.state is State.ESTABLISHED else None
            if unknown is not None:
                return unknown
            raise ProtocolViolation("bad_frame", f"malformed frame: {exc}") from exc
        if self.state is State.OPENING:
            if isinstance(msg, m.Enroll):
                self.state = State.ENROLLING
            elif isinstance(msg, m.Hello):
                self.state = State.AUTHENTICATING
            else:
                raise ProtocolViolation("hello_required", "the first frame must be hello or enroll")
            if msg.protocol != m.PROTOCOL_VERSION:
                raise ProtocolViolation("protocol_version", f"unsupported protocol {msg.protocol}")
            return msg
        if self.state is State.ESTABLISHED:
            if isinstance(msg, (m.Enroll, m.Hello)):
                raise ProtocolViolation("duplicate_hello", "session already established")
            return msg
        raise ProtocolViolation("not_ready", f"unexpected {type(msg).__name__} while {self.state.value}")

    def authenticated(self) -> None:
        if self.state is not State.AUTHENTICATING:
            raise ProtocolViolation("not_ready", "no hello to accept")
        self.state = State.ESTABLISHED

    def close(self) -> None:
        self.state = State.CLOSED


class AgentSession:
    """What the agent may accept from the server, and when."""

    def __init__(self) -> None:
        self.state = State.OPENING

    def sent_enroll(self) -> None:
        self.state = State.ENROLLING

    def receive(self, frame: bytes | str) -> m.ServerMessage | m.Unknown | StreamFault:
        if self.state is State.CLOSED:
            raise ProtocolViolation("closed", "session is closed")
        if binary.is_binary(frame):
            return _binary(frame, self.state)
        try:
            msg = m.decode_from_server(frame)
        except m.DecodeError as exc:
            unknown = m.unknown_type(frame, m.SERVER_TYPES) if self.state is State.ESTABLISHED else None
            if unknown is not None:
                return unknown
            raise ProtocolViolation("bad_frame", f"malformed frame: {exc}") from exc
        if isinstance(msg, (m.Error, m.Bye)):
            self.state = State.CLOSED
            return msg
        if self.state is State.ENROLLING:
            if not isinstance(msg, m.Enrolled):
                raise ProtocolViolation("unexpected", f"expected enrolled, got {type(msg).__name__}")
            self.state = State.CLOSED
            return msg
        if self.state is State.OPENING:
            if not isinstance(msg, m.Welcome):
                raise ProtocolViolation("unexpected", f"expected welcome, got {type(msg).__name__}")
            self.state = State.ESTABLISHED
            return msg
        if isinstance(msg, (m.Welcome, m.Enrolled)):
            raise ProtocolViolation("unexpected", f"{type(msg).__name__} after welcome")
        return msg

    def close(self) -> None:
        self.state = State.CLOSED
