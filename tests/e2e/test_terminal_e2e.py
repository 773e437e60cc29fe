"""A terminal in the browser, end to end: a real server process, a real agent process that
opens a real PTY, and the web UI's terminal WebSocket with a real web session.

The test types ``echo $((6*7))`` and reads 42, resizes the terminal (``stty size`` shows it),
closes the socket and sees the shell process gone; a viewer, a socket without the session's
CSRF token or from another origin, and an agent with terminals switched off are refused; the
session's start and end are in the audit log (never what was typed)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from fleetdeck.core.authz import Role
from fleetdeck.protocol import messages as m
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, wait_for

pytestmark = pytest.mark.e2e

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VIEWER_PASSWORD = "viewer-password-1"
_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07)")  # the shell's colours, title, modes


Login = Callable[[ServerProc, str, str], tuple[httpx.Client, str]]


@pytest.fixture
def web_login() -> Iterator[Login]:
    clients: list[httpx.Client] = []

    def login(server: ServerProc, username: str, password: str) -> tuple[httpx.Client, str]:
        c = httpx.Client(base_url=server.url, timeout=15)
        clients.append(c)
        return c, _login(c, username, password)

    yield login
    for c in clients:
        c.close()


def _login(c: httpx.Client, username: str, password: str) -> str:
    """Log in as a browser does; returns the session's CSRF token."""
    page = c.get("/login")
    token = _CSRF.search(page.text)
    assert token, page.text
    r = c.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = _CSRF.search(c.get("/computers").text)
    assert found
    return found.group(1)


def open_terminal(
    server: ServerProc, c: httpx.Client, cid: int, csrf: str, origin: str | None = None, cols: int = 80
) -> ClientConnection:
    url = (
        server.url.replace("http", "ws", 1) + f"/computers/{cid}/terminal/ws?csrf={csrf}&cols={cols}&rows=24"
    )
    cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    headers = {"Cookie": cookie}
    return ws_connect(url, additional_headers=headers, origin=origin or server.url, open_timeout=10)  # type: ignore[arg-type]


def control(ws: ClientConnection, timeout: float = 15) -> dict[str, Any]:
    """The next text (control) message, skipping terminal bytes."""
    deadline = time.monotonic() + timeout
    while True:
        message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(message, str):
            found: dict[str, Any] = json.loads(message)
            return found


class Screen:
    """What the terminal has shown so far."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.text = ""
        self.controls: list[str] = []  # control messages seen while waiting for output

    def wait(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not shown; the screen:\n{self.text[-2000:]}")
            try:
                message = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:  # say why: the last control message has the reason
                raise AssertionError(
                    f"{pattern!r} not shown: the terminal closed ({exc}) after {self.controls!r};"
                    f" the screen:\n{self.text[-2000:]}"
                ) from exc
            if isinstance(message, str):
                self.controls.append(message)
            elif isinstance(message, bytes):
                self.text = _ESCAPES.sub("", self.text + message.decode(errors="replace")).replace("\r", "")

    def type(self, text: str) -> None:
        self.ws.send(text.encode())


def drain(ws: ClientConnection) -> None:
    while True:
        ws.recv(timeout=10)


def audit(server: ServerProc, action: str) -> list[dict[str, Any]]:
    with server.client() as c:
        rows: list[dict[str, Any]] = c.get("/audit", params={"filter[action]": action}).json()["data"]
    return [r for r in rows if r["action"] == action]


def test_terminal_on_a_real_agent(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    c, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    page = c.get(f"/computers/{cid}")
    assert f'href="/computers/{cid}/terminal"' in page.text  # the button, for a user who may
    assert c.get(f"/computers/{cid}/terminal").status_code == 200

    with open_terminal(server, c, cid, csrf) as ws:
        assert "opened" in control(ws)
        screen = Screen(ws)
        screen.type("echo $((6*7))\n")
        screen.wait(r"\n42\n")
        ws.send(json.dumps({"resize": [101, 37]}))
        screen.type("stty size\n")
        screen.wait(r"\n37 101\n")
        screen.type("echo PID=$$\n")
        pid = int(screen.wait(r"\nPID=(\d+)\n").group(1))
        assert psutil.pid_exists(pid)
        assert psutil.Process(pid).ppid() == _agent.proc.pid  # type: ignore[union-attr]
        typed = "echo secret-typed-$((1+1))\n"
        screen.type(typed)
        screen.wait(r"secret-typed-2")
    # The browser went away: the agent hangs up the shell's process group and reaps it.
    wait_for(lambda: not psutil.pid_exists(pid), 15, what="the shell gone")

    # The shell ends by itself: the browser hears the exit code.
    with open_terminal(server, c, cid, csrf) as ws:
        assert "opened" in control(ws)
        ws.send(b"exit 7\n")
        assert control(ws) == {"exit": 7}
        with pytest.raises(ConnectionClosed):
            drain(ws)

    wait_for(lambda: len(audit(server, "terminal.close")) == 2, 15, what="two terminal.close rows")
    opened = audit(server, "terminal.open")
    assert len(opened) == 2 and all(r["object_id"] == str(cid) and r["username"] == "admin" for r in opened)
    rows = audit(server, "terminal.open") + audit(server, "terminal.close")
    assert "secret-typed" not in json.dumps(rows)  # keystrokes are never recorded


def test_a_paste_larger_than_the_window_into_a_busy_shell(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login, tmp_path: Path
) -> None:
    """320 KB typed while the shell sleeps (the PTY takes ~4 KB, the agent may buffer 256 KB):
    the server holds the rest until the agent says the PTY took it (TermTaken), and all of it
    arrives. Without that window the agent's buffer overran and the session was ended."""
    _agent, cid = enrolled_agent(server, agent_factory)
    c, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    target = tmp_path / "pasted.txt"
    with open_terminal(server, c, cid, csrf) as ws:
        assert "opened" in control(ws)
        screen = Screen(ws)
        screen.type(f"stty -echo; sleep 3; cat > {target}\n")
        typed = ("z" * 63 + "\n") * 5000
        assert len(typed) > m.TERM_WINDOW_BYTES
        screen.type(typed)  # at once, while the shell sleeps
        screen.type("\x04")
        screen.type(f"stty echo; wc -c < {target}\n")
        screen.wait(rf"\n{len(typed)}\n", timeout=120)
        assert target.read_text() == typed


