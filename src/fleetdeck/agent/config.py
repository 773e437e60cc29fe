"""State directory handling: credentials, the pinned server certificate, durable writes.

Everything the agent must remember across restarts lives in one directory (default
``/var/lib/fleetdeck-agent``). Files are written atomically (temp file, fsync, ``os.replace``,
fsync of the directory) because a half-written ``state.json`` would lose the agent's identity
and a half-written journal could make a job run twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec

DEFAULT_STATE_DIR = "/var/lib/fleetdeck-agent"
STATE_ENV = "FLEETDECK_AGENT_STATE_DIR"
WS_PATH = "/agent/v1/ws"


class AgentState(msgspec.Struct, omit_defaults=False):
    """Contents of ``state.json``: who this agent is and which server it belongs to."""

    server: str
    uid: str
    key: str
    computer_id: int
    fingerprint: str | None = None
    # The server's CA (PEM), pinned at enrollment when the server runs its own (``--tls auto``):
    # then any certificate that CA signed for a server is accepted (a renewed one too) and
    # ``fingerprint`` is no longer compared; any other is refused before the key is sent.
    ca_pem: str | None = None
    # Digest of the last inventory the server is known to hold; sent in Hello so that an
    # agent restart does not make every agent resend its full inventory.
    inventory_digest: str = ""
    # The server's agent release key (base64 Ed25519), as Enrolled named it; pinned in the
    # ``update-key`` file (``agent.update``), which is what updates are checked against.
    update_key: str = ""


def default_state_dir() -> str:
    return os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR


def server_to_ws_url(server: str) -> str:
    """Turn the admin-facing ``http(s)://host[:port][/prefix]`` into the agent websocket URL.

    ``ws://`` and ``wss://`` URLs are taken as they are, so a reverse-proxied endpoint with an
    unusual path can still be reached.
    """
    parts = urlsplit(server.strip())
    scheme = parts.scheme.lower()
    if scheme in ("ws", "wss"):
        return server.strip()
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"server URL must be http(s)://HOST[:PORT], got {server!r}")
    ws_scheme = "wss" if scheme == "https" else "ws"
    return urlunsplit((ws_scheme, parts.netloc, parts.path.rstrip("/") + WS_PATH, "", ""))


def normalize_fingerprint(value: str) -> str:
    """Accept ``sha256:HEX``, bare hex, or openssl's colon-separated form; return ``sha256:hex``."""
    text = value.strip().lower()
    text = text.removeprefix("sha256:").removeprefix("sha256=")
    text = text.replace(":", "")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"not a SHA-256 fingerprint: {value!r}")
    return "sha256:" + text


def cert_fingerprint(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


def ensure_dir(path: Path) -> None:
    """Create the state dir with mode 0700: it holds the agent's secret key."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # e.g. a read-only bind mount managed by someone else
        os.chmod(path, 0o700)


def atomic_write(path: Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` so that readers see either the old or the new file, never a mix.

    ``sync=False`` skips the two fsyncs (file, directory): the new file survives the agent's
    process dying (it is in the kernel's page cache) but not a power loss or kernel crash until
    the kernel writes it back or :func:`sync_file` runs."""
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync:
        _fsync_dir(path.parent)


def sync_file(path: Path, data_too: bool = True) -> None:
    """fsync ``path`` and its directory: what :func:`atomic_write` with ``sync=False`` left out
    (``data_too=False``: only the directory, the file was fsynced before its rename)."""
    if data_too:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StateStore:
    """Reads and writes ``state.json`` in the state directory."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / "state.json"

    def load(self) -> AgentState | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return msgspec.json.decode(raw, type=AgentState)

    def save(self, state: AgentState) -> None:
        ensure_dir(self.dir)
        atomic_write(self.path, msgspec.json.format(msgspec.json.encode(state)) + b"\n")

    @property
    def attempt_path(self) -> Path:
        return self.dir / "enroll-attempt"

    def enroll_attempt(self) -> str:
        """This enrollment's attempt id, made and written to disk before the first try: a try
        whose answer was lost (a timeout under load, a cut connection) is retried with the same
        id, and the server hands back the same computer without using the token again."""
        try:
            kept = self.attempt_path.read_text().strip()
        except FileNotFoundError:
            kept = ""
        if kept:
            return kept
        attempt = secrets.token_hex(16)
        ensure_dir(self.dir)
        atomic_write(self.attempt_path, attempt.encode() + b"\n")
        return attempt

    def forget_enroll_attempt(self) -> None:
        """Once the credentials are saved: enrolling again later (state.json deleted) is a new
        attempt, so it makes a new computer instead of taking this one back."""
        self.attempt_path.unlink(missing_ok=True)


def read_machine_id(platform: str = sys.platform) -> str:
    """/etc/machine-id on Linux; Windows: MachineGuid; macOS: the hardware UUID (as the inventory
    says). Blocking (Windows and macOS run a tool): call it in a thread."""
    if platform == "win32":
        from fleetdeck.agent.collectors import windows

        return windows.machine_guid()
    if platform == "darwin":
        from fleetdeck.agent.collectors import darwin

        return darwin.platform_uuid()
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            value = Path(candidate).read_text(encoding="ascii", errors="replace").strip()
            if value:
                return value
    return ""


def read_hardware_uuid(platform: str = sys.platform) -> str:
    """The firmware (SMBIOS) UUID, which a hypervisor gives each clone anew; "" when unreadable
    (Linux lets only root read it; containers have none). Blocking: call it in a thread."""
    if platform == "win32":
        from fleetdeck.agent.collectors import windows

        return windows.smbios_uuid()
    if platform == "darwin":
        from fleetdeck.agent.collectors import darwin

        return darwin.platform_uuid()
    with contextlib.suppress(OSError):
        return Path("/sys/class/dmi/id/product_uuid").read_text(encoding="ascii", errors="replace").strip()
    return ""
