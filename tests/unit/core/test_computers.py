from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied
from fleetdeck.protocol import messages as m


def inventory(**overrides: object) -> m.Inventory:
    base = m.Inventory(
        hostname="pc1",
        os="Debian GNU/Linux",
        os_version="12",
        kernel="6.1.0",
        architecture="x86_64",
        cpu_model="Xeon",
        cpu_cores=4,
        ram_bytes=8 << 30,
        filesystems=[m.Filesystem(mountpoint="/", fstype="ext4", size_bytes=100, free_bytes=40)],
        network_interfaces=[
            m.NetworkInterface(
                name="eth0",
                mac="52:54:00:12:34:56",
                addresses=[m.Address(address="10.0.0.5", family="ipv4", netmask="255.255.255.0")],
            )
        ],
        software=[m.Software(name="openssl", version="3.0.11")],
        logged_in_users=[m.LoggedInUser(name="alice", terminal="pts/0")],
    )
    for k, v in overrides.items():
        setattr(base, k, v)
    return base


def test_inventory_roundtrip_and_section_diff(runtime: Runtime, admin: Actor, system: Actor) -> None:
    svc = runtime.services.computers
    c = svc.create(admin, "pc1")
    inv = inventory()
    changed = svc.record_inventory(system, c.id, inv, m.inventory_digest(inv))
    assert {"filesystems", "software", "network_interfaces", "logged_in_users", "os"} <= set(changed)
    detail = svc.get(admin, c.id)
    assert detail.summary.ram_bytes == 8 << 30 and detail.cpu_cores == 4
    assert detail.filesystems[0].mountpoint == "/" and detail.software[0].version == "3.0.11"
    assert detail.network_interfaces[0].addresses[0]["address"] == "10.0.0.5"
    # Same inventory again: nothing rewritten. One new package: only that section.
    assert svc.record_inventory(system, c.id, inv, m.inventory_digest(inv)) == []
    inv2 = inventory(
        software=[m.Software(name="openssl", version="3.0.11"), m.Software(name="vim", version="9")]
    )
    assert svc.record_inventory(system, c.id, inv2, m.inventory_digest(inv2)) == ["software"]
    assert svc.inventory_digest(c.id) == m.inventory_digest(inv2)


def test_pre_registration_and_permissions(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    svc.create(admin, "PC9")
    with pytest.raises(Conflict):
        svc.create(admin, "pc9")
    viewer = Actor(user_id=None, username="v", role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.create(viewer, "pc10")
    with pytest.raises(NotFound):
        svc.get(admin, 12345)


def test_enrollment_takes_over_a_pre_registered_computer(runtime: Runtime, admin: Actor) -> None:
    pre = runtime.services.computers.create(admin, "kiosk-7", notes="lobby")
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname="kiosk-7", machine_id="abc", agent_version="1", source="127.0.0.1"
    )
    assert creds.computer_id == pre.id and len(creds.key) == 32
    ident = runtime.services.enrollment.authenticate_agent(creds.uid, creds.key)
    assert ident.computer_id == pre.id and ident.inventory_digest == ""  # no inventory yet: ask for one
    inv = inventory()
    runtime.services.computers.record_inventory(system_actor("agent"), pre.id, inv, m.inventory_digest(inv))
    again = runtime.services.enrollment.authenticate_agent(creds.uid, creds.key)
    assert again.inventory_digest == m.inventory_digest(inv)  # the hello compares it with the agent's
    with pytest.raises(AuthenticationFailed):
        runtime.services.enrollment.authenticate_agent(creds.uid, "0" * 32)
    with pytest.raises(AuthenticationFailed):  # single use
        runtime.services.enrollment.enroll(
            token.token, hostname="other", machine_id="", agent_version="1", source="127.0.0.1"
        )
    assert runtime.services.enrollment.agent_key(admin, pre.id) == creds.key  # encrypted, recoverable


def test_presence(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    c = svc.create(admin, "pc1")
    svc.set_online(c.id, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    assert svc.get(admin, c.id).summary.online
    svc.set_offline([c.id], node_id="other-node")  # another node's disconnect must not touch it
    assert svc.get(admin, c.id).summary.online
    assert svc.reset_presence("n1") == 1
    assert not svc.get(admin, c.id).summary.online


def test_a_given_fqdn_survives_an_unqualified_report(runtime: Runtime, admin: Actor) -> None:
    """A computer pre-registered as ws-1.corp.example keeps that name when its agent reports only
    a bare or loopback name, so dialects that identify hosts by FQDN (opsi) see a stable id."""
    from fleetdeck.protocol import messages as m

    cid = runtime.services.computers.create(admin, "ws-1", fqdn="ws-1.corp.example").id
    for fqdn in ("", "localhost", "ws-1.lan"):
        inv = m.Inventory(hostname="ws-1", fqdn=fqdn)
        runtime.services.computers.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))
        assert runtime.services.computers.get(admin, cid).summary.fqdn == "ws-1.corp.example"
    inv = m.Inventory(hostname="ws-1", fqdn="ws-1.real.example.org")
    runtime.services.computers.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))
    assert runtime.services.computers.get(admin, cid).summary.fqdn == "ws-1.real.example.org"
