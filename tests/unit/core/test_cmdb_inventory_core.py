"""The CMDB categories rendered from a computer's live inventory (``core.cmdb.inventory``):
model, CPU, memory, drives, network ports, IP addresses, operating system and applications,
each value and entry id asserted, first through ``CmdbService.entries`` for a computer whose
agent reported its inventory, then ``render`` and its helpers called directly on a computer row
for the cases an agent rarely sends (no CPU model, an IPv6 address reported without its family,
a full disk). The i-doit dialect's tests show the same through JSON-RPC; these are the ones the
mutation subset runs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.cmdb import inventory
from fleetdeck.core.cmdb.inventory import (
    APPLICATION,
    CPU,
    DRIVE,
    IP,
    MEMORY,
    MODEL,
    NETWORK_PORT,
    OPERATING_SYSTEM,
    dialog,
    dialog_by_title,
    render,
    yes_no,
)
from fleetdeck.core.cmdb.statuses import Status
from fleetdeck.core.cmdb.values import DialogRef, Entry, ObjectRef
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from fleetdeck.runtime import Runtime
from fleetdeck.storage.tables import Computer, ComputerFilesystem, ComputerInterface, ComputerSoftware
from fleetdeck.storage.uow import UnitOfWork
from tests import factories

GIB = 1024**3
GB = DialogRef(3, "GB", "C__MEMORY_UNIT__GB")
YES, NO = DialogRef(1, "Yes"), DialogRef(0, "No")
IPV4 = DialogRef(1, "IPv4 (Internet Protocol v4)", "C__CATS_NET_TYPE__IPV4")
IPV6 = DialogRef(1000, "IPv6 (Internet Protocol v6)", "C__CATS_NET_TYPE__IPV6")
SOFTWARE = DialogRef(1, "Software", "C__CATG__APPLICATION_TYPE__SOFTWARE")
OS_TYPE = DialogRef(2, "Operating system", "C__CATG__APPLICATION_TYPE__OPERATING_SYSTEM")
PRIMARY = DialogRef(1, "Primary", "C__CATG__APPLICATION_PRIORITY__PRIMARY")
EXT3 = DialogRef(7, "EXT3", "C__FILESYSTEM_TYPE__EXT3")
NTFS = DialogRef(3, "NTFS", "C__FILESYSTEM_TYPE__NTFS")
APP = ("C__OBJTYPE__APPLICATION", "Application")
OS_OBJ = ("C__OBJTYPE__OPERATING_SYSTEM", "Operating System")

FULL = m.Inventory(
    hostname="pc1",
    domain="corp.example",
    os="Debian GNU/Linux",
    os_version="12",
    kernel="6.1.0-18-amd64",
    cpu_model="Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz",
    cpu_cores=4,
    ram_bytes=16 * GIB + 512 * 1024**2,  # 16.5 GiB
    manufacturer="not specified",
    model="ThinkPad T480",
    serial="PF1ABCDE",
    bios_version="N24ET61W",
    filesystems=[
        m.Filesystem("/", "ext3", 100 * GIB, 25 * GIB + 123_456_789, device="/dev/sda1"),
        m.Filesystem("/data", "btrfs", 2 * GIB, 3 * GIB),  # more free than its size: none used
    ],
    network_interfaces=[
        m.NetworkInterface(
            "eth0",
            "aa:bb:cc:dd:ee:01",
            [m.Address("10.1.2.3", "ipv4", "255.255.255.0"), m.Address("fe80::1", "ipv6")],
        ),
        m.NetworkInterface("wlan0", "", [m.Address("192.168.7.9", "ipv4")]),
        m.NetworkInterface("lo"),
    ],
    software=[
        m.Software("curl", "7.88.1", "command line tool for transferring data"),
        m.Software("bash"),
    ],
)


def reported(svc: Services, admin: Actor, inv: m.Inventory) -> tuple[int, int]:
    """A computer whose agent reported ``inv``, and its CMDB object's id."""
    cid = svc.computers.create(admin, inv.hostname).id
    svc.computers.record_inventory(
        agent_actor(cid, inv.hostname, "127.0.0.1"), cid, inv, m.inventory_digest(inv)
    )
    oid = svc.cmdb.object_of_computer(admin, cid)
    assert oid is not None
    return cid, oid


