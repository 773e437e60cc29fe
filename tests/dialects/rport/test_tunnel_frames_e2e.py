"""Tunnel frames on a real server process, with agents scripted by hand on a raw WebSocket so
that every frame can be seen and forged: an agent that lists ``tunnel_binary`` gets its tunnel
data and acks as binary frames (and its own are taken); a malformed binary frame (short,
oversized, unknown kind) ends at most its stream, with a ``TunnelClose`` saying why, and the
connection and later streams go on; an agent without the feature gets JSON as before."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m
from tests.e2e.conftest import ADMIN_PASSWORD, ServerProc, server_factory, wait_for
from tests.e2e.test_gateway_e2e import ScriptedAgent

pytestmark = pytest.mark.e2e
__all__ = ["server_factory"]  # fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hello(ws: ClientConnection, agent: ScriptedAgent, features: list[str]) -> m.Welcome:
    ws.send(m.encode(m.Hello(uid=agent.uid, key=agent.key, agent_version="0.0.1", features=features)))
    welcome = m.decode_from_server(ws.recv(timeout=10))
    assert isinstance(welcome, m.Welcome), welcome
    return welcome


def read(ws: ClientConnection, kind: type[Any]) -> tuple[Any, bool]:
    """The next frame of type ``kind`` (others, such as JobCancel, are passed over), and whether
    it came as a binary stream frame."""
    for _ in range(20):
        raw = ws.recv(timeout=10)
        assert isinstance(raw, bytes)
        is_binary = binary.is_binary(raw)
        msg = binary.decode(raw) if is_binary else m.decode_from_server(raw)
        if isinstance(msg, kind):
            return msg, is_binary
    raise AssertionError(f"no {kind.__name__}")


def recv_exactly(s: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = s.recv(size - len(got))
        assert chunk, f"closed after {got!r}"
        got += chunk
    return got


def open_stream(ws: ClientConnection, lport: int) -> tuple[socket.socket, int]:
    client = socket.create_connection(("127.0.0.1", lport), timeout=10)
    opening, _ = read(ws, m.TunnelOpen)
    ws.send(m.encode(m.TunnelOpened(stream=opening.stream)))
    return client, opening.stream


def test_binary_frames_and_bad_ones(server_factory: Callable[..., ServerProc]) -> None:
    server = server_factory(FLEETDECK_OFFLINE_AFTER_SEC="60")
    server.start()
    agent = ScriptedAgent(server, "bin")
    with ws_connect(agent.url, open_timeout=10) as ws:
        welcome = hello(ws, agent, [m.FEATURE_REQUESTS, m.FEATURE_TUNNELS, m.FEATURE_BINARY_STREAMS])
        assert welcome.features == [m.FEATURE_BINARY_STREAMS]
        lport = _tunnel(server, agent)

        client, sid = open_stream(ws, lport)
        with client:
            client.sendall(b"ping")
            data, is_binary = read(ws, m.TunnelData)
            assert (data, is_binary) == (m.TunnelData(stream=sid, data=b"ping"), True)
            ws.send(binary.encode_data(sid, b"pong"))
            assert recv_exactly(client, 4) == b"pong"
            ack, is_binary = read(ws, m.TunnelAck)
            assert (ack, is_binary) == (m.TunnelAck(stream=sid, size=4), True)

            ws.send(b"\x01\x00")  # too short to name a stream: dropped
            ws.send(b"\x07" + sid.to_bytes(4, "big") + b"from a newer agent")  # unknown kind: ignored
            ws.send(binary.encode_data(sid, b"still here"))
            assert recv_exactly(client, 10) == b"still here"

            ws.send(b"\x01" + sid.to_bytes(4, "big") + b"x" * (binary.MAX_DATA + 1))  # oversized
            closing, _ = read(ws, m.TunnelClose)
            assert closing.stream == sid and "limit" in closing.error
            client.settimeout(10)
            assert client.recv(100) == b""  # that stream's client sees its connection end

        # ... and only that stream: the connection goes on, and so do new streams
        second, sid2 = open_stream(ws, lport)
        with second:
            assert sid2 != sid
            ws.send(binary.encode_data(sid2, b"second"))
            assert recv_exactly(second, 6) == b"second"
            ws.send(m.encode(m.TunnelClose(stream=sid2)))
            second.settimeout(10)
            assert second.recv(100) == b""


def test_an_agent_without_the_feature_gets_json(server_factory: Callable[..., ServerProc]) -> None:
    server = server_factory(FLEETDECK_OFFLINE_AFTER_SEC="60")
    server.start()
    agent = ScriptedAgent(server, "json")
    with ws_connect(agent.url, open_timeout=10) as ws:
        welcome = hello(ws, agent, [m.FEATURE_REQUESTS, m.FEATURE_TUNNELS])  # an agent from before
        assert welcome.features == []
        lport = _tunnel(server, agent)
        client, sid = open_stream(ws, lport)
        with client:
            client.sendall(b"ping")
            data, is_binary = read(ws, m.TunnelData)
            assert (data, is_binary) == (m.TunnelData(stream=sid, data=b"ping"), False)
            ws.send(m.encode(m.TunnelData(stream=sid, data=b"pong")))
            assert recv_exactly(client, 4) == b"pong"
            ack, is_binary = read(ws, m.TunnelAck)
            assert (ack, is_binary) == (m.TunnelAck(stream=sid, size=4), False)


def _tunnel(server: ServerProc, agent: ScriptedAgent) -> int:
    with server.client() as v1:
        assert v1.put("/settings/tunnels.listen_host", json={"value": "127.0.0.1"}).status_code == 200
    with httpx.Client(base_url=server.url + "/rport/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30) as c:

        def client_id() -> str | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return next((str(r["id"]) for r in rows if r.get("hostname") == agent.hostname), None)

        uid = wait_for(client_id, 20, what="scripted agent connected")
        lport = free_port()
        params = {"remote": "127.0.0.1:9", "local": f"127.0.0.1:{lport}", "check_port": "0"}
        r = c.put(f"/clients/{uid}/tunnels", params=params)
        assert r.status_code == 200, r.text
    return lport
