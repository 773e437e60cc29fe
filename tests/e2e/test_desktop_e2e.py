"""A computer's desktop in the browser, end to end, without the browser: a real server process, a
real agent process, a real VNC server (x11vnc on Xvfb, loopback) and the web UI's desktop
WebSocket with a real web session, speaking RFB through the bridge as noVNC does.

The handshake goes through (protocol version, security types, the server's init with the
display's size and name); a password-protected server offers VNC authentication; a port where
nothing listens is a clear close; no session, a bad CSRF token, another origin and a viewer are
refused; the views are audited at open and close (byte counts, never the bytes); a one-time link
(RemotePC's Web Viewer URL) opens one view without a session, once.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tests.e2e import test_terminal_e2e as terminal
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, free_port, wait_for
from tests.e2e.test_terminal_e2e import VIEWER_PASSWORD, Login, audit, drain
from tests.e2e.vnc import HEIGHT, WIDTH, Vnc, vnc_server

pytestmark = pytest.mark.e2e
web_login = terminal.web_login  # the fixture: log in as a browser does


@pytest.fixture
def vnc(tmp_path: Path) -> Iterator[Vnc]:
    with vnc_server(tmp_path / "vnc") as server:
        yield server


def open_desktop(
    server: ServerProc,
    c: httpx.Client | None,
    cid: int,
    query: str,
    origin: str | None = None,
) -> ClientConnection:
    url = server.url.replace("http", "ws", 1) + f"/computers/{cid}/desktop/ws?{query}"
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in c.cookies.items())} if c is not None else {}
    return ws_connect(url, additional_headers=headers, origin=origin or server.url, open_timeout=10)  # type: ignore[arg-type]


class Rfb:
    """The client side of RFB 3.8 over the bridge's binary messages (a message may carry any
    part of the server's bytes: they are read as a stream)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buffer = b""

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            message = self.ws.recv(timeout=15)
            assert isinstance(message, bytes), message
            self.buffer += message
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def handshake(self) -> list[int]:
        """Protocol version both ways; the security types the server offers."""
        assert self.read(12) == b"RFB 003.008\n"
        self.ws.send(b"RFB 003.008\n")
        (count,) = self.read(1)
        assert count > 0
        return list(self.read(count))

    def init(self) -> tuple[int, int, str]:
        """With security None: the result, ClientInit (shared) and the ServerInit."""
        self.ws.send(bytes([1]))
        assert self.read(4) == b"\0\0\0\0"  # SecurityResult OK
        self.ws.send(bytes([1]))  # shared
        width, height = struct.unpack(">HH", self.read(4))
        self.read(16)  # pixel format
        (length,) = struct.unpack(">I", self.read(4))
        return width, height, self.read(length).decode()