def ids(runtime: Runtime, table: Any, cid: int) -> list[int]:
    """The ids of a computer's inventory rows, in order (what multi-value entries are named by)."""
    with UnitOfWork(runtime.db, readonly=True) as uow:
        return list(uow.session.scalars(select(table.id).where(table.computer_id == cid).order_by(table.id)))


def computer(**facts: Any) -> Computer:
    """A computer row as the CMDB reads it: every inventory column given, empty unless set."""
    base: dict[str, Any] = {
        "id": 7,
        "hostname": "host",
        "domain": "",
        "manufacturer": "",
        "model": "",
        "serial": "",
        "bios_version": "",
        "cpu_model": "",
        "cpu_cores": 0,
        "ram_bytes": 0,
        "os": "",
        "os_version": "",
        "kernel": "",
    }
    base.update(facts)
    return Computer(**base)


def entry(entry_id: int, object_id: int, category: str, values: dict[str, Any]) -> Entry:
    return Entry(entry_id, object_id, category, Status.NORMAL, values, inventory=True)


# ------------------------------------------------------------------ through the CMDB service


def test_a_reported_inventory_is_the_computers_model_cpu_memory_and_os(svc: Services, admin: Actor) -> None:
    _, oid = reported(svc, admin, FULL)
    got = svc.cmdb.entries(admin, [oid], [MODEL, CPU, MEMORY, OPERATING_SYSTEM])[oid]
    assert got[MODEL] == [
        entry(
            oid,
            oid,
            MODEL,
            {
                "manufacturer": DialogRef(1, "Not specified", "C__MODEL_NOT_SPECIFIED"),
                "title": DialogRef(None, "ThinkPad T480"),
                "productid": None,
                "service_tag": None,
                "serial": "PF1ABCDE",
                "firmware": "N24ET61W",
                "description": None,
            },
        )
    ]
    assert got[CPU] == [
        entry(
            oid,
            oid,
            CPU,
            {
                "title": "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz",
                "manufacturer": DialogRef(2, "Intel"),
                "type": None,
                "frequency": None,
                "frequency_unit": None,
                "cores": 4,
                "description": None,
            },
        )
    ]
    assert got[MEMORY] == [
        entry(
            oid,
            oid,
            MEMORY,
            {
                "title": None,
                "manufacturer": None,
                "type": None,
                "capacity": 16.5,
                "unit": GB,
                "description": None,
            },
        )
    ]
    assert got[OPERATING_SYSTEM] == [
        entry(
            oid,
            oid,
            OPERATING_SYSTEM,
            {
                "application": ObjectRef(None, "Debian GNU/Linux", "", *OS_OBJ),
                "application_type": OS_TYPE,
                "application_priority": PRIMARY,
                "assigned_version": DialogRef(None, "12"),
                "description": "6.1.0-18-amd64",
            },
        )
    ]
    # an inventory category read for another record status than "normal" is empty
    assert svc.cmdb.entries(admin, [oid], [MODEL], Status.ARCHIVED)[oid] == {MODEL: []}


