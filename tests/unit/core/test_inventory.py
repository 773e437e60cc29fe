"""An agent's inventory as stored by core: every field, the limits, and only changed sections
rewritten; and the qualified names dialects identify hosts by."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.core.computers.inventory import SCALARS
from fleetdeck.core.computers.naming import FALLBACK_DOMAIN, is_qualified, qualified_name
from fleetdeck.protocol import messages as m

AGENT = system_actor("agent")
BOOT = 1_700_000_000.0


def full_inventory() -> m.Inventory:
    return m.Inventory(
        hostname="pc1",
        fqdn="pc1.corp.example",
        os="Debian GNU/Linux",
        os_version="12",
        os_family="linux",
        kernel="6.1.0",
        architecture="x86_64",
        cpu_model="Xeon",
        cpu_cores=4,
        cpu_threads=8,
        ram_bytes=8 << 30,
        boot_time=BOOT,
        manufacturer="ACME",
        model="Box 1",
        serial="SN1",
        bios_version="1.2",
        machine_id="f" * 32,
        domain="corp.example",
        timezone="Europe/Berlin",
        filesystems=[
            m.Filesystem(mountpoint="/var", fstype="xfs", size_bytes=50, free_bytes=5, device="/dev/sdb1"),
            m.Filesystem(mountpoint="/", fstype="ext4", size_bytes=100, free_bytes=40, device="/dev/sda1"),
        ],
        network_interfaces=[
            m.NetworkInterface(
                name="eth1",
                mac="52:54:00:00:00:02",
                addresses=[m.Address(address="10.0.1.5", family="ipv4", netmask="255.255.255.0")],
            ),
            m.NetworkInterface(name="eth0", mac="52:54:00:00:00:01"),
        ],
        software=[
            m.Software(name="vim", version="9", description="editor"),
            m.Software(name="bash", version="5"),
        ],
        logged_in_users=[
            m.LoggedInUser(name="bob", terminal="pts/1", host="10.0.0.2", started=BOOT + 60),
            m.LoggedInUser(name="alice", terminal="tty1"),
        ],
    )


def record(runtime: Runtime, cid: int, inv: m.Inventory) -> list[str]:
    return runtime.services.computers.record_inventory(AGENT, cid, inv, m.inventory_digest(inv))


def test_every_field_is_stored_and_shown(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    cid = svc.create(admin, "pc1").id
    inv = full_inventory()
    changed = record(runtime, cid, inv)
    assert changed == [
        *[n for n in SCALARS if n != "hostname"],
        "boot_time",
        "filesystems",
        "network_interfaces",
        "software",
        "logged_in_users",
    ]
    d = svc.get(admin, cid)
    s = d.summary
    assert (s.hostname, s.fqdn, s.os, s.os_version, s.architecture, s.ram_bytes) == (
        "pc1",
        "pc1.corp.example",
        "Debian GNU/Linux",
        "12",
        "x86_64",
        8 << 30,
    )
    assert (d.os_family, d.kernel, d.cpu_model, d.cpu_cores, d.cpu_threads) == (
        "linux",
        "6.1.0",
        "Xeon",
        4,
        8,
    )
    assert (d.manufacturer, d.model, d.serial, d.bios_version, d.machine_id, d.domain, d.timezone) == (
        "ACME",
        "Box 1",
        "SN1",
        "1.2",
        "f" * 32,
        "corp.example",
        "Europe/Berlin",
    )
    assert d.boot_time is not None and d.boot_time.replace(tzinfo=UTC) == datetime.fromtimestamp(BOOT, UTC)
    assert d.inventory_at is not None
    assert [(f.mountpoint, f.fstype, f.size_bytes, f.free_bytes, f.device) for f in d.filesystems] == [
        ("/", "ext4", 100, 40, "/dev/sda1"),
        ("/var", "xfs", 50, 5, "/dev/sdb1"),
    ]
    assert [(n.name, n.mac) for n in d.network_interfaces] == [
        ("eth0", "52:54:00:00:00:01"),
        ("eth1", "52:54:00:00:00:02"),
    ]
    assert d.network_interfaces[1].addresses == [
        {"address": "10.0.1.5", "family": "ipv4", "netmask": "255.255.255.0"}
    ]
    assert [(x.name, x.version, x.description) for x in d.software] == [
        ("bash", "5", ""),
        ("vim", "9", "editor"),
    ]
    logins = [(x.username, x.terminal, x.host) for x in d.logged_in_users]
    assert logins == [("alice", "tty1", ""), ("bob", "pts/1", "10.0.0.2")]
    assert d.logged_in_users[0].started_at is None
    started = d.logged_in_users[1].started_at
    assert started is not None and started.replace(tzinfo=UTC) == datetime.fromtimestamp(BOOT + 60, UTC)
    assert svc.inventory_digest(cid) == m.inventory_digest(inv)
    assert record(runtime, cid, full_inventory()) == []


def test_only_changed_sections_are_rewritten(runtime: Runtime, admin: Actor) -> None:
    cid = runtime.services.computers.create(admin, "pc1").id
    record(runtime, cid, full_inventory())
    inv = full_inventory()
    inv.boot_time = BOOT + 2  # clock jitter between reports: not a reboot
    inv.software = list(reversed(inv.software))  # another order: the same software
    assert record(runtime, cid, inv) == []
    inv.boot_time = BOOT + 3
    assert record(runtime, cid, inv) == ["boot_time"]
    inv.boot_time = None
    assert record(runtime, cid, inv) == []  # an unknown boot time keeps the last one
    inv.filesystems[0].free_bytes = 4
    inv.logged_in_users = []
    inv.cpu_cores = 2
    assert record(runtime, cid, inv) == ["cpu_cores", "filesystems", "logged_in_users"]
    detail = runtime.services.computers.get(admin, cid)
    assert detail.logged_in_users == [] and detail.cpu_cores == 2
    assert [f.free_bytes for f in detail.filesystems] == [40, 4]
    inv.network_interfaces[1].addresses = [m.Address(address="10.0.0.9", family="ipv4")]
    assert record(runtime, cid, inv) == ["network_interfaces"]


def test_long_values_are_cut_to_the_columns(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    cid = svc.create(admin, "pc1").id
    inv = m.Inventory(
        hostname="h" * 300,
        os_version="v" * 300,
        os_family="f" * 300,
        architecture="a" * 300,
        machine_id="m" * 300,
        timezone="t" * 300,
        kernel="k" * 300,
        filesystems=[
            m.Filesystem(
                mountpoint="/" * 2000, fstype="x" * 100, size_bytes=1, free_bytes=1, device="d" * 300
            )
        ],
        network_interfaces=[m.NetworkInterface(name="n" * 300, mac="c" * 100)],
        software=[m.Software(name="s" * 300, version="v" * 300, description="long " * 100)],
        logged_in_users=[m.LoggedInUser(name="u" * 300, terminal="t" * 300, host="h" * 300)],
    )
    record(runtime, cid, inv)
    d = svc.get(admin, cid)
    assert (len(d.summary.hostname), len(d.summary.os_version), len(d.os_family)) == (255, 100, 20)
    assert (len(d.summary.architecture), len(d.machine_id), len(d.timezone), len(d.kernel)) == (
        50,
        64,
        64,
        255,
    )
    fs = d.filesystems[0]
    assert (len(fs.mountpoint), len(fs.fstype), len(fs.device)) == (1024, 50, 255)
    assert (len(d.network_interfaces[0].name), len(d.network_interfaces[0].mac)) == (255, 64)
    sw = d.software[0]
    assert (len(sw.name), len(sw.version), sw.description) == (255, 255, "long " * 100)
    login = d.logged_in_users[0]
    assert (len(login.username), len(login.terminal), len(login.host)) == (255, 255, 255)
    assert record(runtime, cid, inv) == []  # the cut values compare equal next time


@pytest.mark.parametrize(
    ("fqdn", "qualified"),
    [
        ("a.b.c", True),
        ("A.B.C.", True),
        (" host.corp.example ", True),
        ("host.lan", False),
        ("host", False),
        ("", False),
        ("localhost.localdomain", False),
        ("localhost6.localdomain6", False),
        ("LOCALHOST6.LOCALDOMAIN6.", False),
    ],
)
def test_is_qualified(fqdn: str, qualified: bool) -> None:
    assert is_qualified(fqdn) is qualified


@pytest.mark.parametrize(
    ("hostname", "fqdn", "domain", "expected"),
    [
        ("pc1", "PC1.Corp.Example.", "x.y", "pc1.corp.example"),
        ("PC1", "pc1.lan", "Corp.Example", "pc1.corp.example"),
        ("pc1.lan", "", " .corp.example. ", "pc1.corp.example"),
        (" pc1 ", "localhost", "", "pc1." + FALLBACK_DOMAIN),
        ("pc1", "", "  ", "pc1." + FALLBACK_DOMAIN),
    ],
)
def test_qualified_name(hostname: str, fqdn: str, domain: str, expected: str) -> None:
    assert qualified_name(hostname, fqdn, domain) == expected
