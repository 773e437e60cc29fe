"""Windows inventory: WMI (through PowerShell, ``wmic`` as a fallback), the registry, ``quser``.

- Hardware, BIOS, domain membership, CPU name: one PowerShell run of ``Get-CimInstance``
  (Win32_ComputerSystem, Win32_BIOS, Win32_ComputerSystemProduct, Win32_Processor) turned into
  JSON; where PowerShell cannot run, ``wmic ... /format:list`` (deprecated, and absent from new
  Windows 11 installs, so only a fallback).
- Windows edition and build, MachineGuid: ``reg query`` of ``HKLM\\...\\Windows NT\\CurrentVersion``
  and ``HKLM\\SOFTWARE\\Microsoft\\Cryptography`` (64-bit view whatever the agent's bitness).
- Installed software: the Uninstall keys as "Apps & features" shows them: HKLM 64-bit, HKLM
  32-bit (WOW6432Node) and every loaded user hive (HKU\\<SID>; HKCU of a service is the service
  account's), without system components and updates.
- Logged-in users: ``quser`` (sessions, console or RDP); where it is missing (Home editions),
  what psutil found.

Output decoding: PowerShell is told to write UTF-8; ``reg``, ``wmic`` and ``quser`` write in
the OEM code page; a BOM or UTF-16 is recognised (fleetdeck.agent.decoding).
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from fleetdeck.agent.collectors import common
from fleetdeck.agent.collectors.tools import Runner, clean, run_tool, warn_once
from fleetdeck.agent.decoding import decode_tool_output, oem_codepage
from fleetdeck.protocol import messages as m

UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
UNINSTALL_32 = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
CURRENT_VERSION = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
CRYPTOGRAPHY = r"HKLM\SOFTWARE\Microsoft\Cryptography"
UPDATE_TYPES = frozenset({"security update", "update rollup", "hotfix", "update"})
MAX_USER_HIVES = 64

PS_SCRIPT = r"""
$ErrorActionPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [Text.UTF8Encoding]::new($false)
$p = @{}
$p.ComputerSystem = Get-CimInstance Win32_ComputerSystem |
  Select-Object Manufacturer, Model, Domain, PartOfDomain, Workgroup, SystemFamily
$p.BIOS = Get-CimInstance Win32_BIOS | Select-Object SerialNumber, SMBIOSBIOSVersion, Manufacturer
$p.Product = Get-CimInstance Win32_ComputerSystemProduct | Select-Object UUID, IdentifyingNumber
$p.Processor = @(Get-CimInstance Win32_Processor | Select-Object Name)[0]
[pscustomobject]$p | ConvertTo-Json -Depth 3 -Compress
"""
WMIC_QUERIES: dict[str, tuple[str, str]] = {
    "ComputerSystem": ("computersystem", "Manufacturer,Model,Domain,PartOfDomain,Workgroup"),
    "BIOS": ("bios", "SerialNumber,SMBIOSBIOSVersion,Manufacturer"),
    "Product": ("csproduct", "UUID,IdentifyingNumber"),
    "Processor": ("cpu", "Name"),
}


def powershell_argv(script: str) -> list[str]:
    """PowerShell running ``script`` with no profile, no prompts and no quoting problems."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
            "-EncodedCommand", encoded]  # fmt: skip


# ------------------------------------------------------------------ WMI


def parse_cim_json(text: str) -> dict[str, dict[str, Any]]:
    """The PowerShell JSON: class name -> properties (empty when the output is not JSON)."""
    text = text.strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        warn_once("win:cim-json", "inventory: PowerShell's WMI output is not JSON (%.60r)", text)
        return {}
    if not isinstance(data, dict):
        warn_once("win:cim-shape", "inventory: PowerShell's WMI output is not an object")
        return {}
    result: dict[str, dict[str, Any]] = {}
    for key, found in data.items():
        value = (found[0] if found else None) if isinstance(found, list) else found  # several CPUs
        if isinstance(value, dict):
            result[str(key)] = value
    return result