def test_refusals(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login
) -> None:
    _agent, cid = enrolled_agent(server, agent_factory)
    server.create_user("viewer", VIEWER_PASSWORD, Role.VIEWER)
    viewer, viewer_csrf = web_login(server, "viewer", VIEWER_PASSWORD)
    assert 'id="open-terminal"' not in viewer.get(f"/computers/{cid}").text
    assert viewer.get(f"/computers/{cid}/terminal").status_code == 403
    with open_terminal(server, viewer, cid, viewer_csrf) as ws:
        assert "error" in control(ws)
    denied = [r for r in audit(server, "terminal.open") if r["result"] != "ok"]
    assert [r["username"] for r in denied] == ["viewer"]

    admin, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    for bad in (
        lambda: open_terminal(server, admin, cid, "not-the-token"),
        lambda: open_terminal(server, admin, cid, csrf, origin="http://evil.example"),
    ):
        with pytest.raises(InvalidStatus) as refused:
            bad()
        assert refused.value.response.status_code == 403
    with open_terminal(server, admin, 999_999, csrf) as ws:
        assert control(ws) == {"error": "computer 999999 not found"}


def agent_without_terminals(server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc]) -> int:
    """An agent started with ``--no-terminal``, enrolled and online: its computer id."""
    token = server.enroll_token()
    agent = agent_factory(server)
    agent.start("--no-terminal", token=token)
    with server.client() as api:
        cid: int = wait_for(
            lambda: next((r["id"] for r in api.get("/computers").json()["data"] if r["online"]), None),
            30,
            what="agent online",
        )
    return cid


def test_agent_with_terminals_switched_off(
    server: ServerProc, agent_factory: Callable[[ServerProc], AgentProc], web_login: Login
) -> None:
    cid = agent_without_terminals(server, agent_factory)
    admin, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    with open_terminal(server, admin, cid, csrf) as ws:
        error = control(ws)["error"]
    assert "offers no terminal" in error


def test_an_agent_beyond_its_window_is_cut_off(
    server_factory: Callable[..., ServerProc], web_login: Login
) -> None:
    """A browser that reads nothing and an agent (scripted) that ignores the acknowledgements:
    the server holds at most the window for the session, then closes it on the agent."""
    from tests.e2e.test_gateway_e2e import ScriptedAgent

    server = server_factory(FLEETDECK_OFFLINE_AFTER_SEC="60")  # the scripted agent sends no heartbeats
    server.start()
    agent = ScriptedAgent(server, "flood")
    admin, csrf = web_login(server, "admin", ADMIN_PASSWORD)
    with agent.connect(features=[m.FEATURE_REQUESTS, m.FEATURE_TERMINAL]) as agent_ws:
        with server.client() as api:
            wait_for(
                lambda: api.get(f"/computers/{agent.computer_id}").json()["data"]["online"], 20, what="online"
            )
        with open_terminal(server, admin, agent.computer_id, csrf) as browser:
            opening = agent.next_frame()
            assert isinstance(opening, m.TermOpen) and (opening.cols, opening.rows) == (80, 24)
            agent_ws.send(m.encode(m.TermOpened(sid=opening.sid)))
            assert "opened" in control(browser)
            frame = b"x" * m.TERM_FRAME_BYTES
            sent, closed = 0, False
            while sent < 64 * 1024**2 and not closed:  # far beyond the window and the socket buffers
                agent_ws.send(m.encode(m.TermOutput(sid=opening.sid, data=frame)))
                sent += len(frame)
                with contextlib.suppress(TimeoutError):
                    while True:
                        got = agent.next_frame(timeout=0.001 if sent % (1024**2) else 0.2)
                        closed = closed or got == m.TermClose(sid=opening.sid)
            assert closed, f"still open after {sent} bytes"
    wait_for(lambda: audit(server, "terminal.close"), 15, what="terminal.close")
    [row] = audit(server, "terminal.close")
    assert row["detail"]["reason"] == "the agent sent more than its window", row
    assert row["detail"]["bytes_out"] < sent  # what reached the browser's socket, not all of it
