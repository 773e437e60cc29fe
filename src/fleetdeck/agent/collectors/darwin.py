"""macOS inventory: ``system_profiler``, ``sw_vers``, ``pkgutil`` and the /Applications bundles.

- Model, serial, boot ROM, CPU (Apple silicon chip or Intel CPU), hardware UUID (the machine
  id) and kernel: ``system_profiler SPHardwareDataType SPSoftwareDataType -json`` (macOS 10.15+).
- OS name and version: ``sw_vers`` (``system_profiler``'s "macOS 14.2.1 (23C71)" otherwise).
- Software: application bundles in /Applications (one folder level deep, Utilities included),
  read from ``Contents/Info.plist`` with plistlib (XML or binary), and installer receipts
  (``pkgutil --pkgs``, then ``pkgutil --pkg-info`` for each, within a budget of runs and time).
"""

from __future__ import annotations

import contextlib
import json
import platform
import plistlib
import time
from pathlib import Path
from typing import Any

from fleetdeck.agent.collectors import common
from fleetdeck.agent.collectors.tools import Runner, clean, run_tool, warn_once
from fleetdeck.agent.decoding import decode_tool_output
from fleetdeck.protocol import messages as m

APPLICATIONS = Path("/Applications")
IOREG = ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]
SYSTEM_PROFILER = ["system_profiler", "SPHardwareDataType", "SPSoftwareDataType", "-json"]
MAX_BUNDLES = 2000
MAX_PLIST_BYTES = 1024 * 1024
MAX_RECEIPTS = 1000
RECEIPTS_BUDGET_SEC = 60.0


def _first(data: dict[str, Any], section: str) -> dict[str, Any]:
    items = data.get(section)
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return {}


def parse_system_profiler(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hardware, software) overviews of ``system_profiler ... -json``; empty when unreadable."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        warn_once("darwin:sp-json", "inventory: system_profiler's output is not JSON (%.60r)", text)
        return {}, {}
    if not isinstance(data, dict):
        return {}, {}
    return _first(data, "SPHardwareDataType"), _first(data, "SPSoftwareDataType")


