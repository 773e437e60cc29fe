"""Platform-neutral inventory pieces, from psutil, ``platform`` and ``socket``.

Every list is sorted so that collecting twice on an unchanged machine gives the same digest,
and volatile values are quantised (free disk space) so that ordinary churn does not make the
agent resend its whole inventory every ten minutes.
"""

from __future__ import annotations

import contextlib
import platform
import socket
import time
from typing import Literal

import psutil

from fleetdeck.protocol import messages as m

# Pseudo and virtual filesystems: not storage an admin wants to see in an inventory.
PSEUDO_FS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
        "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc",
        "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs", "tracefs",
    }
)  # fmt: skip
FREE_QUANTUM_MIN = 1024 * 1024


def quantise_free(free: int, size: int) -> int:
    """Round free space down to 1 % of the filesystem size (at least 1 MiB)."""
    quantum = max(size // 100, FREE_QUANTUM_MIN)
    return free // quantum * quantum


def hostname() -> str:
    return socket.gethostname()


def fqdn() -> str:
    with contextlib.suppress(OSError):
        return socket.getfqdn()
    return ""


def cpu_counts() -> tuple[int, int]:
    threads = psutil.cpu_count(logical=True) or 0
    cores = psutil.cpu_count(logical=False) or threads
    return cores, threads


def boot_time() -> float | None:
    with contextlib.suppress(Exception):  # psutil raises odd things in some sandboxes
        return float(int(psutil.boot_time()))  # whole seconds: sub-second jitter is noise
    return None


def battery() -> tuple[float | None, int | None]:
    """Charge (0..1) and status (1 on mains power, 2 discharging), as OCO's agent reports them;
    (None, None) without one. The charge in steps of 10 %: the whole inventory is sent again
    when its digest changes, and in whole percents a discharging laptop would resend it (all
    its software too) at every collection (10 min) instead of every half hour or so."""
    with contextlib.suppress(Exception):  # no sensors on this platform / in this sandbox
        state = psutil.sensors_battery()
        if state is not None:
            return round(float(state.percent) / 10) / 10, 1 if state.power_plugged else 2
    return None, None


def dns_domain(name: str) -> str:
    """The DNS domain of a fully qualified host name ("" for a bare one)."""
    _, _, domain = name.partition(".")
    return domain.lower() if domain and not domain.endswith("localdomain") else ""


def filesystems() -> list[m.Filesystem]:
    """Real filesystems, plus the one holding ``/`` whatever its type (e.g. overlay)."""
    parts = list(psutil.disk_partitions(all=False))
    if not any(p.mountpoint in ("/", "C:\\") for p in parts):
        parts += [p for p in psutil.disk_partitions(all=True) if p.mountpoint == "/"][:1]
    result: dict[str, m.Filesystem] = {}
    for part in parts:
        if part.mountpoint in result:
            continue
        if part.fstype in PSEUDO_FS and part.mountpoint != "/":
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:  # unreadable mount, stale NFS, removable drive without media
            continue
        result[part.mountpoint] = m.Filesystem(
            mountpoint=part.mountpoint,
            fstype=part.fstype,
            size_bytes=usage.total,
            free_bytes=quantise_free(usage.free, usage.total),
            device=part.device,
        )
    return [result[k] for k in sorted(result)]


def network_interfaces() -> list[m.NetworkInterface]:
    """All interfaces (loopback included), with MAC and IPv4/IPv6 addresses."""
    interfaces: list[m.NetworkInterface] = []
    for name, addrs in psutil.net_if_addrs().items():
        mac = ""
        addresses: list[m.Address] = []
        for addr in addrs:
            if addr.family == psutil.AF_LINK:
                mac = addr.address.lower().replace("-", ":")
            elif addr.family in (socket.AF_INET, socket.AF_INET6):
                family: Literal["ipv4", "ipv6"] = "ipv4" if addr.family == socket.AF_INET else "ipv6"
                addresses.append(
                    m.Address(
                        address=addr.address,
                        family=family,
                        netmask=addr.netmask or "",
                        broadcast=addr.broadcast or "",
                    )
                )
        addresses.sort(key=lambda a: (a.family, a.address))
        interfaces.append(m.NetworkInterface(name=name, mac=mac, addresses=addresses))
    interfaces.sort(key=lambda i: i.name)
    return interfaces


# Interfaces whose addresses are made up by software on this machine (containers, bridges,
# tunnels): they say nothing about which hardware the agent runs on.
VIRTUAL_PREFIXES = (
    "lo",
    "docker",
    "veth",
    "br-",
    "virbr",
    "vnet",
    "tap",
    "tun",
    "cni",
    "flannel",
    "cali",
    "wg",
)


def hardware_macs() -> list[str]:
    """MAC addresses of this machine's network cards, to tell a re-install from a clone."""
    macs = {
        i.mac
        for i in network_interfaces()
        if i.mac and i.mac != "00:00:00:00:00:00" and not i.name.lower().startswith(VIRTUAL_PREFIXES)
    }
    return sorted(macs)


def logged_in_users() -> list[m.LoggedInUser]:
    users = [
        m.LoggedInUser(name=u.name, terminal=u.terminal or "", host=u.host or "", started=u.started)
        for u in psutil.users()
    ]
    users.sort(key=lambda u: (u.name, u.terminal, u.host, u.started or 0.0))
    return users


def timezone() -> str:
    return time.strftime("%Z")


def base_inventory() -> m.Inventory:
    """What psutil and the standard library know on any platform."""
    cores, threads = cpu_counts()
    level, status = battery()
    qualified = fqdn()
    return m.Inventory(
        hostname=hostname(),
        fqdn=qualified,
        domain=dns_domain(qualified),
        battery_level=level,
        battery_status=status,
        os=platform.system(),
        os_version=platform.release(),
        os_family=platform.system().lower(),
        kernel=platform.release(),
        architecture=platform.machine(),
        cpu_model=platform.processor(),
        cpu_cores=cores,
        cpu_threads=threads,
        ram_bytes=psutil.virtual_memory().total,
        boot_time=boot_time(),
        timezone=timezone(),
        filesystems=filesystems(),
        network_interfaces=network_interfaces(),
        logged_in_users=logged_in_users(),
    )


def collect() -> m.Inventory:
    """Fallback for platforms without a dedicated collector."""
    return base_inventory()
