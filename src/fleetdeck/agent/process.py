"""Starting commands in their own session and killing whole process trees.

A command like ``sh -c 'long-task & other-task & wait'`` leaves grandchildren behind if only
the shell is killed; they would keep running after a timeout or cancel and keep the output
pipes open. So every job runs in a new session (its own process group), and killing it
signals the group *and* every descendant psutil can find (descendants may have left the
group with ``setsid``): SIGTERM first, SIGKILL after a grace period.

Under systemd (``FLEETDECK_AGENT_JOB_SCOPE=auto``, set by the agent's unit) every job starts
in a transient scope of ``fleetdeck-jobs.slice`` (``systemd-run --scope``): the process stays
the agent's child (same pid, same pipes, same process group), but its cgroup is not the
agent's, so the unit's ``MemoryMax`` limits the agent and not an ``apt-get dist-upgrade`` it
runs. Without systemd, as a non-root agent, or without ``systemd-run``, jobs stay in the
agent's cgroup (docs/operations.md says what that means for the memory limit).

On Linux a job without a working directory of its own starts with ``posix_spawn`` (glibc's
``clone(CLONE_VFORK)``) and is watched on the event loop itself: its pipes (and, if it outlives
them, a pidfd) are registered with the selector (:class:`DirectProcess`). asyncio's subprocess
support (Python 3.11) starts a thread per child to wait for it and builds a transport, a
protocol and two stream readers: ~0.5 ms more CPU per job, which a fan-out to 100 agents on 2
cores pays 100 times (docs/performance.md). Elsewhere (Windows, a ``cwd``, a kernel without pidfds) jobs start
with asyncio as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import psutil

from fleetdeck.agent.decoding import oem_codepage
from fleetdeck.agent.shells import SCRIPT, Launch, launch
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

KILL_GRACE_SEC = 2.0
JOB_SCOPE_ENV = "FLEETDECK_AGENT_JOB_SCOPE"
JOB_SLICE = "fleetdeck-jobs.slice"


Stream = Literal["stdout", "stderr"]
OnOutput = Callable[[Stream, bytes], None]  # b"": the stream's end
READ_SIZE = 64 * 1024
# Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec, so the
# job gets the default back, as subprocess's restore_signals does.
RESET_SIGNALS = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n))
DIRECT_SPAWN = sys.platform == "linux"  # tests switch it off to run the asyncio path


class DirectProcess:
    """A child started with ``posix_spawn``, watched on the running loop: its stdout and stderr
    pipes are registered with the selector; no thread, no transport. Once both have ended, the
    child has usually exited too and is reaped at once (``waitpid(WNOHANG)``); otherwise (it
    closed them and runs on, or is still exiting) a pidfd, readable once it has exited, is
    registered as well: one descriptor and two selector calls fewer for most jobs.

    What :class:`~fleetdeck.agent.command.CommandExecution` uses: ``pid``, ``returncode``,
    :meth:`watch` (output to a callback; a future done once both pipes end and the child is
    reaped) and :meth:`close`."""

    def __init__(self, pid: int, pipes: dict[Stream, int]) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        self._pidfd: int | None = None
        self._pipes = dict(pipes)
        self._early: list[tuple[Stream, bytes]] = []  # output before watch() was called
        self._on_output: OnOutput | None = None
        self._done: asyncio.Future[None] = self._loop.create_future()
        for stream, fd in pipes.items():
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._readable, stream, fd)

    def watch(self, on_output: OnOutput) -> asyncio.Future[None]:
        """Output from now on (and what came before) goes to ``on_output``; the future is done
        once both pipes have ended and the child is reaped. Do not cancel it: :meth:`close`."""
        self._on_output = on_output
        for stream, chunk in self._early:
            on_output(stream, chunk)
        self._early.clear()
        return self._done

    def _readable(self, stream: Stream, fd: int) -> None:
        try:
            chunk = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if self._on_output is None:
            self._early.append((stream, chunk))
        else:
            self._on_output(stream, chunk)
        if not chunk:
            self._close_pipe(stream)
            if not self._pipes:
                self._watch_exit()
            self._check_done()

    def _watch_exit(self) -> None:
        """Reap the child if it has exited, else be told when it does (a pidfd on the loop; a
        thread if no pidfd can be opened now, e.g. out of descriptors)."""
        if self.returncode is not None or self._pidfd is not None:
            return
        if self._reaped():
            return
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except OSError as exc:
            log.warning("waiting for job process %s in a thread: %s", self.pid, exc)
            waiter = self._loop.run_in_executor(None, functools.partial(os.waitpid, self.pid, 0))
            waiter.add_done_callback(self._reaped_in_thread)
            return
        self._loop.add_reader(self._pidfd, self._reap)

    def _reaped_in_thread(self, waiter: asyncio.Future[tuple[int, int]]) -> None:
        status = 255 << 8 if waiter.exception() is not None else waiter.result()[1]
        self.returncode = os.waitstatus_to_exitcode(status)
        self._check_done()

    def _reaped(self) -> bool:
        self._reap()
        return self.returncode is not None

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the exit status is lost
            pid, status = self.pid, 255 << 8
        if pid == 0:
            return
        self.returncode = os.waitstatus_to_exitcode(status)
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._check_done()

    def _check_done(self) -> None:
        if not self._pipes and self.returncode is not None and not self._done.done():
            self._done.set_result(None)

    def _close_pipe(self, stream: Stream) -> None:
        fd = self._pipes.pop(stream, None)
        if fd is not None:
            self._loop.remove_reader(fd)
            os.close(fd)

    def close(self) -> None:
        """Stop reading (an escaped grandchild may hold the pipes open). The child is still
        reaped when it exits, as long as the loop runs."""
        for stream in list(self._pipes):
            self._close_pipe(stream)
        self._watch_exit()


@functools.cache
def direct_spawn_works() -> bool:
    """Can this process start jobs with posix_spawn(setsid) and watch them with a pidfd?
    Decided once; the first time, inherited descriptors are also made close-on-exec (Python
    opens its own so; one the agent inherited at start would otherwise reach every job, which
    subprocess's close_fds prevents on the other path)."""
    if not DIRECT_SPAWN or not hasattr(os, "pidfd_open") or not hasattr(os, "posix_spawn"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
        pid = os.posix_spawn("/bin/true", ["true"], os.environ, setsid=True, setsigdef=RESET_SIGNALS)
        os.waitpid(pid, 0)
    except (OSError, NotImplementedError, TypeError) as exc:
        log.info("jobs start with asyncio's subprocess support: %s", exc)
        return False
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.set_inheritable(fd, False)
    return True


def _own_environment() -> Mapping[Any, Any]:
    """This process's environment as posix_spawn takes it cheapest: ``os.environ``'s own dict of
    bytes (kept current by every change through ``os.environ``), not ``os.environ``, which
    posix_spawn reads through Python-level ``keys()``/``values()``, decoding and re-encoding
    every variable (~35 us a job with 35 variables)."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else os.environ


def spawn_direct(argv: list[str], env: dict[str, str] | None) -> DirectProcess:
    """Start ``argv`` in a new session, stdin /dev/null, stdout and stderr to pipes."""
    environ: Mapping[Any, Any] = _own_environment() if env is None else env
    exe = argv[0]
    if os.sep not in exe:  # as subprocess does: the PATH of the environment the job gets
        path = os.environ.get("PATH", os.defpath) if env is None else env.get("PATH", os.defpath)
        found = shutil.which(exe, path=path)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), exe)
        exe = found
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ]
        pid = os.posix_spawn(exe, argv, environ, file_actions=actions, setsid=True, setsigdef=RESET_SIGNALS)
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return DirectProcess(pid, {"stdout": out_r, "stderr": err_r})


class Spawned(NamedTuple):
    proc: asyncio.subprocess.Process | DirectProcess
    script: Path | None  # a script file to remove when the process has ended
    codepage: str  # what output that is not UTF-8 is decoded with


def scope_prefix(mode: str, systemd_run: str | None, booted: bool, root: bool) -> list[str]:
    """The argv prefix that puts a job into a scope of its own, or [] where that cannot be done.

    ``mode``: auto (use systemd-run when it can work) or off. Only a root agent can create
    scopes in the system manager; a user manager needs a login session an agent does not have.
    """
    if mode.strip().lower() != "auto" or systemd_run is None or not booted or not root:
        return []
    return [systemd_run, "--scope", "--quiet", "--collect", f"--slice={JOB_SLICE}", "--"]


@functools.cache
def job_scope() -> list[str]:
    """:func:`scope_prefix` for this process, decided once (blocking: call it in a thread).

    A scope that cannot be created (no D-Bus to systemd in a container, say) would fail every
    job, so one ``true`` is run in a scope first; if that fails, jobs run without one.
    """
    if sys.platform == "win32":
        return []
    prefix = scope_prefix(
        os.environ.get(JOB_SCOPE_ENV, "off"),
        shutil.which("systemd-run"),
        os.path.isdir("/run/systemd/system"),
        os.geteuid() == 0,
    )
    if prefix:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("jobs run in the agent's own cgroup: systemd-run failed (%s)", exc)
            return []
        if probe.returncode != 0:
            why = probe.stderr.decode(errors="replace").strip()
            log.warning("jobs run in the agent's own cgroup: systemd-run --scope failed: %s", why)
            return []
    return prefix


def plan(spec: m.CommandSpec) -> Launch:
    """How ``spec`` is started on this machine (fleetdeck.agent.shells)."""
    return launch(spec, sys.platform, shutil.which, os.environ, output_codepage())


SUDO_PROBE_SEC = 10.0


async def sudo_refusal(spec: m.CommandSpec) -> str | None:
    """Why ``sudo -n`` will not run commands here (not installed, a password needed, not
    allowed), or None when it will or is not asked for: ``sudo -n true`` once, so a refusal
    is the job's message rather than a failed run's stderr."""
    if not spec.sudo or sys.platform == "win32":
        return None
    try:
        probe = await asyncio.create_subprocess_exec(
            "sudo",
            "-n",
            "true",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return f"sudo is not available: {exc}"
    try:
        _, err = await asyncio.wait_for(probe.communicate(), SUDO_PROBE_SEC)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            probe.kill()
        await probe.wait()
        return f"sudo did not answer within {SUDO_PROBE_SEC:g} s"
    if probe.returncode != 0:
        why = err.decode(errors="replace").strip()[:500] or f"exit code {probe.returncode}"
        return f"sudo refused: {why}"
    return None


@functools.cache
def output_codepage() -> str:
    return oem_codepage()


def write_script(started: Launch) -> tuple[list[str], Path | None]:
    """The argv with the script file written (in a private temporary directory), and the file."""
    if started.script is None:
        return started.argv, None
    folder = Path(tempfile.mkdtemp(prefix="fleetdeck-job-"))
    path = folder / f"job{started.suffix}"
    path.write_bytes(started.script)
    return [str(path) if a == SCRIPT else a for a in started.argv], path


def remove_script(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(path.parent)


async def spawn(spec: m.CommandSpec, how: Launch | None = None) -> Spawned:
    """Start ``spec`` (as ``how`` says, else as :func:`plan` says). The caller removes the
    script file, if any, with :func:`remove_script` once the process has ended."""
    how = how or plan(spec)
    env = {**os.environ, **spec.env} if spec.env else None
    # decided once, in a thread (it may run systemd-run); later jobs take the cached answer
    scope = job_scope() if job_scope.cache_info().currsize else await asyncio.to_thread(job_scope)
    argv, script = write_script(how)
    pipes: dict[str, Any] = {
        "stdin": asyncio.subprocess.DEVNULL,
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.PIPE,
        "cwd": spec.cwd,
        "env": env,
    }
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        pipes["creationflags"] = flags
    else:
        pipes["start_new_session"] = True
    try:
        proc: asyncio.subprocess.Process | DirectProcess
        if how.via_comspec:
            proc = await asyncio.create_subprocess_shell(argv[0], **pipes)
        elif spec.cwd is None and direct_spawn_works():
            proc = spawn_direct([*scope, *argv], env)
        else:
            proc = await asyncio.create_subprocess_exec(*scope, *argv, **pipes)
    except BaseException:
        remove_script(script)
        raise
    return Spawned(proc, script, how.output_codepage)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pgid: int, sig: int) -> None:
    if sys.platform != "win32":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _gone(proc: psutil.Process) -> bool:
    # A zombie is dead for our purposes: it holds no resources and ignores signals. Polling
    # (rather than psutil.wait_procs) also avoids reaping our direct child behind asyncio's back.
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not _gone(p)]
    return alive


def kill_tree_sync(pid: int, grace: float = KILL_GRACE_SEC) -> None:
    """SIGTERM the tree rooted at ``pid`` (its process group too), SIGKILL what survives.

    Blocking (it waits up to ``grace`` seconds); run it in a thread.
    """
    procs = _descendants(pid)
    with contextlib.suppress(psutil.Error):
        procs.insert(0, psutil.Process(pid))
    _signal_group(pid, signal.SIGTERM)  # start_new_session makes pid the group id
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    alive = _wait_gone(procs, grace)
    # Children may have forked while we waited: look again before the final blow.
    alive.extend(p for p in _descendants(pid) if p not in alive)
    if sys.platform != "win32":
        _signal_group(pid, signal.SIGKILL)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(alive, grace)


async def kill_tree(pid: int, grace: float = KILL_GRACE_SEC) -> None:
    await asyncio.to_thread(kill_tree_sync, pid, grace)
