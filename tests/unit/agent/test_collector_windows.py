"""The Windows collector against recorded outputs of PowerShell, wmic, reg and quser (issue #20).

The recordings (tests/fixtures/windows) are what those tools write to a pipe: reg/wmic/quser in
the OEM code page of a German Windows (cp850), wmic with its CR CR LF line ends, PowerShell's
JSON in UTF-8 or, recorded through ``>``, UTF-16 LE with a BOM. Nothing here ran on Windows.
"""

from __future__ import annotations

import base64
import logging
import time

import pytest

from fleetdeck.agent.collectors import get_collector, tools, windows
from fleetdeck.protocol import messages as m

from .recorded import Recorded, Rule, starts

HKLM_UNINSTALL = "HKLM\\" + windows.UNINSTALL
USER_HIVE = "HKEY_USERS\\S-1-5-21-3623811015-3361044348-30300820-1013"


def rules(cim: str | None = "cim.json", quser: str | None = "quser.txt") -> list[Rule]:
    return [
        (starts("powershell.exe"), cim),
        (starts("wmic", "computersystem"), "wmic-computersystem.txt"),
        (starts("wmic", "bios"), "wmic-bios.txt"),
        (starts("wmic", "csproduct"), "wmic-csproduct.txt"),
        (starts("wmic", "cpu"), "wmic-cpu.txt"),
        (starts("reg", "query", HKLM_UNINSTALL), "reg-uninstall-64.txt"),
        (starts("reg", "query", "HKLM\\" + windows.UNINSTALL_32), "reg-uninstall-32.txt"),
        (starts("reg", "query", "HKU"), "reg-hku.txt"),
        (starts("reg", "query", f"{USER_HIVE}\\{windows.UNINSTALL}"), "reg-uninstall-user.txt"),
        (starts("reg", "query", windows.CURRENT_VERSION), "reg-currentversion.txt"),
        (starts("reg", "query", windows.CRYPTOGRAPHY), "reg-cryptography.txt"),
        (starts("quser"), quser),
    ]


def collect(run: Recorded) -> m.Inventory:
    return windows.apply(m.Inventory(hostname="PC-0815", cpu_model="Intel64 Family 6"), run, "cp850")


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    tools._warned.clear()


def test_every_field_from_powershell_and_the_registry() -> None:
    run = Recorded("windows", rules())
    inv = collect(run)
    assert inv.manufacturer == "Dell Inc."
    assert inv.model == "Latitude 5420"
    assert inv.serial == "8FJ2KQ3"
    assert inv.bios_version == "1.31.0"
    assert inv.cpu_model == "11th Gen Intel(R) Core(TM) i5-1145G7 @ 2.60GHz"
    assert inv.domain == "corp.example.com"
    assert inv.os == "Windows 11 Pro"  # the registry still says "Windows 10 Pro"; build 22631 does not
    assert inv.os_version == "23H2"
    assert inv.kernel == "10.0.22631.3007"
    assert inv.os_family == "windows"
    assert inv.machine_id == "6f3b9a2e-1c4d-4e8f-9a7b-2d5c8e1f0a3b"
    assert not any(argv[0] == "wmic" for argv in run.calls)  # PowerShell answered
    report = m.InventoryReport(digest=m.inventory_digest(inv), data=inv)
    assert m.decode(m.encode(report)) == report  # what the server decodes


def test_the_powershell_command_is_encoded_and_asks_for_utf8() -> None:
    argv = windows.powershell_argv(windows.PS_SCRIPT)
    assert argv[:5] == ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass"]
    assert argv[5] == "-EncodedCommand"
    script = base64.b64decode(argv[6]).decode("utf-16-le")
    assert script == windows.PS_SCRIPT
    assert "[Console]::OutputEncoding = [Text.UTF8Encoding]::new($false)" in script
    for cls in ("Win32_ComputerSystem", "Win32_BIOS", "Win32_ComputerSystemProduct", "Win32_Processor"):
        assert f"Get-CimInstance {cls}" in script