def parse_wmic_list(text: str) -> dict[str, str]:
    """``wmic <class> get A,B /format:list``: ``A=value`` lines (the first instance's)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and key.strip() not in values:
            values[key.strip()] = value.strip()
    return values


def wmi_facts(run: Runner, codepage: str) -> dict[str, dict[str, Any]]:
    out = run(powershell_argv(PS_SCRIPT))
    facts = parse_cim_json(decode_tool_output(out, codepage)) if out is not None else {}
    if facts:
        return facts
    for name, (alias, props) in WMIC_QUERIES.items():
        raw = run(["wmic", alias, "get", props, "/format:list"])
        if raw is not None:
            values = parse_wmic_list(decode_tool_output(raw, codepage))
            if values:
                facts[name] = dict(values)
    if not facts:
        warn_once("win:wmi", "inventory: neither PowerShell nor wmic answered; hardware fields stay empty")
    return facts


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() == "true"


# ------------------------------------------------------------------ registry

_VALUE = re.compile(r"^ {4}(.*?) {4}(REG_[A-Z_0-9]+)(?: {4}(.*))?$")


def parse_reg_query(text: str) -> dict[str, dict[str, str]]:
    """``reg query KEY [/s]``: key path -> {value name: data}. REG_DWORD/QWORD data as decimal
    strings; REG_MULTI_SZ with its ``\\0`` separators as written. Keys without values are kept."""
    keys: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("HKEY_"):
            current = keys.setdefault(line.strip(), {})
            continue
        match = _VALUE.match(line.rstrip("\n"))
        if match is None or current is None:
            continue  # "End of search: 12 match(es) found." and localised variants of it
        name, kind, data = match.group(1), match.group(2), (match.group(3) or "").strip()
        if kind in ("REG_DWORD", "REG_QWORD") and data.lower().startswith("0x"):
            try:
                data = str(int(data, 16))
            except ValueError:
                data = ""
        current[name] = data
    return keys


def reg_query(run: Runner, codepage: str, key: str, *extra: str) -> dict[str, dict[str, str]]:
    out = run(["reg", "query", key, *extra])
    return parse_reg_query(decode_tool_output(out, codepage)) if out is not None else {}


def uninstall_entries(keys: dict[str, dict[str, str]]) -> list[m.Software]:
    """What "Apps & features" lists: a DisplayName, not a system component, not an update."""
    found: list[m.Software] = []
    for values in keys.values():
        name = values.get("DisplayName", "").strip()
        if not name or values.get("SystemComponent") == "1":
            continue
        if values.get("ParentKeyName") or values.get("ReleaseType", "").strip().lower() in UPDATE_TYPES:
            continue
        found.append(
            m.Software(
                name=name,
                version=values.get("DisplayVersion", "").strip(),
                description=values.get("Publisher", "").strip(),
            )
        )
    return found


def user_hives(text: str) -> list[str]:
    """``reg query HKU``: the loaded hives of real users (S-1-5-21-..., not ``_Classes``)."""
    hives = []
    for raw in text.splitlines():
        line = raw.strip()
        _, _, sid = line.rpartition("\\")
        if line.upper().startswith("HKEY_USERS\\") and sid.startswith("S-1-5-21-") and "_" not in sid:
            hives.append(line)
    return sorted(hives)[:MAX_USER_HIVES]


def installed_software(run: Runner, codepage: str) -> list[m.Software]:
    keys: dict[str, dict[str, str]] = {}
    keys |= reg_query(run, codepage, "HKLM\\" + UNINSTALL, "/s", "/reg:64")
    keys |= reg_query(run, codepage, "HKLM\\" + UNINSTALL_32, "/s")
    hku = run(["reg", "query", "HKU"])
    for hive in user_hives(decode_tool_output(hku, codepage)) if hku is not None else []:
        keys |= reg_query(run, codepage, f"{hive}\\{UNINSTALL}", "/s")
    unique = {(s.name, s.version): s for s in uninstall_entries(keys)}
    return [unique[k] for k in sorted(unique)]


def first_values(keys: dict[str, dict[str, str]]) -> dict[str, str]:
    return next(iter(keys.values()), {})


def os_names(values: dict[str, str]) -> tuple[str, str, str]:
    """(os, os_version, kernel) from the CurrentVersion key: ("Windows 11 Pro", "23H2",
    "10.0.22631.3007"). Windows 11 still says "Windows 10" in ProductName: the build tells."""
    product = values.get("ProductName", "").strip() or "Windows"
    build = values.get("CurrentBuild", "") or values.get("CurrentBuildNumber", "")
    if build.isdigit() and int(build) >= 22000 and product.startswith("Windows 10"):
        product = "Windows 11" + product[len("Windows 10") :]
    release = values.get("DisplayVersion", "") or values.get("ReleaseId", "")
    major = values.get("CurrentMajorVersionNumber", "")
    minor = values.get("CurrentMinorVersionNumber", "")
    kernel = ""
    if build:
        prefix = f"{major}.{minor}" if major and minor else values.get("CurrentVersion", "")
        kernel = ".".join(p for p in (prefix, build, values.get("UBR", "")) if p)
    return product, release, kernel


# ------------------------------------------------------------------ sessions

_QUSER_TIME_FORMATS = (
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M", "%d-%m-%Y %H:%M",
)  # fmt: skip


def _logon_time(text: str) -> float | None:
    for fmt in _QUSER_TIME_FORMATS:
        try:
            return time.mktime(time.strptime(text.strip(), fmt))
        except ValueError:
            continue
    return None


def parse_quser(text: str) -> list[m.LoggedInUser] | None:
    """``quser`` (``query user``): one user per session. None when the output is not a table
    (no header); the header is localised, so the columns are found by shape, not by name:
    name, optional session name, numeric id, state, idle time, logon time."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or len(lines[0].split()) < 5:
        return None
    users: list[m.LoggedInUser] = []
    for line in lines[1:]:
        fields = line.lstrip(" >").split()
        ids = [i for i, f in enumerate(fields) if f.isdigit() and 1 <= i <= 2]
        if len(fields) < 4 or not ids:
            continue
        at = ids[0]
        terminal = fields[1] if at == 2 else ""
        started = _logon_time(" ".join(fields[at + 3 :]))
        users.append(m.LoggedInUser(name=fields[0], terminal=terminal, started=started))
    users.sort(key=lambda u: (u.name, u.terminal, u.host, u.started or 0.0))
    return users