def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """The close frame's code and reason, once the server closed (what came before is skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_desktop_through_a_real_agent(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login, vnc: Vnc
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    c, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    assert f'href="/computers/{cid}/desktop"' in c.get(f"/computers/{cid}").text  # the button
    page = c.get(f"/computers/{cid}/desktop", params={"port": vnc.port})
    assert page.status_code == 200 and f'data-port="{vnc.port}"' in page.text
    assert c.get(f"/computers/{cid}/desktop", params={"port": "70000"}).status_code == 400

    with open_desktop(server, c, cid, f"csrf={csrf}&port={vnc.port}") as ws:
        rfb = Rfb(ws)
        assert rfb.handshake() == [1]  # None: x11vnc -nopw
        width, height, name = rfb.init()
        assert (width, height) == (WIDTH, HEIGHT)
        assert name  # x11vnc names the display
        # A framebuffer update request: the whole screen comes back (FramebufferUpdate, type 0).
        ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
        assert rfb.read(1) == b"\0"

    wait_for(lambda: audit(server, "desktop.close"), 15, what="desktop.close")
    [opened] = audit(server, "desktop.open")
    assert opened["object_id"] == str(cid) and opened["username"] == "admin"
    assert opened["detail"]["port"] == vnc.port
    [closed] = audit(server, "desktop.close")
    assert closed["detail"]["reason"] == "closed by the browser"
    assert closed["detail"]["bytes_out"] > 12 and closed["detail"]["bytes_in"] >= 12

    # Nothing listens there: the socket closes saying why (the agent could not connect).
    with open_desktop(server, c, cid, f"csrf={csrf}&port={free_port()}") as ws:
        code, reason = closed_with(ws)
    assert code == 4500 and "cannot connect" in reason


def test_password_protected_vnc_server(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login, tmp_path: Path
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    c, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    with (
        vnc_server(tmp_path / "vnc", password="secret-vnc") as vnc,
        open_desktop(server, c, cid, f"csrf={csrf}&port={vnc.port}") as ws,
    ):
        assert Rfb(ws).handshake() == [2]  # VNC authentication, answered by noVNC's password box


def test_refusals(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login, vnc: Vnc
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    server.cli("user", "create", "viewer", "--role", "viewer", "--password", VIEWER_PASSWORD)
    viewer, viewer_csrf = web_login(server, "viewer", VIEWER_PASSWORD)
    assert 'id="open-desktop"' not in viewer.get(f"/computers/{cid}").text
    assert viewer.get(f"/computers/{cid}/desktop").status_code == 403
    with open_desktop(server, viewer, cid, f"csrf={viewer_csrf}&port={vnc.port}") as ws:
        code, reason = closed_with(ws)
    assert (code, reason) == (4403, "viewer (viewer) lacks permission remote_access")
    denied = [r for r in audit(server, "desktop.open") if r["result"] != "ok"]
    assert [r["username"] for r in denied] == ["viewer"]

    # No session at all: the page sends to the login, the socket is refused before it opens.
    with httpx.Client(base_url=server.url, timeout=15) as anonymous:
        r = anonymous.get(f"/computers/{cid}/desktop", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    admin, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    for bad in (
        lambda: open_desktop(server, None, cid, f"port={vnc.port}"),
        lambda: open_desktop(server, admin, cid, f"csrf=not-the-token&port={vnc.port}"),
        lambda: open_desktop(
            server, admin, cid, f"csrf={csrf}&port={vnc.port}", origin="http://evil.example"
        ),
        lambda: open_desktop(server, None, cid, "link=made-up"),
    ):
        with pytest.raises(InvalidStatus) as refused:
            bad()
        assert refused.value.response.status_code == 403
    with open_desktop(server, admin, 999_999, f"csrf={csrf}") as ws:
        assert closed_with(ws) == (4403, "computer 999999 not found")
    assert all(r["username"] != "admin" for r in audit(server, "desktop.close"))  # nothing opened


def test_one_time_link_from_remotepc(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], vnc: Vnc
) -> None:
    """RemotePC's "Get Web Viewer Connection URL": a link that opens the desktop page and one
    view without a login, once; the API key's user is the one audited."""
    _agent, cid = enrolled_agent(server, agent_factory)
    key = "rpc-e2e-key-0123456789abcdef"
    server.cli("settings", "set", "remotepc.api_enabled", "true")
    server.cli("settings", "set", "remotepc.api_key", key)
    with server.client() as api:
        uid = api.get(f"/computers/{cid}").json()["data"]["uid"]
    with httpx.Client(base_url=server.url, timeout=15, headers={"Authorization": f"Bearer {key}"}) as rpc:
        r = rpc.post(
            "/rpcnew/api/msp/computer/get/connectUrl", json={"machine_id": uid, "username": "a@b.example"}
        )
    assert r.status_code == 200, r.text
    message = r.json()["message"]
    assert message["expires_in"] == 300
    url = httpx.URL(message["url"])
    assert url.path == f"/computers/{cid}/desktop" and url.params["link"]
    with httpx.Client(timeout=15) as browser:  # no session
        page = browser.get(url)
        assert page.status_code == 200 and 'data-link="' in page.text
    token = url.params["link"]
    # The link names port 5900; this test's VNC server listens elsewhere, so the view fails at
    # the agent, after the link was used up: the second use is refused before the socket opens.
    with open_desktop(server, None, cid, f"link={token}") as ws:
        code, reason = closed_with(ws)
    assert code == 4500 and "5900" in reason
    with pytest.raises(InvalidStatus):
        open_desktop(server, None, cid, f"link={token}")
    [opened] = audit(server, "desktop.open")
    assert opened["username"] == "remotepc api key" and opened["detail"]["port"] == 5900
    assert [r["result"] for r in audit(server, "desktop.link")] == ["ok"]
