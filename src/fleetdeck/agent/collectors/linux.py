"""Linux inventory: /etc/os-release, /proc/cpuinfo, DMI data in /sys, dpkg/rpm packages."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from fleetdeck.agent.collectors import common, software
from fleetdeck.agent.config import read_machine_id
from fleetdeck.protocol import messages as m

DMI_DIR = Path("/sys/class/dmi/id")


def read_text(path: str | Path) -> str:
    """File contents stripped, or "" when missing or unreadable (product_serial is root-only)."""
    with contextlib.suppress(OSError):
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    return ""


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def os_release() -> dict[str, str]:
    return parse_os_release(read_text("/etc/os-release") or read_text("/usr/lib/os-release"))


def cpu_model() -> str:
    for line in read_text("/proc/cpuinfo").splitlines():
        key, sep, value = line.partition(":")
        # x86 says "model name"; some ARM kernels only give "Model" or "Processor".
        if sep and key.strip() in ("model name", "Model", "Processor", "cpu model"):
            return value.strip()
    return ""


def linux_timezone() -> str:
    """IANA name (e.g. Europe/Berlin) from the /etc/localtime symlink or /etc/timezone."""
    with contextlib.suppress(OSError):
        target = os.readlink("/etc/localtime")
        marker = "zoneinfo/"
        if marker in target:
            return target.split(marker, 1)[1]
    return read_text("/etc/timezone") or common.timezone()


def collect() -> m.Inventory:
    inv = common.base_inventory()
    rel = os_release()
    inv.os = rel.get("NAME", "Linux")
    inv.os_version = rel.get("VERSION_ID", "")
    inv.os_family = "linux"
    inv.cpu_model = cpu_model() or inv.cpu_model
    inv.manufacturer = read_text(DMI_DIR / "sys_vendor")
    inv.model = read_text(DMI_DIR / "product_name")
    inv.serial = read_text(DMI_DIR / "product_serial")
    inv.bios_version = read_text(DMI_DIR / "bios_version")
    inv.machine_id = read_machine_id()
    inv.timezone = linux_timezone()
    inv.software = software.installed_packages()
    return inv
