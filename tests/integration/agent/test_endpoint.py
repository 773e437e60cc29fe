"""The agent endpoint's refusals, against the real server (uvicorn as ``fleetdeck server`` runs
it) with a real WebSocket client: each ends with the protocol's ``Error`` frame and close code.

- a frame the session does not allow (``protocol/session.py``): ``Error(<violation>)``, 1008;
- no first frame within ``agent_hello_timeout_sec``: ``Error(hello_timeout)``, 1008;
- wrong credentials or enrollment token: ``Error(auth_failed)``, 1008;
- a server that cannot serve agents now (stopping, database down):
  ``Error(unavailable, retry_after=10)``, 1013 (try again later).
"""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.enrollment.service import AgentCredentials
from fleetdeck.protocol import messages as m

from .conftest import HELLO_TIMEOUT, LiveServer, database_down

POLICY_VIOLATION, TRY_AGAIN_LATER = 1008, 1013


def refusal(ws: ClientConnection) -> tuple[m.Error, int | None]:
    """The server's last word: its Error frame, then the close code it closes with."""
    frame = ws.recv(timeout=10)
    error = m.decode_from_server(frame)
    assert isinstance(error, m.Error), error
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    return error, ws.close_code


def hello(creds: AgentCredentials, **overrides: object) -> bytes:
    fields: dict[str, object] = {"uid": creds.uid, "key": creds.key, "agent_version": "1", **overrides}
    return m.encode(m.Hello(**fields))  # type: ignore[arg-type]


@pytest.fixture
def creds(runtime: Runtime, admin: Actor) -> AgentCredentials:
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    return runtime.services.enrollment.enroll(
        token.token, hostname="pc-1", machine_id="m-1", agent_version="1", source="127.0.0.1"
    )


@pytest.mark.parametrize(
    "frame", [b"\x00garbage", "not json", '{"type": "hello"}', '{"type": "no_such_message"}']
)
def test_a_malformed_first_frame(live: LiveServer, frame: bytes | str) -> None:
    with connect(live.ws_url) as ws:
        ws.send(frame)
        error, code = refusal(ws)
    assert (error.code, code, error.retry_after) == ("bad_frame", POLICY_VIOLATION, None)
    if isinstance(frame, bytes):  # binary frames carry stream data, only inside a session
        assert error.message == "a binary stream frame before the session is established"
    else:
        assert error.message.startswith("malformed frame: ")


def test_the_first_frame_must_be_hello_or_enroll(live: LiveServer) -> None:
    with connect(live.ws_url) as ws:
        ws.send(m.encode(m.Heartbeat()))
        assert refusal(ws) == (
            m.Error(code="hello_required", message="the first frame must be hello or enroll"),
            POLICY_VIOLATION,
        )


def test_another_protocol_version(live: LiveServer, creds: AgentCredentials) -> None:
    with connect(live.ws_url) as ws:
        ws.send(hello(creds, protocol=m.PROTOCOL_VERSION + 1))
        assert refusal(ws) == (
            m.Error(code="protocol_version", message=f"unsupported protocol {m.PROTOCOL_VERSION + 1}"),
            POLICY_VIOLATION,
        )


def test_no_hello_within_the_time_limit(live: LiveServer) -> None:
    with connect(live.ws_url) as ws:
        opened = time.monotonic()
        error, code = refusal(ws)
        waited = time.monotonic() - opened
    assert (error, code) == (
        m.Error(code="hello_timeout", message="no hello within the time limit"),
        POLICY_VIOLATION,
    )
    assert waited >= HELLO_TIMEOUT * 0.9  # it waited for the hello; it did not refuse at once


@pytest.mark.parametrize("wrong", ["key", "uid"])
def test_wrong_credentials(live: LiveServer, creds: AgentCredentials, wrong: str) -> None:
    with connect(live.ws_url) as ws:
        ws.send(hello(creds, **{wrong: "x" * 32}))
        assert refusal(ws) == (
            m.Error(code="auth_failed", message="unknown agent or wrong key"),
            POLICY_VIOLATION,
        )


def test_a_bad_enrollment_token(live: LiveServer) -> None:
    with connect(live.ws_url) as ws:
        ws.send(m.encode(m.Enroll(token="no-such-token", hostname="pc-2", agent_version="1")))
        assert refusal(ws) == (
            m.Error(code="auth_failed", message="invalid, expired or used-up enrollment token"),
            POLICY_VIOLATION,
        )


@pytest.mark.parametrize("second", ["garbage", "hello"])
def test_after_the_welcome(live: LiveServer, creds: AgentCredentials, second: str) -> None:
    with connect(live.ws_url) as ws:
        ws.send(hello(creds))
        assert isinstance(m.decode_from_server(ws.recv(timeout=10)), m.Welcome)
        ws.send(hello(creds) if second == "hello" else b"{")
        error, code = refusal(ws)
    assert code == POLICY_VIOLATION
    if second == "hello":
        assert error == m.Error(code="duplicate_hello", message="session already established")
    else:
        assert error.code == "bad_frame" and error.message.startswith("malformed frame: ")


def test_a_stopping_server_says_come_back_later(live: LiveServer, creds: AgentCredentials) -> None:
    live.run(live.hub.stop())
    with connect(live.ws_url) as ws:
        assert refusal(ws) == (
            m.Error(code="unavailable", message="server shutting down", retry_after=10.0),
            TRY_AGAIN_LATER,
        )


def test_a_database_outage_says_come_back_later(
    live: LiveServer, runtime: Runtime, creds: AgentCredentials
) -> None:
    unavailable = m.Error(
        code="unavailable", message="the server cannot serve agents now; try again later", retry_after=10.0
    )
    with database_down(runtime):
        with connect(live.ws_url) as ws:
            ws.send(hello(creds))
            assert refusal(ws) == (unavailable, TRY_AGAIN_LATER)
        with connect(live.ws_url) as ws:
            ws.send(m.encode(m.Enroll(token="any", hostname="pc-2", agent_version="1")))
            assert refusal(ws) == (unavailable, TRY_AGAIN_LATER)
    # Back up: the same agent is served again.
    with connect(live.ws_url) as ws:
        ws.send(hello(creds))
        welcome = m.decode_from_server(ws.recv(timeout=10))
        assert isinstance(welcome, m.Welcome) and welcome.computer_id == creds.computer_id
