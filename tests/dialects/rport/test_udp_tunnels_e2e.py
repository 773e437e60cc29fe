"""rportd's UDP tunnels on a real server process and a real agent process: a UDP echo server
on 127.0.0.1 reached through a tunnel whose datagrams travel over the agent's own WebSocket
(several datagrams, two sources each get their own replies); the ACL drops a stranger's
datagrams (counted and logged by the server) until it is changed; tcp+udp serves both on one
port; rportd's refusals in its error format; auto-close; and the tunnel back after the agent
restarts. The idle timeouts (flows' and the tunnel's) are in
``tests/unit/api/test_udp_tunnel_host.py`` (rportd's idle timeout is a minute at least)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dialects.rport.test_tunnels_e2e import client, free_port, put_tunnel
from tests.e2e.conftest import AgentProc, ServerProc, agent_factory, server, server_factory
from tests.ports import free_tcp_and_udp_port
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
__all__ = ["agent_factory", "client", "server", "server_factory"]  # fixtures


@pytest.fixture
def echo() -> Iterator[int]:
    """A UDP echo server (answers ``echo:`` + the datagram to its sender) and a TCP one on the
    same port (for tcp+udp, and rportd's TCP check of it)."""
    port = free_tcp_and_udp_port()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    tcp = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()

    def serve_udp() -> None:
        udp.settimeout(0.2)
        while not stop.is_set():
            try:
                data, addr = udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            udp.sendto(b"echo:" + data, addr)

    def serve_tcp() -> None:
        tcp.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    while data := conn.recv(65536):
                        conn.sendall(data)
                except OSError:
                    pass

    threads = [threading.Thread(target=f, daemon=True) for f in (serve_udp, serve_tcp)]
    for t in threads:
        t.start()
    yield port
    stop.set()
    for t in threads:
        t.join(5)
    udp.close()
    tcp.close()


def _source() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    return s


def _ask(s: socket.socket, port: int, data: bytes) -> bytes:
    s.sendto(data, ("127.0.0.1", port))
    got, _ = s.recvfrom(65535)
    return got


def _silent(s: socket.socket, port: int, data: bytes, wait: float = 1.5) -> bool:
    s.sendto(data, ("127.0.0.1", port))
    s.settimeout(wait)
    try:
        s.recvfrom(65535)
    except TimeoutError:
        return True
    finally:
        s.settimeout(5)
    return False


def _error(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    error: dict[str, Any] = r.json()["errors"][0]
    return error


def test_udp_through_a_tunnel_and_its_rules(
    server: ServerProc, client: tuple[httpx.Client, str, AgentProc], echo: int
) -> None:
    c, uid, _agent = client
    lport = free_port()
    r = put_tunnel(c, uid, remote=f"127.0.0.1:{echo}", local=f"127.0.0.1:{lport}", protocol="udp", name="dns")
    assert r.status_code == 200, r.text
    t = r.json()["data"]
    assert (t["id"], t["protocol"], t["lport"], t["rport"], t["name"]) == (
        "1",
        "udp",
        str(lport),
        str(echo),
        "dns",
    )

    # several datagrams from two sources: each gets its own replies
    a, b = _source(), _source()
    for i in range(5):
        assert _ask(a, lport, b"a%d" % i) == b"echo:a%d" % i
        assert _ask(b, lport, b"b%d" % i) == b"echo:b%d" % i
    big = bytes(range(256)) * 200
    assert _ask(b, lport, big) == b"echo:" + big

    # rportd's refusals, in its error format
    assert (
        _error(put_tunnel(c, uid, remote=f"127.0.0.1:{echo}", protocol="udp"))["code"]
        == "ERR_CODE_TUNNEL_EXIST"
    )
    other = put_tunnel(
        c, uid, remote=f"127.0.0.1:{echo}", local=f"127.0.0.1:{free_port()}", protocol="tcp+udp"
    )
    assert _error(other)["code"] == "ERR_CODE_TUNNEL_TO_PORT_EXIST"  # tcp+udp overlaps udp
    proxy = _error(put_tunnel(c, uid, remote=f"127.0.0.1:{echo}", protocol="udp", http_proxy="1"))
    assert proxy["title"] == "tunnel proxy not allowed with protcol udp"  # rportd's spelling
    assert _error(put_tunnel(c, uid, remote="53", protocol="quic"))["title"].startswith("invalid protocol")
    unresolvable = put_tunnel(c, uid, remote="no-such-host.invalid:53", protocol="udp")
    assert _error(unresolvable)["code"] == "ERR_CODE_REMOTE_PORT_NOT_OPEN"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = put_tunnel(c, uid, remote="5353", local=f"127.0.0.1:{taken.getsockname()[1]}", protocol="udp")
        assert _error(busy)["code"] == "ERR_CODE_LOCAL_PORT_IN_USE"

    # the ACL: a stranger's datagrams are dropped before the agent, counted and logged ...
    strict_port = free_port()
    strict = put_tunnel(
        c, uid, remote=f"127.0.0.1:{echo}", local=f"127.0.0.1:{strict_port}", protocol="udp", acl="10.9.8.7"
    )
    assert strict.status_code == 200, strict.text
    stranger = _source()
    assert _silent(stranger, strict_port, b"let me in")
    wait_for(
        lambda: "datagram from 127.0.0.1 refused" in server.log_path.read_text(errors="replace"),
        10,
        what="the refusal logged",
    )
    # ... until it is changed, live
    tid = strict.json()["data"]["id"]
    assert c.put(f"/clients/{uid}/tunnels/{tid}/acl", json={"acl": "127.0.0.1"}).status_code == 204
    assert _ask(stranger, strict_port, b"now?") == b"echo:now?"

    # tcp+udp: both on one port
    both = free_port()
    mixed = put_tunnel(
        c, uid, remote=f"127.0.0.1:{echo}", local=f"127.0.0.1:{both}", protocol="tcp+udp", acl="127.0.0.0/8"
    )
    assert mixed.status_code == 200, mixed.text
    assert mixed.json()["data"]["protocol"] == "tcp+udp"
    assert _ask(a, both, b"udp half") == b"echo:udp half"
    with socket.create_connection(("127.0.0.1", both), timeout=10) as s:
        s.sendall(b"tcp half")
        assert s.recv(100) == b"tcp half"

    listed = sorted((x["id"], x["protocol"]) for x in c.get("/tunnels").json()["data"])
    assert listed == [("1", "udp"), (tid, "udp"), (mixed.json()["data"]["id"], "tcp+udp")]

    # flows are no connections: a delete needs no force; the port is gone
    assert c.delete(f"/clients/{uid}/tunnels/1").status_code == 204
    assert _silent(a, lport, b"anyone?")
    for s in (a, b, stranger):
        s.close()

    with server.client() as v1:
        rows = v1.get("/audit", params={"page[limit]": 100}).json()["data"]
    creates = [row for row in rows if row["action"] == "tunnel.create" and row["result"] == "ok"]
    assert sorted(row["detail"]["protocol"] for row in creates) == ["tcp+udp", "udp", "udp"]


def test_udp_auto_close_and_agent_restart(
    server: ServerProc, client: tuple[httpx.Client, str, AgentProc], echo: int
) -> None:
    c, uid, agent = client
    port = free_port()
    r = put_tunnel(
        c, uid, remote=str(echo), local=f"127.0.0.1:{port}", protocol="udp", **{"skip-idle-timeout": "1"}
    )
    assert r.status_code == 200, r.text
    s = _source()
    assert _ask(s, port, b"hi") == b"echo:hi"

    # the agent goes: the port closes; it comes back: the tunnel is served again
    agent.stop()
    wait_for(lambda: _silent(s, port, b"gone?", 0.5), 30, what="UDP port closed with the agent gone")
    agent.start()
    wait_for(lambda: not _silent(s, port, b"back?", 0.5), 60, what="UDP port back with the agent")
    s.close()

    short = put_tunnel(
        c,
        uid,
        remote=str(echo),
        local=f"127.0.0.1:{free_port()}",
        protocol="udp",
        acl="127.0.0.1",
        **{"auto-close": "2s"},
    )
    assert short.status_code == 200, short.text
    wait_for(lambda: len(c.get("/tunnels").json()["data"]) == 1, 30, what="auto-closed UDP tunnel gone")