def test_software_from_the_uninstall_keys_as_apps_and_features_shows_it() -> None:
    run = Recorded("windows", rules())
    software = collect(run).software
    got = {(s.name, s.version, s.description) for s in software}
    assert got == {
        ("7-Zip 23.01 (x64)", "23.01", "Igor Pavlov"),
        ("Druckertreiber für HP LaserJet Pro M404", "49.4.4512", "HP Inc."),  # cp850
        ("Microsoft Edge", "120.0.2210.121", "Microsoft Corporation"),
        ("Microsoft Office Professional Plus 2019 - de-de", "16.0.17126.20132", "Microsoft Corporation"),
        ("Adobe Acrobat (64-bit)", "23.008.20470", "Adobe"),
        # two product codes, one name and version: one entry
        ("Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130", "14.38.33130.0",
         "Microsoft Corporation"),
        ("Kassenbuch Pro © Müller & Söhne", "", "Müller & Söhne GmbH"),  # no DisplayVersion
        ("Microsoft Teams classic", "1.7.00.156", "Microsoft Corporation"),  # a user's hive, UTF-16
        ("秀丸エディタ", "9.22", "斉藤秀夫"),
    }  # fmt: skip
    # not listed: no DisplayName (AddressBook, WIC), SystemComponent=1, the KB update
    assert len(got) == len(software)
    assert software == sorted(software, key=lambda s: (s.name, s.version))
    queried = [argv for argv in run.calls if argv[:2] == ["reg", "query"]]
    assert ["reg", "query", HKLM_UNINSTALL, "/s", "/reg:64"] in queried
    # the user hive of S-1-5-21-...-1013 only: not .DEFAULT, the service accounts or _Classes
    hives = [argv[2] for argv in queried if argv[2].startswith("HKEY_USERS")]
    assert hives == [f"{USER_HIVE}\\{windows.UNINSTALL}"]


def test_registry_values_with_spaces_types_and_localised_default_names() -> None:
    text = (tools_fixture("reg-uninstall-64.txt")).replace("\r\n", "\n")
    keys = windows.parse_reg_query(text)
    hp = keys["HKEY_LOCAL_MACHINE\\" + windows.UNINSTALL + "\\{23170F69-40C1-2702-2301-000001000000}"]
    assert hp["Inno Setup: App Path"] == "C:\\Program Files\\HP"
    assert hp["(Standard)"] == ""
    assert hp["Comments"] == ""
    seven = keys["HKEY_LOCAL_MACHINE\\" + windows.UNINSTALL + "\\7-Zip"]
    assert seven["EstimatedSize"] == str(0x1600)
    assert seven["UninstallString"] == '"C:\\Program Files\\7-Zip\\Uninstall.exe"'
    assert keys["HKEY_LOCAL_MACHINE\\" + windows.UNINSTALL + "\\AddressBook"] == {}
    office = keys["HKEY_LOCAL_MACHINE\\" + windows.UNINSTALL + "\\ProPlus2019Retail - de-de"]
    assert office["ProductCodes"].count("\\0") == 1
    assert "Suche beendet" not in str(keys)


def tools_fixture(name: str) -> str:
    from fleetdeck.agent.decoding import decode_bytes

    from .recorded import FIXTURES

    return decode_bytes((FIXTURES / "windows" / name).read_bytes(), "cp850")


def test_powershell_output_in_utf16_with_a_bom_reads_the_same() -> None:
    utf8 = collect(Recorded("windows", rules()))
    utf16 = collect(Recorded("windows", rules(cim="cim-utf16.json")))
    assert utf16 == utf8


def test_oem_placeholders_stay_empty_and_a_workgroup_is_no_domain() -> None:
    inv = collect(Recorded("windows", rules(cim="cim-workgroup.json")))
    assert (inv.manufacturer, inv.model, inv.serial, inv.bios_version) == ("", "", "", "")
    assert inv.domain == ""
    assert inv.cpu_model == "AMD Ryzen 7 5800X 8-Core Processor"  # first of two, trailing blanks cut


