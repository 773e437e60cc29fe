"""Data for the replay test, built through core services only (like factories).

The seed's ids (computer 116, group 102, ...) cannot be forced onto a fresh database, so the
replay rewrites the ids in each example request to the ids created here (``World.ids``); the
mapping is explicit per method in ``test_replay.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as msg


def inventory(hostname: str) -> msg.Inventory:
    now = time.time()
    return msg.Inventory(
        hostname=hostname,
        fqdn=f"{hostname.lower()}.example.test",
        os="Windows 7 Home Premium",
        os_version="6.1.7601",
        os_family="windows",
        kernel="6.1.7601",
        architecture="AMD64",
        cpu_model="AMD64 Family 23 Model 8 Stepping 2, AuthenticAMD",
        cpu_cores=2,
        cpu_threads=4,
        ram_bytes=4294500352,
        boot_time=now - 3600,
        manufacturer="innotek GmbH",
        model="VirtualBox",
        serial="0",
        bios_version="VBOX   - 1",
        machine_id="abc",
        domain="vm2-PC",
        timezone="Europe/Berlin",
        filesystems=[
            msg.Filesystem(
                mountpoint="C:",
                fstype="NTFS",
                size_bytes=34252779520,
                free_bytes=600092672,
                device="\\\\?\\X",
            )
        ],
        network_interfaces=[
            msg.NetworkInterface(
                name="Ethernet0",
                mac="08:00:27:31:5b:c4",
                addresses=[
                    msg.Address(
                        address="10.0.2.15", family="ipv4", netmask="255.255.255.0", broadcast="10.0.2.255"
                    )
                ],
            )
        ],
        software=[
            msg.Software(name="VLC media player", version="2.2.1", description="Copyright the VideoLAN team")
        ],
        logged_in_users=[
            msg.LoggedInUser(name="hulk", terminal="console", started=now - 60),
            msg.LoggedInUser(name="hulk", terminal="rdp", started=now - 30),
        ],
    )


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def build_computers(runtime: Runtime, admin: Actor, system: Actor, world: World) -> None:
    s = runtime.services
    linux = s.groups.create(admin, "Linux Clients")
    windows = s.groups.create(admin, "Windows Clients")
    s.groups.create(admin, "Desks", parent_id=windows.id)
    pc = s.computers.create(admin, "VM002", "")
    s.computers.record_inventory(system, pc.id, inventory("VM002"), "digest-1")
    s.computers.set_online(pc.id, node_id="test", remote_address="10.0.2.15", agent_version="0.8.0")
    s.groups.add_members(admin, windows.id, [pc.id])
    spare = s.computers.create(admin, "PC02", "")
    s.computers.record_inventory(system, spare.id, inventory("PC02"), "digest-2")
    s.computers.set_online(spare.id, node_id="test", remote_address="10.0.2.16", agent_version="0.8.0")
    world.ids.update(computer=pc.id, spare_computer=spare.id, computer_group=windows.id, linux_group=linux.id)


def build_all(runtime: Runtime, admin: Actor, system: Actor, world: World) -> None:
    """Computers and groups, plus packages, package groups, installations, a job container
    with a pending job, a deployment rule and a report, so that every section has rows."""
    from fleetdeck.core.packages.entities import PackageFields, PayloadFile

    build_computers(runtime, admin, system, world)
    s = runtime.services
    s.settings.set(admin, "wol.broadcast_addresses", ["127.0.0.1"])  # magic packets stay local
    ids = world.ids

    def package(family: str, version: str, files: list[PayloadFile] | None = None) -> int:
        fields = PackageFields(
            description="",
            install_procedure=f"msiexec /quiet /i {family.lower()}_{version}.msi",
            uninstall_procedure=f"msiexec /quiet /x {family.lower()}_{version}.msi",
            download_for_uninstall=True,
        )
        return s.packages.create(admin, family, version, fields, files=files or []).id

    payload = [PayloadFile(name="setup.msi", content=b"not really an msi")]
    ids["package_old"] = package("CDBurnerXP", "4.5.0.3661", payload)
    ids["package"] = package("CDBurnerXP", "4.5.8.7128", payload)
    ids["package_spare"] = package("Spare", "1.0")
    ids["family"] = s.packages.get(admin, ids["package"]).package.family_id
    ids["package_group"] = s.packages.create_group(admin, "Test Group 1").id
    ids["package_group_windows"] = s.packages.create_group(admin, "Windows").id
    s.packages.add_to_group(admin, ids["package_group"], ids["package_old"])
    s.packages.add_to_group(admin, ids["package_group_windows"], ids["package_old"])
    s.packages.add_to_group(admin, ids["package_group_windows"], ids["package"])
    ids["installation"] = s.packages.assign_installation(admin, ids["computer"], ids["package_old"]).id
    ids["installation_spare"] = s.packages.assign_installation(
        admin, ids["spare_computer"], ids["package"]
    ).id
    created = s.deployments.deploy(
        admin, "Install VM002", computer_ids=[ids["computer"]], package_ids=[ids["package"]]
    )
    ids["container"], ids["job"] = created.id, created.job_ids[0]
    ids["rule"] = s.deployments.create_rule(
        admin, "Regel Nummer 1", ids["computer_group"], ids["package_group"]
    ).id
    ids["report_group"] = s.reports.groups.create(admin, "Reports").id
    ids["report"] = s.reports.create(
        admin,
        "Computers",
        "SELECT id AS computer_id, hostname, os, os_version, agent_version FROM computers ORDER BY id",
        group_id=ids["report_group"],
    ).id