def test_a_reported_inventory_is_the_computers_drives_ports_addresses_and_applications(
    svc: Services, admin: Actor, runtime: Runtime
) -> None:
    cid, oid = reported(svc, admin, FULL)
    got = svc.cmdb.entries(admin, [oid], [DRIVE, NETWORK_PORT, IP, APPLICATION])[oid]
    root, data = ids(runtime, ComputerFilesystem, cid)
    assert got[DRIVE] == [
        entry(
            root,
            oid,
            DRIVE,
            {
                "mount_point": "/",
                "title": "/dev/sda1",
                "filesystem": EXT3,  # "ext3" is the built-in item of that title in any case
                "capacity": 100.0,
                "unit": GB,
                "free_space": 25.11,  # 25 GiB and 123,456,789 bytes (0.115 GiB)
                "free_space_unit": GB,
                "used_space": 74.89,
                "used_space_unit": GB,
                "description": None,
            },
        ),
        entry(
            data,
            oid,
            DRIVE,
            {
                "mount_point": "/data",
                "title": "/data",  # no device: the mount point
                "filesystem": DialogRef(None, "btrfs"),  # no built-in item: the title alone
                "capacity": 2.0,
                "unit": GB,
                "free_space": 3.0,
                "free_space_unit": GB,
                "used_space": 0.0,
                "used_space_unit": GB,
                "description": None,
            },
        ),
    ]
    eth0, wlan0, lo = ids(runtime, ComputerInterface, cid)
    assert got[NETWORK_PORT] == [
        entry(
            eth0,
            oid,
            NETWORK_PORT,
            {"title": "eth0", "mac": "aa:bb:cc:dd:ee:01", "active": YES, "description": None},
        ),
        entry(wlan0, oid, NETWORK_PORT, {"title": "wlan0", "mac": None, "active": YES, "description": None}),
        entry(lo, oid, NETWORK_PORT, {"title": "lo", "mac": None, "active": YES, "description": None}),
    ]

    def ip(entry_id: int, v6: bool, primary: bool, address: str, port: str) -> Entry:
        return entry(
            entry_id,
            oid,
            IP,
            {
                "net_type": IPV6 if v6 else IPV4,
                "primary": YES if primary else NO,
                "active": YES,
                "ipv4_address": None if v6 else address,
                "ipv6_address": address if v6 else None,
                "hostaddress": address,
                "hostname": "pc1",
                "domain": "corp.example",
                "assigned_port": port,
                "description": None,
            },
        )

    assert got[IP] == [
        ip(eth0 * 1000, False, True, "10.1.2.3", "eth0"),
        ip(eth0 * 1000 + 1, True, False, "fe80::1", "eth0"),
        ip(wlan0 * 1000, False, False, "192.168.7.9", "wlan0"),
    ]
    curl, bash = ids(runtime, ComputerSoftware, cid)
    assert got[APPLICATION] == [
        entry(
            curl,
            oid,
            APPLICATION,
            {
                "application": ObjectRef(None, "curl", "", *APP),
                "application_type": SOFTWARE,
                "application_priority": None,
                "assigned_version": DialogRef(None, "7.88.1"),
                "description": "command line tool for transferring data",
            },
        ),
        entry(
            bash,
            oid,
            APPLICATION,
            {
                "application": ObjectRef(None, "bash", "", *APP),
                "application_type": SOFTWARE,
                "application_priority": None,
                "assigned_version": None,
                "description": None,
            },
        ),
    ]


def test_a_computer_that_reported_nothing_has_only_its_model_entry(svc: Services, admin: Actor) -> None:
    cid = svc.computers.create(admin, "bare").id
    oid = svc.cmdb.object_of_computer(admin, cid)
    assert oid is not None
    got = svc.cmdb.entries(
        admin, [oid], [MODEL, CPU, MEMORY, DRIVE, NETWORK_PORT, IP, OPERATING_SYSTEM, APPLICATION]
    )
    empty = {
        "manufacturer": None,
        "title": None,
        "productid": None,
        "service_tag": None,
        "serial": None,
        "firmware": None,
        "description": None,
    }
    assert got == {
        oid: {
            MODEL: [entry(oid, oid, MODEL, empty)],
            CPU: [],
            MEMORY: [],
            DRIVE: [],
            NETWORK_PORT: [],
            IP: [],
            OPERATING_SYSTEM: [],
            APPLICATION: [],
        }
    }


