"""Terminals: a shell in a PTY, its bytes carried over the agent's connection.

The server opens a session with ``TermOpen``; the agent starts the agent user's login shell (or
``/bin/sh``, or the command given) on a new PTY as a session leader with the PTY as its
controlling terminal (so Ctrl-C reaches the foreground job), and pumps bytes both ways:

* output: read from the PTY master (asyncio ``add_reader``) in frames of at most
  ``TERM_FRAME_BYTES``; at most ``TERM_WINDOW_BYTES`` may be unacknowledged (``TermAck``), and
  beyond that the agent stops reading the PTY, so a slow browser slows the shell down instead of
  growing a buffer anywhere;
* input: written to the master; what the shell does not take at once waits in a buffer of at
  most ``TERM_WINDOW_BYTES`` (more ends the session). With a server that takes up
  ``FEATURE_TERM_INPUT_ACK`` the agent tells it what the PTY took (``TermTaken``, every
  ``INPUT_ACK_EVERY`` bytes or when the buffer empties), and the server keeps what is beyond the
  window, so a large paste into a shell that is busy waits instead of ending the session.

``TermClose``, a lost connection or the agent stopping hang up every process of the shell's
session (SIGHUP, then SIGKILL after a grace period). Stdlib only (pty, termios, fcntl), so the agent
stays light; on platforms without PTYs the agent answers "not supported".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable

from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

SUPPORTED = os.name == "posix" and sys.platform != "cygwin"
MAX_SESSIONS = 16
INPUT_ACK_EVERY = m.TERM_WINDOW_BYTES // 4  # TermTaken at least this often (and when all is taken)
KILL_GRACE_SEC = 2.0
ENV_SWITCH = "FLEETDECK_AGENT_TERMINAL"  # "0": terminals switched off

Send = Callable[[m.Message], Awaitable[None]]


def enabled_from_env() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "no", "off", "false")


def login_shell() -> str:
    import pwd

    with contextlib.suppress(KeyError):
        shell = pwd.getpwuid(os.getuid()).pw_shell
        if shell and os.path.isabs(shell) and os.access(shell, os.X_OK) and not shell.endswith("nologin"):
            return shell
    return "/bin/sh"


def _winsize(fd: int, cols: int, rows: int) -> None:
    import fcntl
    import termios

    cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _take_terminal() -> None:  # in the child, after setsid: the PTY becomes its controlling tty
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _session_members(session: int) -> list[int]:
    import psutil

    found = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            if pid != os.getpid() and os.getsid(pid) == session:
                found.append(pid)
    return found


class _Session:
    def __init__(self, owner: Terminals, sid: str, proc: subprocess.Popen[bytes], master: int) -> None:
        self.owner = owner
        self.sid = sid
        self.proc = proc
        self.master = master
        self.in_flight = 0  # output bytes sent and not acknowledged
        self.reading = False
        self.pending = bytearray()  # input the PTY has not taken yet
        self.taken = 0  # input the PTY took and the server was not told of yet (TermTaken)
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()  # bounded by the window
        self.closed = False
        self.ended = False
        self.writer = asyncio.create_task(self._write_out())
        self.loop = asyncio.get_running_loop()
        self._resume()

    # -------------------------------------------------------- output
    def _resume(self) -> None:
        if not self.reading and not self.ended and self.in_flight < m.TERM_WINDOW_BYTES:
            self.loop.add_reader(self.master, self._readable)
            self.reading = True

    def _pause(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.master)
            self.reading = False

    def _readable(self) -> None:
        room = min(m.TERM_FRAME_BYTES, m.TERM_WINDOW_BYTES - self.in_flight)
        try:
            data = os.read(self.master, room)
        except BlockingIOError:
            return
        except OSError:  # EIO: every process holding the PTY's other end has gone
            data = b""
        if not data:
            self._pause()
            self.ended = True
            self.outbox.put_nowait(None)
            return
        self.in_flight += len(data)
        self.outbox.put_nowait(data)
        if self.in_flight >= m.TERM_WINDOW_BYTES:
            self._pause()

    async def _write_out(self) -> None:
        while (data := await self.outbox.get()) is not None:
            await self.owner.send(m.TermOutput(sid=self.sid, data=data))
        code = await self._reap()
        self.owner.ended(self)
        await self.owner.send(m.TermExit(sid=self.sid, exit_code=code))

    async def _reap(self) -> int | None:
        try:
            return await asyncio.to_thread(self.proc.wait, KILL_GRACE_SEC)
        except subprocess.TimeoutExpired:  # the PTY closed, the shell lingers: hang it up
            self.hang_up(signal.SIGKILL)
            return await asyncio.to_thread(self.proc.wait)
        finally:
            with contextlib.suppress(OSError):
                self.loop.remove_writer(self.master)
            with contextlib.suppress(OSError):
                os.close(self.master)

    def ack(self, count: int) -> None:
        self.in_flight = max(0, self.in_flight - max(0, count))
        self._resume()

    # -------------------------------------------------------- input
    def write(self, data: bytes) -> None:
        if self.ended:
            return
        if self.pending:
            self.pending += data
        else:
            try:
                done = os.write(self.master, data)
            except BlockingIOError:
                done = 0
            except OSError:
                return  # the shell is going; its end is reported by the reader
            if done < len(data):
                self.pending += data[done:]
                self.loop.add_writer(self.master, self._writable)
            self._took(done)
        if len(self.pending) > m.TERM_WINDOW_BYTES:
            log.warning("terminal %s: the shell does not read its input; closing it", self.sid)
            self.close()

    def _writable(self) -> None:
        try:
            done = os.write(self.master, self.pending)
        except BlockingIOError:
            return
        except OSError:
            done = len(self.pending)
        del self.pending[:done]
        if not self.pending:
            self.loop.remove_writer(self.master)
        self._took(done)

    def _took(self, count: int) -> None:
        """Tell the server (if it takes up FEATURE_TERM_INPUT_ACK) what the PTY has taken."""
        if not self.owner.input_acks:
            return
        self.taken += count
        if self.taken and (self.taken >= INPUT_ACK_EVERY or not self.pending):
            taken, self.taken = self.taken, 0
            self.owner.post(m.TermTaken(sid=self.sid, bytes=taken))

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            _winsize(self.master, cols, rows)  # the kernel sends SIGWINCH to the foreground job

    # -------------------------------------------------------- end
    def hang_up(self, sig: int = signal.SIGHUP) -> None:
        """Signal the shell's process group and every other process of its session (an
        interactive shell puts each job in a process group of its own)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        for pid in _session_members(self.proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def close(self) -> None:
        """Hang up the whole process group; SIGKILL whatever is left after the grace period."""
        if self.closed:
            return
        self.closed = True
        self.hang_up(signal.SIGHUP)
        self.hang_up(signal.SIGCONT)  # a stopped job must wake to see its hangup
        self.loop.call_later(KILL_GRACE_SEC, self.hang_up, signal.SIGKILL)


class Terminals:
    """The terminal sessions of one agent, across connections."""

    def __init__(self, send: Send, *, enabled: bool = True, shell: str | None = None) -> None:
        self.send = send
        self.enabled = enabled
        self.shell = shell
        self.sessions: dict[str, _Session] = {}
        # the server takes up FEATURE_TERM_INPUT_ACK (set from each connection's Welcome)
        self.input_acks = False
        self._posting: set[asyncio.Future[None]] = set()

    def post(self, msg: m.Message) -> None:
        """Send from a callback of the event loop (the PTY's writer). ``send`` drops a frame
        when there is no connection, so nothing is left to handle here."""
        task: asyncio.Future[None] = asyncio.ensure_future(self.send(msg))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    @property
    def offered(self) -> bool:
        """Whether the hello lists FEATURE_TERMINAL."""
        return self.enabled and SUPPORTED

    def handle(
        self, msg: m.TermOpen | m.TermInput | m.TermResize | m.TermAck | m.TermClose
    ) -> m.Message | None:
        """Act on a server frame; returns an answer to send, if any."""
        if isinstance(msg, m.TermOpen):
            return self._open(msg)
        session = self.sessions.get(msg.sid)
        if session is None:
            return None  # a session that has ended: its TermExit is on its way
        if isinstance(msg, m.TermInput):
            session.write(msg.data[: m.TERM_FRAME_BYTES])
        elif isinstance(msg, m.TermResize):
            session.resize(msg.cols, msg.rows)
        elif isinstance(msg, m.TermAck):
            session.ack(msg.bytes)
        else:
            session.close()
        return None

    def _open(self, msg: m.TermOpen) -> m.Message:
        if not SUPPORTED:
            return m.TermOpened(sid=msg.sid, ok=False, error="terminals are not supported on this platform")
        if not self.enabled:
            return m.TermOpened(sid=msg.sid, ok=False, error="terminals are switched off on this agent")
        if msg.sid in self.sessions or len(self.sessions) >= MAX_SESSIONS:
            return m.TermOpened(sid=msg.sid, ok=False, error="too many terminals on this agent")
        try:
            session = self._spawn(msg)
        except OSError as exc:
            log.warning("terminal %s: cannot start a shell: %s", msg.sid, exc)
            return m.TermOpened(sid=msg.sid, ok=False, error=f"cannot start a shell: {exc}")
        self.sessions[msg.sid] = session
        log.info("terminal %s opened (pid %s)", msg.sid, session.proc.pid)
        return m.TermOpened(sid=msg.sid)

    def _spawn(self, msg: m.TermOpen) -> _Session:
        master, slave = os.openpty()
        try:
            _winsize(slave, msg.cols, msg.rows)
            shell = self.shell or login_shell()
            argv = [shell, "-c", msg.command] if msg.command else [shell, "-l"]
            env = {**os.environ, "TERM": "xterm-256color"}
            env.pop(ENV_SWITCH, None)
            proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=_take_terminal,  # noqa: PLW1509
                env=env,
                cwd=os.path.expanduser("~") if os.path.isdir(os.path.expanduser("~")) else "/",
                close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return _Session(self, msg.sid, proc, master)

    def ended(self, session: _Session) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
        log.info("terminal %s ended", session.sid)

    def close_all(self) -> None:
        """The connection is gone (or the agent stops): nobody can see these shells any more."""
        for session in list(self.sessions.values()):
            session.close()

    async def shutdown(self) -> None:
        self.close_all()
        writers = [s.writer for s in self.sessions.values()]
        if writers:
            await asyncio.wait(writers, timeout=KILL_GRACE_SEC + 1)
