"""The macOS collector against recorded outputs of system_profiler, sw_vers and pkgutil, and a
recorded /Applications tree (XML and binary Info.plist files, a broken one) (issue #20).
Nothing here ran on a Mac."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetdeck.agent.collectors import darwin, get_collector, tools
from fleetdeck.protocol import messages as m

from .recorded import FIXTURES, Recorded, Rule, starts

APPS = FIXTURES / "darwin" / "Applications"


def pkg_info(argv: Sequence[str]) -> bool:
    return tuple(argv[:2]) == ("pkgutil", "--pkg-info")


class Mac(Recorded):
    """``pkgutil --pkg-info ID`` answered from pkg-info/ID.txt (iterm2's receipt is gone)."""

    def __call__(self, argv: Sequence[str]) -> bytes | None:
        if pkg_info(argv):
            self.calls.append(list(argv))
            path = self.folder / "pkg-info" / f"{argv[2]}.txt"
            return path.read_bytes() if path.exists() else None
        return super().__call__(argv)


def rules(profiler: str | None = "system_profiler.json", vers: str | None = "sw_vers.txt") -> list[Rule]:
    return [
        (starts(*darwin.SYSTEM_PROFILER), profiler),
        (starts("sw_vers"), vers),
        (starts("pkgutil", "--pkgs"), "pkgutil-pkgs.txt"),
    ]


def collect(run: Recorded, apps: Path = APPS) -> m.Inventory:
    return darwin.apply(m.Inventory(hostname="mac", kernel="uname", cpu_model="arm"), run, apps)


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    tools._warned.clear()


def test_every_field_from_system_profiler_and_sw_vers() -> None:
    inv = collect(Mac("darwin", rules()))
    assert inv.os == "macOS"
    assert inv.os_version == "14.2.1"
    assert inv.os_family == "darwin"
    assert inv.kernel == "23.2.0"
    assert inv.manufacturer == "Apple"
    assert inv.model == "MacBook Pro (MacBookPro18,3)"
    assert inv.serial == "C02FK1ABQ05N"
    assert inv.bios_version == "10151.61.4"
    assert inv.cpu_model == "Apple M1 Pro"
    assert inv.machine_id == "2a7c0e1b-5d3f-5b8a-9c4e-1f2a3b4c5d6e"  # the hardware UUID
    report = m.InventoryReport(digest=m.inventory_digest(inv), data=inv)
    assert m.decode(m.encode(report)) == report


def test_an_intel_vm_without_serial_and_an_old_sw_vers() -> None:
    inv = collect(Mac("darwin", rules("system_profiler-intel-vm.json", "sw_vers-catalina.txt")))
    assert (inv.os, inv.os_version, inv.kernel) == ("Mac OS X", "10.15.7", "19.6.0")
    assert inv.model == "VMware7,1"
    assert inv.serial == ""
    assert inv.cpu_model == "Quad-Core Intel Core i7 @ 2,3 GHz"
    assert inv.bios_version == "1968.40.2.0.0 (iBridge: 20.16.1083.0.0,0)"


def test_os_version_from_system_profiler_when_sw_vers_fails() -> None:
    inv = collect(Mac("darwin", rules(vers=None)))
    assert (inv.os, inv.os_version) == ("macOS", "14.2.1")


def test_software_from_bundles_and_receipts() -> None:
    run = Mac("darwin", rules())
    software = collect(run).software
    got = {(s.name, s.version, s.description) for s in software}
    receipt = "installer package receipt"
    assert got == {
        ("Firefox", "121.0", "org.mozilla.firefox"),  # XML plist, short version preferred
        ("Microsoft Word", "16.80", "com.microsoft.Word"),  # binary plist
        ("Terminal", "2.14", "com.apple.Terminal"),  # one folder down (Utilities)
        ("Übersicht", "1.6.77", "tracesOf.Uebersicht"),  # only CFBundleVersion
        ("NoName", "", "com.example.noname"),  # no name in the plist: the bundle's
        ("com.apple.pkg.CLTools_Executables", "15.1.0.0.1.1700200546", receipt),
        ("com.apple.pkg.XProtectPayloads_10_15.16U4310", "2178", receipt),
        ("com.googlecode.iterm2", "", receipt),  # --pkg-info failed
        ("com.microsoft.package.Microsoft_Word.app", "16.80.23121017", receipt),
        ("us.zoom.pkg.videomeeting", "5.16.10.26186", receipt),
    }
    assert len(software) == len(got)
    assert software == sorted(software, key=lambda s: (s.name, s.version))
    assert ["pkgutil", "--pkg-info", "us.zoom.pkg.videomeeting"] in run.calls


def test_a_broken_plist_is_skipped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=tools.__name__)
    for _ in range(2):
        names = {s.name for s in collect(Mac("darwin", rules())).software}
        assert "Broken" not in names
    assert [r.getMessage().count("Broken.app") for r in caplog.records] == [1]


def test_receipts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(darwin, "MAX_RECEIPTS", 2)
    run = Mac("darwin", rules())
    receipts = darwin.receipts(run)
    assert len(receipts) == 2
    assert sum(1 for argv in run.calls if pkg_info(argv)) == 2


def test_nothing_answers_and_no_applications(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inv = collect(Mac("darwin", []), tmp_path / "missing")
    assert (inv.os, inv.os_family, inv.manufacturer) == ("macOS", "darwin", "Apple")
    assert (inv.model, inv.serial, inv.machine_id, inv.bios_version) == ("", "", "", "")
    assert (inv.kernel, inv.cpu_model) == ("uname", "arm")  # what platform said stays
    assert inv.software == []


@pytest.mark.parametrize(
    "junk",
    [b"", b"{", b"[]", b'{"SPHardwareDataType": {}, "SPSoftwareDataType": [7]}',
     b'{"SPHardwareDataType": [{"serial_number": null, "machine_name": ["x"]}]}', b"\xff\xfe\x00"],
)  # fmt: skip
def test_malformed_output_does_not_crash_the_collector(junk: bytes, tmp_path: Path) -> None:
    def run(argv: object) -> bytes:
        return junk

    inv = darwin.apply(m.Inventory(hostname="h"), run, tmp_path)
    assert inv.os_family == "darwin"
    assert (inv.serial, inv.model, inv.machine_id) == ("", "", "")


def test_darwin_selects_the_macos_collector() -> None:
    assert get_collector("darwin") is darwin.collect


def test_the_hardware_uuid_for_enrollment_from_ioreg() -> None:
    run = Mac("darwin", [(starts(*darwin.IOREG), "ioreg-platform.txt")])
    assert darwin.platform_uuid(run) == "2a7c0e1b-5d3f-5b8a-9c4e-1f2a3b4c5d6e"  # as the inventory's
    values = darwin.parse_ioreg((FIXTURES / "darwin" / "ioreg-platform.txt").read_text())
    assert values["IOPlatformSerialNumber"] == "C02FK1ABQ05N"
    assert "model" not in values  # <data>, not a string
    assert darwin.platform_uuid(Mac("darwin", [])) == ""