def test_a_viewer_reads_the_inventory_categories_and_a_stranger_does_not(svc: Services, admin: Actor) -> None:
    _, oid = reported(svc, admin, FULL)
    viewer = factories.user(svc, Role.VIEWER)
    assert [e.values["cores"] for e in svc.cmdb.entries(viewer, [oid], [CPU])[oid][CPU]] == [4]
    end_user = factories.user(svc, Role.END_USER)
    with pytest.raises(Exception, match=r"lacks permission read$"):
        svc.cmdb.entries(end_user, [oid], [CPU])


# ------------------------------------------------------------------ render, called directly


def test_the_model_entry_keeps_an_unknown_manufacturer_by_its_title() -> None:
    c = computer(manufacturer="LENOVO", model="", serial="", bios_version="")
    [e] = render(MODEL, 41, c)
    assert e == entry(
        41,
        41,
        MODEL,
        {
            "manufacturer": DialogRef(None, "LENOVO"),
            "title": None,
            "productid": None,
            "service_tag": None,
            "serial": None,
            "firmware": None,
            "description": None,
        },
    )
    assert e.inventory is True and e.status == 2


@pytest.mark.parametrize(
    ("model", "maker"),
    [
        ("Intel(R) Xeon(R) Gold 6130", DialogRef(2, "Intel")),
        ("AMD Ryzen 7 5800X", DialogRef(1, "AMD")),
        ("amd epyc 7302 (intel-compatible)", DialogRef(2, "Intel")),  # the first maker named wins
        ("IBM POWER9", DialogRef(3, "IBM")),
        ("motorola 68040", DialogRef(4, "Motorola")),
        ("Apple M2", None),
    ],
)
def test_the_cpu_maker_is_the_first_known_maker_its_model_names(model: str, maker: DialogRef | None) -> None:
    [e] = render(CPU, 5, computer(cpu_model=model, cpu_cores=8))
    assert (e.id, e.object_id, e.category) == (5, 5, CPU)
    assert e.values == {
        "title": model,
        "manufacturer": maker,
        "type": None,
        "frequency": None,
        "frequency_unit": None,
        "cores": 8,
        "description": None,
    }


def test_a_cpu_entry_needs_a_model_or_a_core_count() -> None:
    assert render(CPU, 5, computer()) == []
    [only_cores] = render(CPU, 5, computer(cpu_cores=2))
    assert (only_cores.values["title"], only_cores.values["manufacturer"], only_cores.values["cores"]) == (
        None,
        None,
        2,
    )
    [only_model] = render(CPU, 5, computer(cpu_model="AMD Athlon"))
    assert (only_model.values["title"], only_model.values["manufacturer"], only_model.values["cores"]) == (
        "AMD Athlon",
        DialogRef(1, "AMD"),
        None,
    )


