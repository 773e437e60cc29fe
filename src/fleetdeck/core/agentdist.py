"""The agent's own distribution: the ``fleetdeck-agent`` wheel and the wheels it depends on.

The agent needs only ``fleetdeck.agent``, ``fleetdeck.protocol`` and three libraries (msgspec,
psutil and wsproto, with wsproto's h11); the server's stack
(FastAPI, SQLAlchemy, pydantic, ...) has no business on a managed computer. So the agent
wheel is built here, from the package's files, without importing them (the server never
imports the agent) and without a build backend (a server builds it at run time for
``GET /install/agent.sh``, offline). A wheel is a ZIP with a
``.dist-info`` directory; writing one takes a page of code.

The dependency wheels come from ``wheelhouse`` (wheels an admin dropped there, e.g. for other
platforms: ``pip download --only-binary=:all: --platform ... msgspec psutil wsproto``), and
for the server's own platform from the server's installed copies, re-packed: every installed
file is listed in its ``RECORD``, so nothing has to be fetched from the internet, and a managed
computer that runs the same Python and architecture as the server installs them as they are.

Wheels are written reproducibly (fixed timestamps, sorted entries): the same sources give the
same SHA-256, which the install script checks.

    python -m fleetdeck.core.agentdist OUT_DIR [--with-dependencies]
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import re
import threading
import zipfile
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from fleetdeck import __version__

AGENT_PROJECT = "fleetdeck-agent"
# The agent's run-time dependencies; tests/unit/test_agentdist.py checks these ranges against
# pyproject.toml, so the agent wheel never promises more than the server was tested with.
AGENT_REQUIRES = ("msgspec>=0.18,<1", "psutil>=5.9,<8", "wsproto>=1.2,<2")
# What those depend on in turn (wsproto needs h11): re-packed and served too, because an agent
# installs offline from its server and nothing would fetch them (pure Python, so one wheel fits
# every computer). tests/unit/core/test_agentdist.py checks that the list is complete.
AGENT_INDIRECT = ("h11",)
AGENT_PACKAGES = ("agent", "protocol")  # under fleetdeck/
AGENT_SCRIPT = "fleetdeck-agent = fleetdeck.agent.main:main"
# 1980-01-01, the earliest time a ZIP can hold: reproducible wheels
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_SUFFIXES = (".pyc", ".pyo")
_GENERATED = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")


@dataclass(frozen=True, slots=True)
class DistFile:
    """One wheel the install script may download."""

    name: str
    path: Path
    project: str
    sha256: str
    size: int


def _normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _write_wheel(path: Path, entries: dict[str, bytes], dist_info: str) -> Path:
    """Write ``entries`` (archive name -> bytes) plus a RECORD; reproducible."""
    rows = [(name, _record_hash(data), str(len(data))) for name, data in sorted(entries.items())]
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    writer.writerows([*rows, (f"{dist_info}/RECORD", "", "")])
    entries = {**entries, f"{dist_info}/RECORD": record.getvalue().encode()}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries, key=lambda n: (n.startswith(dist_info), n)):  # dist-info last
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name])
    tmp.replace(path)
    return path


def package_root() -> Path:
    """The directory of the installed (or checked-out) ``fleetdeck`` package, found without
    importing ``fleetdeck.agent``."""
    spec = find_spec("fleetdeck")
    assert spec is not None
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def agent_sources(root: Path | None = None) -> dict[str, bytes]:
    """The agent wheel's package files: ``fleetdeck/agent/**`` and ``fleetdeck/protocol/**``.

    ``fleetdeck/__init__.py`` is written anew: the server's says what the server is, and the
    agent's version is the server's version it was built from.
    """
    root = root or package_root()
    init = (
        '"""fleetdeck: the agent-only distribution (fleetdeck-agent); the server is `fleetdeck`."""\n\n'
        f'__version__ = "{__version__}"\n'
    )
    entries = {"fleetdeck/__init__.py": init.encode()}
    for sub in AGENT_PACKAGES:
        for file in sorted((root / sub).rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts and file.suffix not in _SKIP_SUFFIXES:
                entries[f"fleetdeck/{file.relative_to(root).as_posix()}"] = file.read_bytes()
    return entries


def build_agent_wheel(out_dir: Path, version: str = __version__, root: Path | None = None) -> Path:
    """Build ``fleetdeck_agent-VERSION-py3-none-any.whl`` into ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dist_info = f"{_normalize(AGENT_PROJECT)}-{version}.dist-info"
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {AGENT_PROJECT}",
        f"Version: {version}",
        "Summary: The fleetdeck endpoint agent, without the server's dependencies.",
        "License: MIT",
        "Requires-Python: >=3.11",
        *(f"Requires-Dist: {req}" for req in AGENT_REQUIRES),
    ]
    wheel = [
        "Wheel-Version: 1.0",
        "Generator: fleetdeck.core.agentdist",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
    ]
    entries = agent_sources(root)
    entries[f"{dist_info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    entries[f"{dist_info}/WHEEL"] = ("\n".join(wheel) + "\n").encode()
    entries[f"{dist_info}/entry_points.txt"] = f"[console_scripts]\n{AGENT_SCRIPT}\n".encode()
    name = f"{_normalize(AGENT_PROJECT)}-{version}-py3-none-any.whl"
    return _write_wheel(out_dir / name, entries, dist_info)


def repack_installed(project: str, out_dir: Path) -> Path:
    """Re-pack an installed distribution as the wheel it was installed from (files by RECORD,
    tags from its ``WHEEL`` file). Scripts installed outside site-packages are left out: the
    agent needs none of its dependencies' commands."""
    dist = metadata.distribution(project)
    files = dist.files or []
    info_dir = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")), None)
    if info_dir is None:
        raise LookupError(f"{project}: installed without a .dist-info RECORD; cannot re-pack it")
    wheel_meta = (dist.read_text("WHEEL") or "").splitlines()
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta if line.startswith("Tag:")]
    if not tags:
        raise LookupError(f"{project}: its WHEEL file names no tag; cannot re-pack it")
    entries: dict[str, bytes] = {}
    for f in files:
        name = f.as_posix()
        if name.startswith("..") or "__pycache__" in f.parts or name.endswith(_SKIP_SUFFIXES):
            continue
        if f.parts[0] == info_dir and f.name in _GENERATED:
            continue
        entries[name] = Path(str(f.locate())).read_bytes()
    # one file name for all tags: py-abi-plat with dotted alternatives (PEP 425 compressed sets)
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    tag = "-".join(".".join(p) for p in parts)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{_normalize(dist.metadata['Name'])}-{dist.version}-{tag}.whl"
    return _write_wheel(out_dir / name, entries, info_dir)


