#!/usr/bin/env python
"""Build the agent's Debian package (``make agent-deb``): ``dist/fleetdeck-agent_VERSION_ARCH.deb``.

    .venv/bin/python tools/agent_deb.py [OUT_DIR]

What it holds: the agent and its dependencies unpacked into ``/opt/fleetdeck-agent/lib``
(the ``fleetdeck-agent`` wheel and this Python's msgspec, psutil, wsproto and h11, re-packed by
``fleetdeck.core.agentdist``: so the package is for this Python's minor version and this
machine's architecture, which ``Depends``/``Architecture`` say), ``/usr/bin/fleetdeck-agent``,
and the systemd unit ``fleetdeck-agent.service`` (jobs in their own scopes, so its MemoryMax is
the agent's alone). ``postinst`` makes the state directory ``/var/lib/fleetdeck-agent`` (0700)
and starts the service once the agent is enrolled; nothing of the server is in it.

The launcher finds ``lib`` relative to itself, so the package also runs unpacked into any
directory (``dpkg -x``), which is how the test starts it without root.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fleetdeck import __version__
from fleetdeck.core.agentdist import agent_unit, build_agent_wheel, bundled_names, repack_installed

PREFIX = "opt/fleetdeck-agent"
STATE_DIR = "/var/lib/fleetdeck-agent"
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386"}

LAUNCHER = f"""#!/bin/sh
# fleetdeck agent (Debian package fleetdeck-agent). The library directory is found relative to
# this script, so an unpacked copy (dpkg -x) runs too.
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
PYTHONPATH="$ROOT/{PREFIX}/lib" exec "${{FLEETDECK_PYTHON:-/usr/bin/python3}}" -m fleetdeck.agent "$@"
"""

POSTINST = f"""#!/bin/sh
set -e
if [ "$1" = configure ]; then
  mkdir -p {STATE_DIR}
  chmod 0700 {STATE_DIR}
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    if [ -f {STATE_DIR}/state.json ]; then
      systemctl enable fleetdeck-agent >/dev/null 2>&1 || true
      systemctl restart fleetdeck-agent || true
    else
      echo "fleetdeck-agent: enroll it, then start it:" >&2
      echo "  fleetdeck-agent --server URL --enroll-token TOKEN --enroll-only" >&2
      echo "  systemctl enable --now fleetdeck-agent" >&2
    fi
  fi
fi
exit 0
"""

PRERM = """#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop fleetdeck-agent >/dev/null 2>&1 || true
  systemctl disable fleetdeck-agent >/dev/null 2>&1 || true
fi
exit 0
"""

POSTRM = f"""#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf {STATE_DIR}
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
"""


def build(out_dir: Path) -> Path:
    if shutil.which("dpkg-deb") is None:
        raise SystemExit("dpkg-deb not found (apt-get install dpkg)")
    arch = ARCH.get(platform.machine(), platform.machine())
    minor = sys.version_info[1]
    with tempfile.TemporaryDirectory(prefix="fleetdeck-deb-") as tmp:
        wheels, root = Path(tmp) / "wheels", Path(tmp) / "root"
        built = [build_agent_wheel(wheels)] + [repack_installed(p, wheels) for p in bundled_names()]
        lib = root / PREFIX / "lib"
        for wheel in built:
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(lib)
        (root / "usr/bin").mkdir(parents=True)
        launcher = root / "usr/bin/fleetdeck-agent"
        launcher.write_text(LAUNCHER)
        launcher.chmod(0o755)
        units = root / "lib/systemd/system"
        units.mkdir(parents=True)
        (units / "fleetdeck-agent.service").write_text(
            agent_unit(f"/usr/bin/fleetdeck-agent --state-dir {STATE_DIR}", STATE_DIR)
        )
        size_kib = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) // 1024
        debian = root / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(
            "\n".join(
                [
                    "Package: fleetdeck-agent",
                    f"Version: {__version__}",
                    f"Architecture: {arch}",
                    "Maintainer: fleetdeck <fleetdeck@localhost>",
                    f"Depends: python3 (>= 3.{minor}), python3 (<< 3.{minor + 1})",
                    f"Installed-Size: {size_kib}",
                    "Section: admin",
                    "Priority: optional",
                    "Description: fleetdeck endpoint agent",
                    " Connects this computer to its fleetdeck server: inventory, jobs, packages.",
                    " Only the agent and its libraries (msgspec, psutil, wsproto, h11); not the server.",
                    "",
                ]
            )
        )
        for name, text in (("postinst", POSTINST), ("prerm", PRERM), ("postrm", POSTRM)):
            (debian / name).write_text(text)
            (debian / name).chmod(0o755)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"fleetdeck-agent_{__version__}_{arch}.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return deb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", type=Path, default=Path("dist"))
    print(build(ap.parse_args().out_dir))


if __name__ == "__main__":
    main()
