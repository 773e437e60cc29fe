"""Self-update: a release the server offers is downloaded, verified, tried, switched to, and
rolled back if it does not connect.

Layout in the state directory::

    versions/<version>/   an agent release, unpacked (the wheel's ``fleetdeck`` package)
    current -> versions/<version>   the release to run (absent: run the installed agent)
    update.json           the last update: version, previous target, state, error, boot attempts
    update-key            the server's Ed25519 release key (base64), pinned at enrollment

Steps (``Updater.apply``, while the old agent keeps running):

1. download ``/agent/v1/update/<version>`` (resumed with ``Range``), check its SHA-256 and the
   Ed25519 signature of ``release_statement(version, sha256)`` against the pinned key (a wrong
   key or a tampered file: nothing is installed, the error is reported);
2. unpack it into ``versions/<version>`` (side by side with the running version);
3. probe: the old agent closes its connection and runs the new one once with
   ``--probe-update``: it must connect and get a Welcome within ``probe_timeout`` s, else the old
   agent reconnects, reports the failure and never tries that version again;
4. write ``update.json`` (state ``pending``), switch ``current`` atomically (a new symlink
   renamed over the old one) and re-execute: the installed agent's ``boot`` then executes the
   version ``current`` names, which confirms (state ``done``) at its first Welcome.

``boot`` counts the starts of a pending version: one that was started ``MAX_BOOT_ATTEMPTS``
times without confirming (it crashes at start, and systemd restarts it) is rolled back: ``current``
goes back to the previous target, and the next connection reports ``rolled_back``.

Stdlib and msgspec only; the download, the ZIP and the signature code are imported when an
update runs, not by an idle agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from fleetdeck.agent import AGENT_VERSION
from fleetdeck.agent.config import atomic_write
from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

VERSIONS = "versions"
CURRENT = "current"
MARKER = "update.json"
KEY_FILE = "update-key"
MAX_BOOT_ATTEMPTS = 3
PROBE_TIMEOUT_SEC = 60.0
PROBE_ENV = "FLEETDECK_AGENT_UPDATE_PROBE_SEC"
BASE_ENV = "FLEETDECK_AGENT_BASE_PYTHONPATH"  # PYTHONPATH of the installed agent
BOOTED_ENV = "FLEETDECK_AGENT_BOOTED"  # set once ``boot`` chose the version to run
IDLE_WAIT_SEC = 600.0  # how long an update waits for running jobs before it goes ahead
_VERSION_OK = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-_")

# What the process was started with (main() records it): a restart runs the same command line.
ARGV: list[str] = []


class Marker(msgspec.Struct, omit_defaults=False):
    version: str
    previous: str = ""  # what ``current`` pointed at before ("": the installed agent)
    state: str = "pending"  # pending | done | failed | rolled_back
    error: str = ""
    attempts: int = 0
    at: float = 0.0
    reported: bool = False
    failed: list[str] = msgspec.field(default_factory=list)  # versions never to try again


def valid_version(version: str) -> bool:
    return 0 < len(version) <= 50 and set(version) <= _VERSION_OK and version[0] not in ".-_+"


def read_marker(state_dir: Path) -> Marker | None:
    try:
        return msgspec.json.decode((state_dir / MARKER).read_bytes(), type=Marker)
    except (OSError, ValueError):
        return None


def write_marker(state_dir: Path, marker: Marker) -> None:
    atomic_write(state_dir / MARKER, msgspec.json.encode(marker) + b"\n")


def _target(state_dir: Path) -> str:
    """What ``current`` points at (relative, e.g. ``versions/1.2``), or ""."""
    try:
        return os.readlink(state_dir / CURRENT)
    except OSError:
        return ""


def switch(state_dir: Path, target: str) -> None:
    """Point ``current`` at ``target`` (relative to the state dir) atomically; "" removes it."""
    link = state_dir / CURRENT
    if not target:
        link.unlink(missing_ok=True)
        return
    tmp = state_dir / (CURRENT + ".new")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _base_pythonpath() -> str:
    return os.environ.get(BASE_ENV, os.environ.get("PYTHONPATH", ""))


def _exec(pythonpath: str, booted: bool) -> None:
    env = dict(os.environ)
    base = _base_pythonpath()
    env[BASE_ENV] = base
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, base) if p)
    if booted:
        env[BOOTED_ENV] = "1"
    else:
        env.pop(BOOTED_ENV, None)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "fleetdeck.agent", *ARGV], env)  # noqa: S606


def rollback(state_dir: Path, marker: Marker, error: str) -> None:
    log.error("agent update to %s rolled back: %s", marker.version, error)
    switch(state_dir, marker.previous)
    marker.state, marker.error, marker.reported = "rolled_back", error, False
    if marker.version not in marker.failed:
        marker.failed.append(marker.version)
    write_marker(state_dir, marker)


def boot(state_dir: Path) -> None:
    """At start: run the version ``current`` names (re-executing into it), unless this process
    was started that way already; roll back a pending version that keeps failing to start."""
    if os.environ.get(BOOTED_ENV):
        return
    marker = read_marker(state_dir)
    if marker is not None and marker.state == "pending":
        marker.attempts += 1
        if marker.attempts > MAX_BOOT_ATTEMPTS:
            rollback(
                state_dir,
                marker,
                f"version {marker.version} started {MAX_BOOT_ATTEMPTS} times without connecting",
            )
        else:
            write_marker(state_dir, marker)
    target = _target(state_dir)
    if target and (state_dir / target / "fleetdeck" / "agent" / "main.py").is_file():
        _exec(str((state_dir / target).resolve()), booted=True)


def restart() -> None:
    """Start again as the installed agent, whose ``boot`` picks the version to run."""
    log.info("restarting to run the updated agent")
    _exec("", booted=False)


def pinned_key(state_dir: Path) -> str:
    with contextlib.suppress(OSError):
        return (state_dir / KEY_FILE).read_text().strip()
    return ""


def pin_key(state_dir: Path, key: str) -> None:
    """Pin the server's release key: once, at enrollment (or at the first Welcome that names
    one, for agents enrolled before the server had it). A different key later is refused."""
    if key and not pinned_key(state_dir):
        atomic_write(state_dir / KEY_FILE, key.encode() + b"\n")
        log.info("pinned the server's agent release key")


class UpdateFailed(Exception):
    """``retry``: tried again at the next offer (a download that failed); otherwise the version
    is never tried again on this computer (a bad signature, a wheel that is none, a failed probe)."""

    def __init__(self, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


class Updater:
    """One per agent: reacts to the Welcome's offer; ``agent`` is the running :class:`Agent`."""

    def __init__(
        self,
        state_dir: Path,
        send: Callable[[m.Message], Awaitable[None]],
        fetch: Callable[[str, Path, str, int], None],
        hold: Callable[[], Awaitable[None]],
        resume: Callable[[], None],
        finish: Callable[[], None],
        idle: Callable[[], bool],
    ) -> None:
        self.dir = state_dir
        self._send = send
        self._fetch = fetch  # (path, dest, sha256, size), blocking: the payload downloader
        self._hold = hold  # closes the connection and keeps the agent from reconnecting
        self._resume = resume
        self._finish = finish  # stop the agent for the restart
        self._idle = idle
        self.task: asyncio.Task[None] | None = None
        self.probe_timeout = float(os.environ.get(PROBE_ENV) or PROBE_TIMEOUT_SEC)

    async def welcomed(self, welcome: m.Welcome) -> None:
        """After each Welcome: pin the key, confirm a pending update, report the last outcome,
        and start the offered update if there is one to start."""
        pin_key(self.dir, welcome.update_key)
        marker = read_marker(self.dir)
        if marker is not None:
            if marker.state == "pending" and marker.version == AGENT_VERSION:
                marker.state, marker.reported = "done", False
                write_marker(self.dir, marker)
                log.info("agent update to %s confirmed", AGENT_VERSION)
                self._prune(marker)
            if not marker.reported and marker.state != "pending":
                state: m.UpdateState = "failed"
                if marker.state == "done":
                    state = "done"
                elif marker.state == "rolled_back":
                    state = "rolled_back"
                await self._report(marker.version, state, marker.error)
                marker.reported = True
                write_marker(self.dir, marker)
        if welcome.update is not None:
            self.offered(welcome.update)

    def offered(self, offer: m.UpdateOffer) -> bool:
        """Start updating to ``offer`` unless it runs already, is under way, or failed here."""
        if offer.version == AGENT_VERSION or (self.task is not None and not self.task.done()):
            return False
        marker = read_marker(self.dir)
        if marker is not None and offer.version in marker.failed:
            return False
        self.task = asyncio.create_task(self._run(offer))
        return True

    def request(self, body: dict[str, object]) -> dict[str, object]:
        """The server's ``update`` request: a release was rolled out while this agent was connected."""
        offer = msgspec.convert(body, m.UpdateOffer)
        return {"running": AGENT_VERSION, "updating": self.offered(offer)}

    def _prune(self, marker: Marker) -> None:
        """Keep the running release and the one before it; remove older ones."""
        keep = {Path(_target(self.dir)).name, Path(marker.previous).name}
        with contextlib.suppress(OSError):
            for entry in (self.dir / VERSIONS).iterdir():
                if entry.is_dir() and entry.name not in keep and not entry.name.startswith("."):
                    shutil.rmtree(entry, ignore_errors=True)

    async def _report(self, version: str, state: m.UpdateState, error: str = "") -> None:
        await self._send(
            m.UpdateReport(version=version, state=state, error=error[:500], running=AGENT_VERSION)
        )

    async def _run(self, offer: m.UpdateOffer) -> None:
        try:
            await self.apply(offer)
        except UpdateFailed as exc:
            log.error("agent update to %s failed: %s", offer.version, exc)
            marker = read_marker(self.dir) or Marker(version=offer.version)
            marker.version, marker.state, marker.error, marker.reported = (
                offer.version,
                "failed",
                str(exc),
                True,
            )
            marker.at = time.time()
            if offer.version not in marker.failed and not exc.retry:
                marker.failed.append(offer.version)
            write_marker(self.dir, marker)
            await self._report(offer.version, "failed", str(exc))
        except Exception:  # a daemon survives its own bugs; the update is tried again next time
            log.exception("agent update to %s failed", offer.version)

    async def apply(self, offer: m.UpdateOffer) -> None:
        if not valid_version(offer.version):
            raise UpdateFailed(f"invalid version {offer.version!r}")
        key = pinned_key(self.dir)
        if not key:
            raise UpdateFailed("no release key pinned; cannot verify the release")
        versions = self.dir / VERSIONS
        versions.mkdir(parents=True, exist_ok=True, mode=0o700)
        download = versions / f".{offer.version}.whl"
        await self._report(offer.version, "downloading")
        from fleetdeck.agent.payload import PayloadError

        try:
            await asyncio.to_thread(self._fetch, offer.version, download, offer.sha256, offer.size)
        except PayloadError as exc:
            raise UpdateFailed(f"download: {exc}", retry="checksum" not in str(exc)) from exc
        try:
            await asyncio.to_thread(_check_signature, key, offer)
            await self._report(offer.version, "installing")
            target = await asyncio.to_thread(_install, versions, download, offer.version)
        finally:
            download.unlink(missing_ok=True)
        deadline = time.monotonic() + IDLE_WAIT_SEC
        while not self._idle() and time.monotonic() < deadline:  # noqa: ASYNC110 - polled, rarely
            await asyncio.sleep(1.0)
        await self._report(offer.version, "probing")
        await self._hold()
        try:
            error = await self._probe(target)
        except BaseException:
            self._resume()
            raise
        if error:
            self._resume()
            shutil.rmtree(target, ignore_errors=True)
            # ``current`` was never switched: the running version simply stays
            marker = read_marker(self.dir) or Marker(version=offer.version)
            marker.version, marker.previous, marker.at = offer.version, _target(self.dir), time.time()
            marker.state, marker.error, marker.reported = (
                "rolled_back",
                f"the new agent did not connect: {error}",
                False,
            )
            if offer.version not in marker.failed:
                marker.failed.append(offer.version)
            write_marker(self.dir, marker)
            log.error("agent update to %s rolled back: %s", offer.version, marker.error)
            return  # reported after the next Welcome
        previous = _target(self.dir)
        old = read_marker(self.dir)
        marker = Marker(
            version=offer.version,
            previous=previous,
            at=time.time(),
            failed=old.failed if old is not None else [],
        )
        write_marker(self.dir, marker)
        switch(self.dir, f"{VERSIONS}/{offer.version}")
        log.info("agent %s installed and connected once; restarting into it", offer.version)
        self._finish()

    async def _probe(self, target: Path) -> str:
        """Run the new version once: "" if it connected, else why not."""
        env = dict(os.environ)
        base = _base_pythonpath()
        env[BASE_ENV] = base
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), base) if p)
        env[BOOTED_ENV] = "1"
        argv = [*ARGV, "--state-dir", str(self.dir), "--probe-update", str(self.probe_timeout)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fleetdeck.agent",
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self.probe_timeout + 5):
                _out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return f"no connection within {self.probe_timeout:g} s"
        if proc.returncode == 0:
            return ""
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        return f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}"[:400]