def _describe(path: Path) -> DistFile:
    data = path.read_bytes()
    project = path.name.split("-", 1)[0].replace("_", "-").lower()
    return DistFile(path.name, path, project, hashlib.sha256(data).hexdigest(), len(data))


def dependency_names() -> list[str]:
    return [re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0] for req in AGENT_REQUIRES]


def bundled_names() -> list[str]:
    """Every project whose wheel goes with the agent's: its requirements and theirs."""
    return [*dependency_names(), *AGENT_INDIRECT]


class AgentDist:
    """The wheels ``GET /install/...`` serves: built once per process, on first use.

    ``cache_dir`` receives the agent wheel and the re-packed dependencies; ``wheelhouse`` (if it
    exists) adds wheels for other platforms. The install script picks, per project, the wheel
    that fits the computer's Python.
    """

    def __init__(self, cache_dir: Path, wheelhouse: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self.wheelhouse = wheelhouse
        self._files: dict[str, DistFile] | None = None
        self._lock = threading.Lock()

    def files(self) -> dict[str, DistFile]:
        """File name -> DistFile; blocking (builds on first call), so call it in a thread."""
        with self._lock:
            if self._files is None:
                self._files = self._build()
            return self._files

    def _build(self) -> dict[str, DistFile]:
        built = [build_agent_wheel(self.cache_dir)]
        have = set()
        if self.wheelhouse is not None and self.wheelhouse.is_dir():
            extra = sorted(self.wheelhouse.glob("*.whl"))
            built += extra
            have = {p.name for p in extra}
        for project in bundled_names():
            wheel = repack_installed(project, self.cache_dir)
            if wheel.name not in have:
                built.append(wheel)
        return {d.name: d for d in map(_describe, built)}


_UNIT = """\
# fleetdeck agent: connects this computer to its fleetdeck server.
# Enroll once (the install script from GET /install/agent.sh does it), then start the service:
#   fleetdeck-agent --server https://fleet.example:8443 --enroll-token TOKEN --enroll-only
#   systemctl enable --now fleetdeck-agent
#
# The agent exists to run administrators' commands as root (install packages, edit /etc,
# restart services), so the usual sandboxing (ProtectSystem=, NoNewPrivileges=, PrivateTmp=...)
# would break those commands and is deliberately not used.

[Unit]
Description=fleetdeck endpoint agent
Documentation=https://github.com/fleetdeck/fleetdeck
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=root
Environment=FLEETDECK_AGENT_STATE_DIR=@STATE_DIR@
# Jobs run in transient scopes of fleetdeck-jobs.slice (systemd-run --scope), so the memory
# limits below apply to the agent alone, not to the commands it runs (docs/operations.md).
Environment=FLEETDECK_AGENT_JOB_SCOPE=auto
ExecStart=@EXEC_START@
Restart=always
RestartSec=5
# Exit 3: the server rejected this agent's credentials; restarting cannot help.
RestartPreventExitStatus=3
# The agent handles SIGTERM itself: kills running job trees, records them as failed, closes
# the websocket cleanly. KillMode=mixed then SIGKILLs whatever is left in the cgroup.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=20
MemoryMax=64M
MemoryHigh=48M
# Under memory pressure the kernel should kill something else before the management agent.
OOMScoreAdjust=-500
LockPersonality=yes
RestrictRealtime=yes
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def agent_unit(exec_start: str, state_dir: str = "/var/lib/fleetdeck-agent") -> str:
    """The agent's systemd unit (the install script's and the Debian package's)."""
    return _UNIT.replace("@EXEC_START@", exec_start).replace("@STATE_DIR@", state_dir)


def install_line(server: str, token: str, pubkey_pin: str | None = None) -> str:
    """The one line an admin runs on a computer to install and enroll its agent.

    With TLS, curl checks the server's public key against ``pubkey_pin`` (``sha256//BASE64``)
    instead of a CA (the server's certificate is usually its own); the script it downloads then
    pins the certificate for everything after.
    """
    url = f"{server.rstrip('/')}/install/agent.sh?token={token}"
    pin = f"--pinnedpubkey '{pubkey_pin}' -k " if pubkey_pin and server.startswith("https") else ""
    return f"curl -fsSL {pin}'{url}' | sudo sh"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fleetdeck.core.agentdist", description=__doc__)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument(
        "--with-dependencies",
        action="store_true",
        help="also re-pack this Python's msgspec, psutil, wsproto and h11 as wheels (offline installs)",
    )
    args = ap.parse_args(argv)
    print(build_agent_wheel(args.out_dir))
    if args.with_dependencies:
        for project in bundled_names():
            print(repack_installed(project, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