def parse_sw_vers(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def cpu_name(hw: dict[str, Any]) -> str:
    """ "Apple M1 Pro" (Apple silicon) or "Quad-Core Intel Core i7 @ 2.3 GHz" (Intel)."""
    chip = clean(hw.get("chip_type"))
    if chip:
        return chip
    cpu, speed = clean(hw.get("cpu_type")), clean(hw.get("current_processor_speed"))
    return f"{cpu} @ {speed}" if cpu and speed else cpu


def os_from_profiler(sw: dict[str, Any]) -> tuple[str, str]:
    """("macOS", "14.2.1") from "macOS 14.2.1 (23C71)"."""
    words = clean(sw.get("os_version")).split(" (")[0].split()
    if len(words) >= 2 and words[-1][:1].isdigit():
        return " ".join(words[:-1]), words[-1]
    return "", ""


def parse_pkg_info(text: str) -> dict[str, str]:
    """``pkgutil --pkg-info ID``: ``package-id: ...``, ``version: ...``, ``install-time: ...``."""
    return parse_sw_vers(text)


def receipts(run: Runner) -> list[m.Software]:
    out = run(["pkgutil", "--pkgs"])
    ids = [line.strip() for line in decode_tool_output(out).splitlines() if line.strip()] if out else []
    if len(ids) > MAX_RECEIPTS:
        warn_once("darwin:receipts", "inventory: %s package receipts, only %s read", len(ids), MAX_RECEIPTS)
    found: list[m.Software] = []
    deadline = time.monotonic() + RECEIPTS_BUDGET_SEC
    for pkg in ids[:MAX_RECEIPTS]:
        version = ""
        if time.monotonic() < deadline:
            info = run(["pkgutil", "--pkg-info", pkg])
            version = parse_pkg_info(decode_tool_output(info)).get("version", "") if info else ""
        found.append(m.Software(name=pkg, version=version, description="installer package receipt"))
    return found


def read_bundle(app: Path) -> m.Software | None:
    """The application a bundle is, from its Info.plist; None when that is missing or broken."""
    plist = app / "Contents" / "Info.plist"
    try:
        if plist.stat().st_size > MAX_PLIST_BYTES:
            return None
        info = plistlib.loads(plist.read_bytes())
    except FileNotFoundError:
        return None
    except Exception as exc:  # plistlib raises several types on broken files
        warn_once(f"darwin:plist:{app.name}", "inventory: %s: unreadable Info.plist (%s)", app, exc)
        return None
    if not isinstance(info, dict):
        return None
    name = next((str(info[k]).strip() for k in ("CFBundleDisplayName", "CFBundleName") if info.get(k)), "")
    version = str(info.get("CFBundleShortVersionString") or info.get("CFBundleVersion") or "").strip()
    return m.Software(
        name=name or app.stem, version=version, description=str(info.get("CFBundleIdentifier", ""))
    )


def bundles(root: Path) -> list[m.Software]:
    """``*.app`` in ``root`` and in its folders one level down (Utilities, "Microsoft Office")."""
    apps: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in sorted(root.iterdir()):
            if entry.suffix == ".app":
                apps.append(entry)
            elif entry.is_dir() and not entry.is_symlink():
                with contextlib.suppress(OSError):
                    apps.extend(sorted(p for p in entry.iterdir() if p.suffix == ".app"))
            if len(apps) >= MAX_BUNDLES:
                break
    return [s for s in map(read_bundle, apps[:MAX_BUNDLES]) if s is not None]


def apply(inv: m.Inventory, run: Runner, applications: Path = APPLICATIONS) -> m.Inventory:
    out = run(SYSTEM_PROFILER)
    hw, sw = parse_system_profiler(decode_tool_output(out)) if out is not None else ({}, {})
    vers_out = run(["sw_vers"])
    vers = parse_sw_vers(decode_tool_output(vers_out)) if vers_out is not None else {}
    name, version = os_from_profiler(sw)
    inv.os = vers.get("ProductName") or name or "macOS"
    inv.os_version = vers.get("ProductVersion") or version or inv.os_version
    inv.os_family = "darwin"
    inv.manufacturer = "Apple"
    machine, ident = clean(hw.get("machine_name")), clean(hw.get("machine_model"))
    inv.model = f"{machine} ({ident})" if machine and ident else machine or ident
    inv.serial = clean(hw.get("serial_number"))
    inv.bios_version = clean(hw.get("boot_rom_version"))
    inv.machine_id = clean(hw.get("platform_UUID")).lower()
    inv.cpu_model = cpu_name(hw) or inv.cpu_model
    kernel = clean(sw.get("kernel_version"))
    inv.kernel = kernel.removeprefix("Darwin ").strip() or inv.kernel
    if out is not None and not hw:
        warn_once("darwin:hw", "inventory: system_profiler gave no hardware overview")
    software = {(s.name, s.version): s for s in [*bundles(applications), *receipts(run)]}
    inv.software = [software[k] for k in sorted(software)]
    return inv


def parse_ioreg(text: str) -> dict[str, str]:
    """``ioreg -rd1 -c IOPlatformExpertDevice``: its ``"Key" = "string"`` properties."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if (
            sep
            and len(key) > 2
            and key[0] == key[-1] == '"'
            and value.startswith('"')
            and value.endswith('"')
        ):
            values[key[1:-1]] = value[1:-1]
    return values


def platform_uuid(run: Runner = run_tool) -> str:
    """The hardware UUID from ioreg (quick, for enrollment), lower case; "" when unreadable."""
    out = run(IOREG)
    return clean(parse_ioreg(decode_tool_output(out)).get("IOPlatformUUID")).lower() if out else ""


def collect(run: Runner = run_tool) -> m.Inventory:
    inv = common.base_inventory()
    inv.os_version = platform.mac_ver()[0]  # if neither sw_vers nor system_profiler answers
    return apply(inv, run)
