"""The agent's terminals (``agent.terminal``) on a real PTY, without a server: output stops at
the window until the server acknowledges it (a slow browser holds the shell up, it grows no
buffer), resize reaches the PTY, TermClose hangs up the whole process group, and a switched-off
agent refuses. The whole path through a server is tests/e2e/test_terminal_e2e.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import psutil
import pytest

from fleetdeck.agent.terminal import SUPPORTED, Terminals
from fleetdeck.protocol import messages as m

pytestmark = pytest.mark.skipif(not SUPPORTED, reason="no PTYs on this platform")


class Sink:
    def __init__(self) -> None:
        self.frames: list[m.Message] = []
        self.changed = asyncio.Event()

    async def send(self, msg: m.Message) -> None:
        self.frames.append(msg)
        self.changed.set()

    def output(self, sid: str = "s1") -> bytes:
        return b"".join(f.data for f in self.frames if isinstance(f, m.TermOutput) and f.sid == sid)

    def exit(self) -> m.TermExit | None:
        return next((f for f in self.frames if isinstance(f, m.TermExit)), None)

    async def settle(self, quiet: float = 0.3, limit: float = 10) -> None:
        """Until nothing has arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), quiet)
            except TimeoutError:
                return

    async def until(self, check: object, limit: float = 10) -> None:
        deadline = time.monotonic() + limit
        while not check():  # type: ignore[operator]
            assert time.monotonic() < deadline, self.frames[-5:]
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.2)


async def _window() -> None:
    sink = Sink()
    terminals = Terminals(sink.send, shell="/bin/sh")
    total = 1_000_000
    opened = terminals.handle(m.TermOpen(sid="s1", command=f"head -c {total} /dev/zero | tr '\\0' x"))
    assert opened == m.TermOpened(sid="s1")
    await sink.settle()
    first = len(sink.output())
    assert first == m.TERM_WINDOW_BYTES  # stopped at the window: nobody acknowledged
    assert all(len(f.data) <= m.TERM_FRAME_BYTES for f in sink.frames if isinstance(f, m.TermOutput))
    assert sink.exit() is None
    seen = first
    while sink.exit() is None:
        terminals.handle(m.TermAck(sid="s1", bytes=seen))
        await sink.until(lambda before=seen: len(sink.output()) > before or sink.exit() is not None)
        now = len(sink.output())
        assert now - seen <= m.TERM_WINDOW_BYTES
        seen = now
    assert seen >= total  # all of it (a PTY may add nothing here: no newlines)
    end = sink.exit()
    assert end is not None and end.exit_code == 0
    assert terminals.sessions == {}


def test_output_waits_for_acknowledgements() -> None:
    asyncio.run(_window())


async def _resize_and_close() -> None:
    sink = Sink()
    terminals = Terminals(sink.send, shell="/bin/sh")
    terminals.handle(m.TermOpen(sid="s1", cols=80, rows=24, command="exec /bin/sh -i"))
    terminals.handle(m.TermResize(sid="s1", cols=132, rows=50))
    terminals.handle(m.TermInput(sid="s1", data=b"stty size; sleep 300 & echo BG=$!\n"))
    await sink.until(lambda: b"50 132" in sink.output() and b"BG=" in sink.output().split(b"BG=$!")[-1])
    tail = sink.output().split(b"BG=$!")[-1]
    bg = int(tail.split(b"BG=")[1].split(b"\r")[0])
    shell = terminals.sessions["s1"].proc.pid
    assert psutil.pid_exists(bg) and os.getsid(bg) == shell  # the shell leads a session of its own
    terminals.handle(m.TermAck(sid="s1", bytes=len(sink.output())))
    terminals.handle(m.TermClose(sid="s1"))
    await sink.until(lambda: sink.exit() is not None)

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    await sink.until(lambda: gone(bg) and gone(shell), limit=10)
    assert terminals.sessions == {}
    terminals.handle(m.TermInput(sid="s1", data=b"late\n"))  # an ended session: ignored


def test_resize_and_close_hang_up_the_group() -> None:
    asyncio.run(_resize_and_close())


async def _input_acks(acks: bool, tmp: str) -> tuple[int, list[int]]:
    sink = Sink()
    terminals = Terminals(sink.send, shell="/bin/sh")
    terminals.input_acks = acks
    terminals.handle(m.TermOpen(sid="s1", command=f"stty -echo; sleep 1; cat > {tmp}"))
    typed = b"q" * 1023 + b"\n"
    for _ in range(200):  # 200 KiB while the shell sleeps: most of it waits in the agent
        terminals.handle(m.TermInput(sid="s1", data=typed))
    terminals.handle(m.TermInput(sid="s1", data=b"\x04"))
    await sink.until(lambda: sink.exit() is not None, limit=30)
    taken = [f.bytes for f in sink.frames if isinstance(f, m.TermTaken)]
    return os.path.getsize(tmp), taken


def test_input_is_acknowledged_as_the_pty_takes_it(tmp_path: object) -> None:
    """With a server that takes it up: TermTaken for every byte the PTY took (all of the input,
    the end-of-file included), in steps no larger than the window; without it, none."""
    size, taken = asyncio.run(_input_acks(True, f"{tmp_path}/a"))
    assert size == 200 * 1024
    assert sum(taken) == 200 * 1024 + 1 and len(taken) > 1
    assert all(0 < t <= m.TERM_WINDOW_BYTES for t in taken)
    size, taken = asyncio.run(_input_acks(False, f"{tmp_path}/b"))
    assert (size, taken) == (200 * 1024, [])


def test_switched_off() -> None:
    async def run() -> None:
        sink = Sink()
        terminals = Terminals(sink.send, enabled=False)
        assert not terminals.offered
        answer = terminals.handle(m.TermOpen(sid="x"))
        assert isinstance(answer, m.TermOpened) and not answer.ok and "switched off" in answer.error
        assert terminals.sessions == {}

    asyncio.run(run())


def test_frames_round_trip() -> None:
    for msg in (
        m.TermOpen(sid="a", cols=100, rows=30, command="top"),
        m.TermInput(sid="a", data=b"\x00\xffls\n"),
        m.TermResize(sid="a", cols=1, rows=2),
        m.TermAck(sid="a", bytes=5),
        m.TermClose(sid="a"),
    ):
        assert m.decode_from_server(m.encode(msg)) == msg
    for agent_msg in (
        m.TermOpened(sid="a", ok=False, error="no"),
        m.TermOutput(sid="a", data=b"\x1b[1m"),
        m.TermExit(sid="a", exit_code=3),
        m.TermTaken(sid="a", bytes=4096),
    ):
        assert m.decode_from_agent(m.encode(agent_msg)) == agent_msg
