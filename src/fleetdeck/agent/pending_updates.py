"""``UPDATES_STATUS``: this machine's pending package updates, as rportd's ``updates_status``.

Debian and Ubuntu: ``apt-get -s upgrade`` (a simulation, nothing is installed), one "Inst" line
per package, a security update when its origin names a "-security" suite. The RHEL family:
``dnf -q check-update`` (exit 100 when there are updates), one line per package. Anything else:
"not supported". The package manager gets at most ``TIMEOUT`` seconds; the caller runs this off
the event loop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

TIMEOUT = 60.0
MAX_SUMMARIES = 1000  # bounded reply, however many packages are pending
_REBOOT_FILE = "/var/run/reboot-required"


def _status(summaries: list[dict[str, Any]], error: str = "", hint: str = "") -> dict[str, Any]:
    return {
        "refreshed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "updates_available": len(summaries),
        "security_updates_available": sum(1 for s in summaries if s["is_security_update"]),
        "update_summaries": summaries[:MAX_SUMMARIES],
        "reboot_pending": os.path.exists(_REBOOT_FILE),
        "error": error,
        "hint": hint,
    }


def _summary(title: str, description: str, security: bool) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "reboot_required": False,
        "is_security_update": security,
    }


def parse_apt(output: str) -> list[dict[str, Any]]:
    """``Inst pkg [old] (new origin [arch])`` lines of ``apt-get -s upgrade``."""
    found = []
    for line in output.splitlines():
        if not line.startswith("Inst "):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        paren = line[line.find("(") + 1 : line.rfind(")")] if "(" in line else ""
        origin = paren.split(" ", 1)[1] if " " in paren else ""
        found.append(_summary(parts[1], paren, "-security" in origin))
    return found


def parse_dnf(output: str) -> list[dict[str, Any]]:
    """``name.arch  version  repo`` lines of ``dnf -q check-update`` (up to "Obsoleting")."""
    found = []
    for line in output.splitlines():
        if line.startswith("Obsoleting"):
            break
        parts = line.split()
        if len(parts) != 3 or "." not in parts[0]:
            continue
        found.append(_summary(parts[0], f"{parts[1]} {parts[2]}", "security" in parts[2].lower()))
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT, env=env, stdin=subprocess.DEVNULL, check=False
    )


def updates_status(_body: dict[str, Any]) -> dict[str, Any]:
    try:
        if shutil.which("apt-get"):
            done = _run(["apt-get", "-s", "-q", "upgrade"])
            if done.returncode != 0:
                return _status([], error=f"apt-get exited with {done.returncode}: {done.stderr[-500:]}")
            return _status(parse_apt(done.stdout))
        if shutil.which("dnf"):
            done = _run(["dnf", "-q", "check-update"])
            if done.returncode not in (0, 100):
                return _status([], error=f"dnf exited with {done.returncode}: {done.stderr[-500:]}")
            return _status(parse_dnf(done.stdout) if done.returncode == 100 else [])
    except subprocess.TimeoutExpired:
        return _status([], error=f"the package manager did not finish within {TIMEOUT:.0f} s")
    return _status([], error="not supported", hint="no apt-get or dnf on this system")
