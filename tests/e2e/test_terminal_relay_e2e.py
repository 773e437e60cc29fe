"""A browser terminal relayed between two server processes (``bus/terminals.py``): real server
processes A and B on one database and a real Redis or NATS bus, a real agent (with a real PTY)
connected to A, and the web UI's terminal WebSocket opened on B.

What crosses the bus is checked for what would break: typed bytes reach the shell (42), a
resize reaches the PTY (``stty size``), 100,000 lines of output (far more than the relay's
window) arrive complete and in order, more input than the window reaches the shell whole, the
shell's exit code reaches the browser, and closing the browser's socket on B hangs the shell up
on A's agent."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from fleetdeck.protocol import messages as m
from tests.buses import REMOTE
from tests.e2e import test_terminal_e2e
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, enrolled_agent, wait_for
from tests.e2e.test_scaleout_e2e import bus_env, health, member
from tests.e2e.test_terminal_e2e import (
    Login,
    Screen,
    agent_without_terminals,
    audit,
    control,
    open_terminal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

LINES = 100_000
web_login = test_terminal_e2e.web_login  # the fixture: log in to a server's web UI


@pytest.mark.parametrize("backend", REMOTE)
def test_terminal_on_an_agent_held_by_another_process(
    backend: str,
    server_factory: Callable[..., ServerProc],
    agent_factory: Callable[..., AgentProc],
    tmp_path: Path,
    web_login: Login,
) -> None:
    a = server_factory(**bus_env(backend), FLEETDECK_NODE_ID="a")
    a.start()
    b = member(a, tmp_path, "b")
    try:
        b.start()
        agent, cid = enrolled_agent(a, agent_factory)
        assert health(a)["agents_connected"] == 1 and health(b)["agents_connected"] == 0
        c, csrf = web_login(b, "admin", ADMIN_PASSWORD)

        with open_terminal(b, c, cid, csrf) as ws:
            assert "opened" in control(ws, timeout=30)
            screen = Screen(ws)
            screen.type("echo $((6*7))\n")
            screen.wait(r"\n42\n")
            ws.send(json.dumps({"resize": [101, 37]}))
            screen.type("stty size\n")
            screen.wait(r"\n37 101\n")

            # Output far beyond the window (about 590 KB): complete and in order.
            screen.type(f"seq 1 {LINES}; echo SEQ-DONE\n")
            screen.wait(r"\nSEQ-DONE\n", timeout=120)
            shown = screen.text.rsplit("\nSEQ-DONE\n", 1)[0].split("\n")  # (not the typed line's)
            numbers = [int(line) for line in shown if line.isdigit()]
            assert numbers[-LINES:] == list(range(1, LINES + 1))
            assert m.TERM_WINDOW_BYTES < LINES * 5

            # Input beyond the window (320 KB typed): it reaches the shell whole.
            target = tmp_path / "typed.txt"
            screen.type(f"stty -echo; cat > {target}\n")
            line = "y" * 63 + "\n"
            typed = line * 5000
            assert len(typed) > m.TERM_WINDOW_BYTES
            screen.type(typed)
            screen.type("\x04")
            screen.type(f"stty echo; wc -c < {target}\n")
            screen.wait(rf"\n{len(typed)}\n", timeout=120)
            assert target.read_text() == typed

            screen.type("echo PID=$$\n")
            pid = int(screen.wait(r"\nPID=(\d+)\n").group(1))
            assert psutil.Process(pid).ppid() == agent.proc.pid  # type: ignore[union-attr]
        # The browser left B: A's agent hangs the shell up.
        wait_for(lambda: not psutil.pid_exists(pid), 30, what="the shell gone")

        # The shell ends by itself: B's browser hears its exit code.
        with open_terminal(b, c, cid, csrf) as ws:
            assert "opened" in control(ws, timeout=30)
            ws.send(b"exit 7\n")
            assert control(ws, timeout=30) == {"exit": 7}

        # Sessions are B's (audited there, the caps count there): none left open on either.
        wait_for(lambda: len(audit(b, "terminal.close")) == 2, 30, what="two terminal.close rows")
        # (by reason: on a loaded machine the first session's row may be written after the second's)
        closes = {r["detail"]["reason"]: r["detail"] for r in audit(b, "terminal.close")}
        assert set(closes) == {"closed by the browser", "exited"}, closes
        first = closes["closed by the browser"]
        assert first["bytes_in"] >= len(typed) and first["bytes_out"] > LINES * 5
        assert closes["exited"]["exit_code"] == 7
        assert health(a)["agents_connected"] == 1
    finally:
        b.stop()


def test_a_relayed_terminal_refused_by_the_agent_says_why(
    server_factory: Callable[..., ServerProc],
    agent_factory: Callable[..., AgentProc],
    tmp_path: Path,
    web_login: Login,
) -> None:
    """An agent on A with terminals switched off: B's browser reads the agent's reason."""
    a = server_factory(**bus_env(REMOTE[0]), FLEETDECK_NODE_ID="a")
    a.start()
    b = member(a, tmp_path, "b")
    try:
        b.start()
        cid = agent_without_terminals(a, agent_factory)
        c, csrf = web_login(b, "admin", ADMIN_PASSWORD)
        with open_terminal(b, c, cid, csrf) as ws:
            error = control(ws, timeout=30)["error"]
        assert re.fullmatch(rf"computer {cid}: its agent offers no terminal .*", error), error
    finally:
        b.stop()
