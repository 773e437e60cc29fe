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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from fleetdeck.agent.decoding import oem_codepage
from fleetdeck.agent.shells import SCRIPT, Launch, launch
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

KILL_GRACE_SEC = 2.0
JOB_SCOPE_ENV = "FLEETDECK_AGENT_JOB_SCOPE"
JOB_SLICE = "fleetdeck-jobs.slice"


class Spawned(NamedTuple):
    proc: asyncio.subprocess.Process
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
        if how.via_comspec:
            proc = await asyncio.create_subprocess_shell(argv[0], **pipes)
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