# ------------------------------------------------------------------ the collector


def apply(inv: m.Inventory, run: Runner, codepage: str) -> m.Inventory:
    """Fill ``inv`` with what the Windows tools say (fields they do not answer are left alone)."""
    wmi = wmi_facts(run, codepage)
    cs, bios = wmi.get("ComputerSystem", {}), wmi.get("BIOS", {})
    product, cpu = wmi.get("Product", {}), wmi.get("Processor", {})
    inv.manufacturer = clean(cs.get("Manufacturer"))
    inv.model = clean(cs.get("Model")) or clean(cs.get("SystemFamily"))
    inv.serial = clean(bios.get("SerialNumber")) or clean(product.get("IdentifyingNumber"))
    inv.bios_version = clean(bios.get("SMBIOSBIOSVersion"))
    inv.cpu_model = clean(cpu.get("Name")) or inv.cpu_model
    if _truthy(cs.get("PartOfDomain")):
        inv.domain = clean(cs.get("Domain")).lower()
    elif cs:
        inv.domain = ""  # Domain holds the workgroup's name then
    current = first_values(reg_query(run, codepage, CURRENT_VERSION, "/reg:64"))
    if current:
        inv.os, inv.os_version, kernel = os_names(current)
        inv.kernel = kernel or inv.kernel
    else:  # what ``platform`` said stays ("10", "10.0.22631")
        warn_once("win:current-version", "inventory: the Windows version is not readable from the registry")
        inv.os = "Windows"
    inv.os_family = "windows"
    inv.machine_id = machine_guid(run, codepage)
    inv.software = installed_software(run, codepage)
    quser = run(["quser"])
    users = parse_quser(decode_tool_output(quser, codepage)) if quser is not None else None
    if users is not None:
        inv.logged_in_users = users
    return inv


def machine_guid(run: Runner = run_tool, codepage: str | None = None) -> str:
    """HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid, lower case ("" when unreadable)."""
    keys = reg_query(run, codepage or oem_codepage(), CRYPTOGRAPHY, "/v", "MachineGuid", "/reg:64")
    return first_values(keys).get("MachineGuid", "").strip().lower()


def smbios_uuid(run: Runner = run_tool, codepage: str | None = None) -> str:
    """Win32_ComputerSystemProduct.UUID (the firmware's), "" when unreadable or all zeros/Fs."""
    uuid = clean(wmi_facts(run, codepage or oem_codepage()).get("Product", {}).get("UUID")).lower()
    return "" if set(uuid) <= set("0f-") else uuid


def collect(run: Runner = run_tool, codepage: str | None = None) -> m.Inventory:
    return apply(common.base_inventory(), run, codepage or oem_codepage())
