"""Installed packages from the system package manager (dpkg, else rpm).

Runs the query tool with a timeout and ``LC_ALL=C``; a missing tool or a failure gives an
empty list rather than an error, because a partial inventory is more useful than none.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

from fleetdeck.protocol import messages as m

log = logging.getLogger(__name__)

QUERY_TIMEOUT_SEC = 60.0
DPKG_FORMAT = r"${db:Status-Abbrev}\t${Package}\t${Version}\t${binary:Summary}\n"
RPM_FORMAT = r"%{NAME}\t%{VERSION}-%{RELEASE}\t%{SUMMARY}\n"


def _run(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=QUERY_TIMEOUT_SEC,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("software inventory: %s failed: %s", argv[0], exc)
        return None
    if proc.returncode != 0:
        log.warning("software inventory: %s exited %s", argv[0], proc.returncode)
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def parse_dpkg(output: str) -> list[m.Software]:
    """Keep packages whose current state is installed (status ``?i?``; not ``rc`` leftovers)."""
    found: dict[tuple[str, str], m.Software] = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or len(fields[0]) < 2 or fields[0][1] != "i":
            continue
        name, version = fields[1], fields[2]
        desc = fields[3] if len(fields) > 3 else ""
        found.setdefault((name, version), m.Software(name=name, version=version, description=desc))
    return [found[k] for k in sorted(found)]


def parse_rpm(output: str) -> list[m.Software]:
    found: dict[tuple[str, str], m.Software] = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if not fields[0] or fields[0] == "gpg-pubkey":
            continue
        version = fields[1] if len(fields) > 1 else ""
        desc = fields[2] if len(fields) > 2 else ""
        found.setdefault((fields[0], version), m.Software(name=fields[0], version=version, description=desc))
    return [found[k] for k in sorted(found)]


def installed_packages() -> list[m.Software]:
    dpkg = shutil.which("dpkg-query")
    if dpkg:
        out = _run([dpkg, "-W", "-f", DPKG_FORMAT])
        return parse_dpkg(out) if out is not None else []
    rpm = shutil.which("rpm")
    if rpm:
        out = _run([rpm, "-qa", "--qf", RPM_FORMAT])
        return parse_rpm(out) if out is not None else []
    return []
