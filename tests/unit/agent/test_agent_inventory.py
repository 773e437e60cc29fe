"""Inventory of the machine the tests run on, checked against independent sources."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import psutil
import pytest

from fleetdeck.agent.collectors import collect, get_collector
from fleetdeck.agent.collectors.common import quantise_free
from fleetdeck.agent.collectors.linux import parse_os_release
from fleetdeck.agent.collectors.software import parse_dpkg, parse_rpm
from fleetdeck.protocol import messages as m


@pytest.fixture(scope="module")
def inventory() -> m.Inventory:
    return collect()


def test_basic_facts(inventory: m.Inventory) -> None:
    assert inventory.hostname == socket.gethostname()
    assert inventory.ram_bytes == psutil.virtual_memory().total
    assert inventory.cpu_threads == psutil.cpu_count(logical=True)
    assert 0 < inventory.cpu_cores <= inventory.cpu_threads
    assert inventory.architecture
    assert inventory.kernel
    assert inventory.boot_time is not None
    assert inventory.boot_time < time.time()


def test_root_filesystem_present(inventory: m.Inventory) -> None:
    root = [fs for fs in inventory.filesystems if fs.mountpoint == "/"]
    assert len(root) == 1
    assert root[0].size_bytes > 0
    assert 0 <= root[0].free_bytes <= root[0].size_bytes


def test_interfaces(inventory: m.Inventory) -> None:
    names = [i.name for i in inventory.network_interfaces]
    assert names
    assert names == sorted(names)
    assert set(names) == set(psutil.net_if_addrs())
    addrs = {a.address for i in inventory.network_interfaces for a in i.addresses}
    assert "127.0.0.1" in addrs


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="linux collector")
def test_linux_os_release(inventory: m.Inventory) -> None:
    with open("/etc/os-release", encoding="utf-8") as fh:
        rel = parse_os_release(fh.read())
    assert inventory.os_family == "linux"
    assert inventory.os == rel["NAME"]
    assert inventory.os_version == rel.get("VERSION_ID", "")


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="dpkg-query not installed")
def test_software_matches_dpkg(inventory: m.Inventory) -> None:
    assert inventory.software
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\n"], capture_output=True, text=True, check=True
    )
    assert {s.name for s in inventory.software} <= set(out.stdout.split())
    assert any(s.name == "dpkg" and s.version for s in inventory.software)


def test_digest_stable_and_json_roundtrip(inventory: m.Inventory) -> None:
    again = collect()
    assert m.inventory_digest(inventory) == m.inventory_digest(again)
    decoded = m.decode_from_agent(m.encode(m.InventoryReport(digest="x", data=inventory)))
    assert isinstance(decoded, m.InventoryReport)
    assert decoded.data == inventory


def test_other_platform_collectors_do_not_crash() -> None:
    for platform in ("win32", "darwin", "freebsd14"):
        inv = get_collector(platform)()
        assert inv.hostname == socket.gethostname()


def test_parsers() -> None:
    rel = parse_os_release('NAME="Debian GNU/Linux"\nVERSION_ID="12"\n# c\nID=debian\n')
    assert rel == {"NAME": "Debian GNU/Linux", "VERSION_ID": "12", "ID": "debian"}
    dpkg = parse_dpkg(
        "ii \tzlib1g\t1:1.2\tcompression\nrc \told\t1.0\tgone\nii \tacl\t2.3\tACL\nii \tacl\t2.3\tACL\n"
    )
    assert [(s.name, s.version) for s in dpkg] == [("acl", "2.3"), ("zlib1g", "1:1.2")]
    rpm = parse_rpm("bash\t5.1-2.el9\tThe GNU shell\ngpg-pubkey\t1-2\tkey\n")
    assert rpm == [m.Software(name="bash", version="5.1-2.el9", description="The GNU shell")]
    assert quantise_free(123_456_789_000, 1_000_000_000_000) == 120_000_000_000


def test_once_inventory_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from fleetdeck.agent.main import main

    assert main(["--once-inventory"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hostname"] == socket.gethostname()


def test_battery_as_psutil_sees_it(inventory: m.Inventory) -> None:
    """OCO's scale: charge 0..1 and 1 = on mains / 2 = discharging; none on a machine without
    a battery (this test machine may have one or not: compared with psutil directly)."""
    state = psutil.sensors_battery()
    if state is None:
        assert (inventory.battery_level, inventory.battery_status) == (None, None)
    else:
        assert inventory.battery_level == round(state.percent / 10) / 10  # 10 % steps
        assert inventory.battery_status == (1 if state.power_plugged else 2)


def test_domain_is_the_fqdn_after_the_host_name(inventory: m.Inventory) -> None:
    from fleetdeck.agent.collectors.common import dns_domain

    assert dns_domain("pc1.corp.example.org") == "corp.example.org"
    assert dns_domain("pc1") == dns_domain("pc1.localdomain") == ""
    if sys.platform.startswith("linux"):
        assert inventory.domain == dns_domain(inventory.fqdn)