def test_memory_is_in_gib_rounded_to_two_places_and_none_without_ram() -> None:
    assert render(MEMORY, 3, computer(ram_bytes=0)) == []
    [e] = render(MEMORY, 3, computer(ram_bytes=int(1.23456 * GIB)))
    assert e == entry(
        3,
        3,
        MEMORY,
        {
            "title": None,
            "manufacturer": None,
            "type": None,
            "capacity": 1.23,
            "unit": GB,
            "description": None,
        },
    )
    assert render(MEMORY, 3, computer(ram_bytes=int(7.98765 * GIB)))[0].values["capacity"] == 7.99
    assert inventory._gib(GIB * 3 // 2) == 1.5
    assert inventory._gib(0) == 0.0


def test_a_drive_reports_its_capacity_free_and_used_space_in_gib() -> None:
    fs = [
        SimpleNamespace(
            id=11,
            device="C:",
            mountpoint="C:\\",
            fstype="NTFS",
            size_bytes=int(500.004 * GIB),
            free_bytes=GIB,
        ),
        SimpleNamespace(id=12, device="", mountpoint="/boot", fstype="", size_bytes=GIB, free_bytes=GIB // 4),
    ]
    c, d = render(DRIVE, 9, computer(), filesystems=fs)
    assert c == entry(
        11,
        9,
        DRIVE,
        {
            "mount_point": "C:\\",
            "title": "C:",
            "filesystem": NTFS,
            "capacity": 500.0,
            "unit": GB,
            "free_space": 1.0,
            "free_space_unit": GB,
            "used_space": 499.0,
            "used_space_unit": GB,
            "description": None,
        },
    )
    assert (d.id, d.values["title"], d.values["filesystem"], d.values["used_space"]) == (
        12,
        "/boot",
        None,
        0.75,
    )
    assert render(DRIVE, 9, computer()) == []


def test_a_network_port_is_one_active_entry_per_interface() -> None:
    rows = [
        SimpleNamespace(id=14, name="eth1", mac="00:11:22:33:44:55", addresses=[]),
        SimpleNamespace(id=13, name="docker0", mac="", addresses=None),
    ]
    assert render(NETWORK_PORT, 4, computer(), interfaces=rows) == [
        entry(
            14,
            4,
            NETWORK_PORT,
            {"title": "eth1", "mac": "00:11:22:33:44:55", "active": YES, "description": None},
        ),
        entry(13, 4, NETWORK_PORT, {"title": "docker0", "mac": None, "active": YES, "description": None}),
    ]
    assert render(NETWORK_PORT, 4, computer()) == []


def test_the_model_entry_of_a_known_manufacturer_and_a_model() -> None:
    c = computer(manufacturer="NOT SPECIFIED", model="OptiPlex 7010", serial="S1", bios_version="A29")
    assert render(MODEL, 12, c)[0].values == {
        "manufacturer": DialogRef(1, "Not specified", "C__MODEL_NOT_SPECIFIED"),
        "title": DialogRef(None, "OptiPlex 7010"),
        "productid": None,
        "service_tag": None,
        "serial": "S1",
        "firmware": "A29",
        "description": None,
    }


def test_ip_entries_are_numbered_by_interface_and_position_and_only_the_first_is_primary() -> None:
    eth = SimpleNamespace(
        id=4,
        name="eth0",
        addresses=[
            {"address": "2001:db8::5"},  # no family: the colon makes it IPv6
            {"address": "10.0.0.5", "family": "ipv4"},
            {"address": "fe80::9", "family": "ipv6"},
            {"family": "ipv6"},  # no address: an empty IPv6 one
        ],
    )
    none = SimpleNamespace(id=5, name="tun0", addresses=None)
    odd = SimpleNamespace(id=6, name="odd0", addresses=[{"address": "1.2.3.4", "family": "ipv6"}])
    got = render(IP, 2, computer(hostname="srv", domain=""), interfaces=[none, eth, odd])
    assert [(e.id, e.object_id, e.category, e.inventory) for e in got] == [
        (4000, 2, IP, True),
        (4001, 2, IP, True),
        (4002, 2, IP, True),
        (4003, 2, IP, True),
        (6000, 2, IP, True),
    ]
    assert [
        (v["net_type"], v["primary"], v["ipv4_address"], v["ipv6_address"], v["hostaddress"])
        for v in (e.values for e in got)
    ] == [
        (IPV6, YES, None, "2001:db8::5", "2001:db8::5"),
        (IPV4, NO, "10.0.0.5", None, "10.0.0.5"),
        (IPV6, NO, None, "fe80::9", "fe80::9"),
        (IPV6, NO, None, "", ""),
        (IPV6, NO, None, "1.2.3.4", "1.2.3.4"),  # reported as IPv6: shown as IPv6
    ]
    assert {(v["active"], v["hostname"], v["domain"], v["description"]) for v in (e.values for e in got)} == {
        (YES, "srv", None, None)
    }
    assert [e.values["assigned_port"] for e in got] == ["eth0"] * 4 + ["odd0"]
    assert render(IP, 2, computer(), interfaces=[none]) == []


def test_the_operating_system_entry_without_version_or_kernel() -> None:
    assert render(OPERATING_SYSTEM, 8, computer(os_version="11", kernel="x")) == []
    [e] = render(OPERATING_SYSTEM, 8, computer(os="Windows 11 Pro"))
    assert e == entry(
        8,
        8,
        OPERATING_SYSTEM,
        {
            "application": ObjectRef(None, "Windows 11 Pro", "", *OS_OBJ),
            "application_type": OS_TYPE,
            "application_priority": PRIMARY,
            "assigned_version": None,
            "description": None,
        },
    )


def test_applications_are_one_entry_per_software_row_in_order() -> None:
    rows = [
        SimpleNamespace(id=30, name="zsh", version="5.9", description=""),
        SimpleNamespace(id=21, name="7-Zip", version="", description="archiver"),
    ]
    got = render(APPLICATION, 6, computer(), software=rows)
    assert got == [
        entry(
            30,
            6,
            APPLICATION,
            {
                "application": ObjectRef(None, "zsh", "", *APP),
                "application_type": SOFTWARE,
                "application_priority": None,
                "assigned_version": DialogRef(None, "5.9"),
                "description": None,
            },
        ),
        entry(
            21,
            6,
            APPLICATION,
            {
                "application": ObjectRef(None, "7-Zip", "", *APP),
                "application_type": SOFTWARE,
                "application_priority": None,
                "assigned_version": None,
                "description": "archiver",
            },
        ),
    ]
    assert render(APPLICATION, 6, computer()) == []


def test_a_category_that_is_no_inventory_category_renders_nothing() -> None:
    c = computer(os="Linux", cpu_model="Intel", ram_bytes=GIB)
    assert render("C__CATG__GLOBAL", 1, c) == []
    assert (
        render(
            "C__CATG__CONTACT", 1, c, software=[SimpleNamespace(id=1, name="x", version="", description="")]
        )
        == []
    )


def test_dialog_values_by_id_and_by_title() -> None:
    assert dialog("isys_memory_unit", 4) == DialogRef(4, "TB", "C__MEMORY_UNIT__TB")
    assert dialog("isys_memory_unit", 1000) == DialogRef(1000, "B", "C__MEMORY_UNIT__B")
    assert dialog("isys_memory_unit", 99) == DialogRef(99, "")  # no such item: the id alone
    assert dialog("no_such_table", 1) == DialogRef(1, "")
    assert dialog_by_title("isys_filesystem_type", "linux swap") == DialogRef(
        4, "LINUX SWAP", "C__FILESYSTEM_TYPE__LINUX_SWAP"
    )
    assert dialog_by_title("isys_filesystem_type", "FAT32") == DialogRef(
        2, "FAT32", "C__FILESYSTEM_TYPE__FAT32"
    )
    assert dialog_by_title("isys_filesystem_type", "Fat") == DialogRef(1, "FAT", "C__FILESYSTEM_TYPE__FAT")
    assert dialog_by_title("isys_filesystem_type", "zfs") == DialogRef(None, "zfs")
    assert dialog_by_title("no_such_table", "NTFS") == DialogRef(None, "NTFS")
    assert dialog_by_title("isys_filesystem_type", "") is None
    assert yes_no(True) == DialogRef(1, "Yes", "") and yes_no(False) == DialogRef(0, "No", "")


def test_software_objects_name_their_object_type() -> None:
    assert inventory._software("Ubuntu", "C__OBJTYPE__OPERATING_SYSTEM") == ObjectRef(
        None, "Ubuntu", "", *OS_OBJ
    )
    assert inventory._software("vim", "C__OBJTYPE__APPLICATION") == ObjectRef(None, "vim", "", *APP)
    with pytest.raises(KeyError):
        inventory._software("x", "C__OBJTYPE__NO_SUCH")
