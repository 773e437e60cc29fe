"""rportd's tunnels on a real server process and a real agent process: an HTTP server on
127.0.0.1 reached through a tunnel whose bytes travel over the agent's own WebSocket; the
ACL's refusal; the rejections with rportd's error codes; delete with an open connection (409,
then ``force=1``); auto-close; a port from the pool; and the tunnel back after the agent
restarts."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    AgentProc,
    ServerProc,
    agent_factory,
    enrolled_as,
    server,
    server_factory,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory", "server", "server_factory"]  # fixtures
API = "/rport/api/v1"
BODY = os.urandom(3 * 1024 * 1024 + 17)  # several windows' worth: flow control is exercised


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = BODY if self.path == "/big" else b"hello through the tunnel"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def serve_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 with ``handler``: its port, while the generator lives."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def web() -> Iterator[int]:
    yield from serve_http(_Handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def client(server: ServerProc, agent_factory: Any) -> Iterator[tuple[httpx.Client, str, AgentProc]]:
    agent: AgentProc = agent_factory(server, "alpha")
    enrolled_as(server, agent, "alpha")
    with httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=30) as c:
        with server.client() as v1:  # tunnels listen on loopback only in tests
            assert v1.put("/settings/tunnels.listen_host", json={"value": "127.0.0.1"}).status_code == 200

        def connected() -> str | None:
            rows = c.get("/clients", params={"filter[connection_state]": "connected"}).json()["data"]
            return str(rows[0]["id"]) if rows else None

        try:
            uid = wait_for(connected, 30, what="agent connected")
        except AssertionError:
            raise AssertionError(agent.log()[-3000:]) from None
        yield c, uid, agent


def put_tunnel(c: httpx.Client, uid: str, **params: str) -> httpx.Response:
    return c.put(f"/clients/{uid}/tunnels", params=params)


def fetch(port: int, path: str = "/") -> bytes:
    r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30)
    assert r.status_code == 200
    return r.content


def test_http_through_a_tunnel_and_its_rules(
    server: ServerProc, client: tuple[httpx.Client, str, AgentProc], web: int
) -> None:
    c, uid, _agent = client
    lport = free_port()
    r = put_tunnel(c, uid, remote=f"127.0.0.1:{web}", local=f"127.0.0.1:{lport}", scheme="http", name="web")
    assert r.status_code == 200, r.text
    t = r.json()["data"]
    assert (t["id"], t["lport"], t["rport"], t["lport_random"]) == ("1", str(lport), str(web), False)
    assert (t["scheme"], t["protocol"], t["idle_timeout_minutes"], t["owner"]) == ("http", "tcp", 5, "admin")

    # bytes through the agent's connection, both small and several flow-control windows
    assert fetch(lport) == b"hello through the tunnel"
    big = fetch(lport, "/big")
    assert hashlib.sha256(big).digest() == hashlib.sha256(BODY).digest()

    # rportd's rejections
    again = put_tunnel(c, uid, remote=f"127.0.0.1:{web}", local=f"127.0.0.1:{lport}")
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "ERR_CODE_TUNNEL_EXIST"
    other = put_tunnel(c, uid, remote=f"127.0.0.1:{web}", local=f"127.0.0.1:{free_port()}")
    assert other.json()["errors"][0]["code"] == "ERR_CODE_TUNNEL_TO_PORT_EXIST", other.text
    closed = put_tunnel(c, uid, remote=f"127.0.0.1:{free_port()}", local=f"127.0.0.1:{free_port()}")
    assert closed.status_code == 400
    assert closed.json()["errors"][0]["code"] == "ERR_CODE_REMOTE_PORT_NOT_OPEN", closed.text
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = put_tunnel(
            c, uid, remote=f"127.0.0.1:{web}", local=f"127.0.0.1:{taken.getsockname()[1]}", acl="127.0.0.1"
        )
    assert busy.json()["errors"][0]["code"] == "ERR_CODE_LOCAL_PORT_IN_USE", busy.text
    sctp = put_tunnel(c, uid, remote=f"127.0.0.1:{web}", protocol="sctp")  # udp: test_udp_tunnels_e2e.py
    assert sctp.status_code == 400 and sctp.json()["errors"][0]["title"].startswith("invalid protocol")
    bad_acl = put_tunnel(c, uid, remote=f"127.0.0.1:{web}", acl="0.0.0.0")
    assert bad_acl.status_code == 400 and bad_acl.json()["errors"][0]["code"] == "ERR_CODE_INVALID_ACL"
    assert put_tunnel(c, "no-such-client", remote="22").status_code == 404

    # the ACL: a connection from elsewhere is closed at once, nothing reaches the agent
    denied_port = free_port()
    denied = put_tunnel(c, uid, remote=f"127.0.0.1:{web}", local=f"127.0.0.1:{denied_port}", acl="10.9.8.7")
    assert denied.status_code == 200, denied.text
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{denied_port}/", timeout=10)
    # ... and changed live
    acl = c.put(f"/clients/{uid}/tunnels/2/acl", json={"acl": "127.0.0.0/8"})
    assert acl.status_code == 204, acl.text
    assert fetch(denied_port) == b"hello through the tunnel"

    listed = c.get("/tunnels").json()["data"]
    assert sorted((x["id"], x["client_id"], x["acl"]) for x in listed) == [
        ("1", uid, ""),
        ("2", uid, "127.0.0.0/8"),
    ]

    # delete with an open connection: 409, then force closes it
    with socket.create_connection(("127.0.0.1", lport), timeout=10) as held:
        held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.recv(100).startswith(b"HTTP/1.")
        r = c.delete(f"/clients/{uid}/tunnels/1")
        assert r.status_code == 409, r.text
        assert c.delete(f"/clients/{uid}/tunnels/1", params={"force": "1"}).status_code == 204
        held.settimeout(10)
        rest = b""
        while chunk := held.recv(65536):
            rest += chunk  # what was under way, then EOF
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{lport}/", timeout=5)
    assert c.delete(f"/clients/{uid}/tunnels/1").status_code == 404

    # audited
    with server.client() as v1:
        rows = v1.get("/audit", params={"page[limit]": 100}).json()["data"]
    actions = [(row["action"], row["result"]) for row in rows if row["action"].startswith("tunnel.")]
    assert ("tunnel.create", "ok") in actions and ("tunnel.delete", "ok") in actions
    assert ("tunnel.create", "failed") in actions and ("tunnel.acl", "ok") in actions


def test_auto_close_pool_port_and_agent_restart(
    server: ServerProc, client: tuple[httpx.Client, str, AgentProc], web: int
) -> None:
    c, uid, agent = client
    low = free_port()
    with server.client() as v1:
        assert (
            v1.put("/settings/tunnels.used_ports", json={"value": [f"{low}-{low + 50}"]}).status_code == 200
        )

    r = put_tunnel(c, uid, remote=str(web), **{"skip-idle-timeout": "1"})
    assert r.status_code == 200, r.text
    t = r.json()["data"]
    assert t["lport_random"] is True and low <= int(t["lport"]) <= low + 50
    assert (t["rhost"], t["idle_timeout_minutes"]) == ("127.0.0.1", 0)
    port = int(t["lport"])
    assert fetch(port) == b"hello through the tunnel"

    # the agent goes: the port closes; it comes back: the tunnel is served again
    agent.stop()
    wait_for(lambda: _refused(port), 30, what="listener closed with the agent gone")
    agent.start()
    wait_for(lambda: not _refused(port), 30, what="listener back with the agent")
    assert fetch(port) == b"hello through the tunnel"

    # auto-close: gone by itself, audited as the system's delete
    short = put_tunnel(
        c, uid, remote=str(web), local=f"127.0.0.1:{free_port()}", acl="127.0.0.1", **{"auto-close": "2s"}
    )
    assert short.status_code == 200, short.text
    assert short.json()["data"]["auto_close"] == 2 * 10**9
    wait_for(lambda: len(c.get("/tunnels").json()["data"]) == 1, 30, what="auto-closed tunnel gone")


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(3)
            return s.recv(10) == b""
    except OSError:
        return True


@pytest.fixture
def echo() -> Iterator[int]:
    srv = socket.create_server(("127.0.0.1", 0))

    def one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


def test_megabytes_both_ways_through_a_real_agent(
    client: tuple[httpx.Client, str, AgentProc], echo: int
) -> None:
    """5 MiB up and back through an echo server behind a real agent (binary frames both ways,
    many windows): what comes back is what went, byte for byte (SHA-256)."""
    c, uid, _agent = client
    lport = free_port()
    r = put_tunnel(c, uid, remote=f"127.0.0.1:{echo}", local=f"127.0.0.1:{lport}", name="echo")
    assert r.status_code == 200, r.text
    payload = os.urandom(5 * 1024 * 1024 + 3)
    received = hashlib.sha256()
    got = 0
    with socket.create_connection(("127.0.0.1", lport), timeout=30) as s:
        writer = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        writer.start()
        while got < len(payload):
            chunk = s.recv(262144)
            assert chunk, f"the tunnel closed after {got} of {len(payload)} bytes"
            received.update(chunk)
            got += len(chunk)
        writer.join(30)
    assert got == len(payload)
    assert received.digest() == hashlib.sha256(payload).digest()