def test_wmic_is_the_fallback_when_powershell_fails() -> None:
    run = Recorded("windows", rules(cim=None))
    inv = collect(run)
    assert inv.manufacturer == "LENOVO"
    assert inv.model == "20XW0026GE"
    assert inv.serial == "PF2ABCDE"
    assert inv.bios_version == "N32ET86W (1.62 )"
    assert inv.cpu_model == "11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz"
    assert inv.domain == ""  # PartOfDomain=FALSE
    assert ["wmic", "bios", "get", "SerialNumber,SMBIOSBIOSVersion,Manufacturer", "/format:list"] in run.calls


def test_logged_in_users_from_quser() -> None:
    inv = collect(Recorded("windows", rules()))
    assert [(u.name, u.terminal) for u in inv.logged_in_users] == [
        ("admin.ops", "rdp-tcp#3"),
        ("jdoe", "console"),
        ("svc-backup", ""),  # disconnected: no session name
    ]
    jdoe = inv.logged_in_users[1]
    assert jdoe.started == time.mktime((2026, 12, 3, 9, 14, 0, 0, 0, -1))


def test_quser_localised_and_without_sessions() -> None:
    german = collect(Recorded("windows", rules(quser="quser-de.txt")))
    assert [(u.name, u.terminal) for u in german.logged_in_users] == [
        ("jürgen.weiß", "console"),
        ("müller", ""),
    ]
    assert german.logged_in_users[0].started == time.mktime((2026, 12, 3, 9, 14, 0, 0, 0, -1))
    nobody = collect(Recorded("windows", rules(quser="quser-none.txt")))
    assert nobody.logged_in_users == []  # kept as psutil found them (none in the blank inventory)
    base = m.Inventory(hostname="h", logged_in_users=[m.LoggedInUser(name="from-psutil")])
    kept = windows.apply(base, Recorded("windows", rules(quser=None)), "cp850")
    assert [u.name for u in kept.logged_in_users] == ["from-psutil"]  # quser missing (Home)


def test_nothing_answers_nothing_is_filled_and_it_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=tools.__name__)
    for _ in range(3):
        base = m.Inventory(hostname="h", os_version="10", kernel="10.0.22631", cpu_model="Intel64 Family 6")
        inv = windows.apply(base, Recorded("windows", []), "cp850")
        assert (inv.manufacturer, inv.model, inv.serial, inv.machine_id, inv.domain) == ("",) * 5
        assert inv.software == []
        assert (inv.os, inv.os_version, inv.kernel) == ("Windows", "10", "10.0.22631")  # platform's
        assert inv.cpu_model == "Intel64 Family 6"
    assert len(caplog.records) == 2  # WMI, the version: once each


@pytest.mark.parametrize(
    "junk",
    [b"", b"\xff\xfe", b"not json", b"[1, 2]", b'{"ComputerSystem": "x", "BIOS": [], "Processor": [null]}',
     b"\x00\x01\x02" * 100, "Ausnahme: Zugriff verweigert\r\n".encode("cp850")],
)  # fmt: skip
def test_malformed_output_does_not_crash_the_collector(junk: bytes) -> None:
    def run(argv: object) -> bytes:
        return junk

    inv = windows.apply(m.Inventory(hostname="h"), run, "cp850")
    assert inv.os_family == "windows"
    assert (inv.manufacturer, inv.serial, inv.machine_id) == ("", "", "")
    assert inv.software == []


def test_win32_selects_the_windows_collector() -> None:
    assert get_collector("win32") is windows.collect


def test_the_ids_sent_at_enrollment_match_the_inventory() -> None:
    run = Recorded("windows", rules())
    assert windows.machine_guid(run, "cp850") == collect(Recorded("windows", rules())).machine_id
    assert windows.smbios_uuid(run, "cp850") == "4c4c4544-0046-4a10-8032-b8c04f4b5133"
    # a board whose UUID the OEM never set ("03000200-0400-..." is a real, shared, value: kept)
    assert windows.smbios_uuid(Recorded("windows", rules(cim="cim-workgroup.json")), "cp850") != ""
    blank = b'{"Product": {"UUID": "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"}}'
    assert windows.smbios_uuid(lambda argv: blank, "cp850") == ""
    assert windows.machine_guid(Recorded("windows", []), "cp850") == ""