def _check_signature(key: str, offer: m.UpdateOffer) -> None:
    import base64
    import binascii

    from fleetdeck.agent.ed25519 import verify

    try:
        public, signature = base64.b64decode(key, validate=True), base64.b64decode(offer.signature)
    except (binascii.Error, ValueError):
        raise UpdateFailed("the release signature or the pinned key is not base64") from None
    if not verify(public, signature, m.release_statement(offer.version, offer.sha256)):
        raise UpdateFailed("the release signature does not verify with the pinned release key")


def _install(versions: Path, wheel: Path, version: str) -> Path:
    """Unpack the wheel beside the running version; returns its directory."""
    from fleetdeck.agent.payload import PayloadError, unpack

    tmp = versions / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        unpack(wheel, tmp)
    except PayloadError as exc:
        raise UpdateFailed(f"unpacking: {exc}") from exc
    dist_info = tmp / f"fleetdeck_agent-{version}.dist-info"
    if not (tmp / "fleetdeck" / "agent" / "main.py").is_file() or not dist_info.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        raise UpdateFailed(f"not a fleetdeck-agent {version} wheel")
    target = versions / version
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


async def probe(url: str, uid: str, key: str, ca_pem: str | None, fingerprint: str | None) -> int:
    """``--probe-update``: connect once, say hello, wait for the Welcome; exit code 0 if it came."""
    from fleetdeck.agent.transport import check_pin, open_connection
    from fleetdeck.protocol.session import AgentSession

    async with open_connection(url, ca_pem=ca_pem) as ws:
        check_pin(url, ws, None if ca_pem else fingerprint)
        hello = m.Hello(uid=uid, key=key, agent_version=AGENT_VERSION, features=[m.FEATURE_UPDATE])
        await ws.send(m.encode(hello), text=True)
        welcome = AgentSession().receive(await ws.recv())
        await ws.close()
    if isinstance(welcome, m.Welcome):
        return 0
    print(f"error: the server answered {welcome!r}", file=sys.stderr)
    return 1
