from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.computers.entities import Presence
from fleetdeck.core.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
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


def test_inventory_changes_are_audited_by_section(runtime: Runtime, admin: Actor, system: Actor) -> None:
    svc = runtime.services.computers
    c = svc.create(admin, "pc1")
    inv = inventory()
    changed = svc.record_inventory(system, c.id, inv, m.inventory_digest(inv))
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "computer.inventory"),)))
    assert [(e.object_id, e.detail) for e in page.items] == [(str(c.id), {"changed": changed})]


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


def test_an_unqualified_report_still_records_everything_after_the_name(
    runtime: Runtime, admin: Actor
) -> None:
    """Keeping an admin's qualified name skips only that name: the facts the agent reports
    beside it (operating system, version, architecture, memory) are stored."""
    svc = runtime.services.computers
    cid = svc.create(admin, "ws-1", fqdn="ws-1.corp.example").id
    inv = inventory(hostname="ws-1", fqdn="ws-1")  # Debian 12, x86_64, 8 GiB
    svc.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))
    got = svc.get(admin, cid).summary
    assert (got.fqdn, got.os, got.os_version, got.architecture, got.ram_bytes) == (
        "ws-1.corp.example",
        "Debian GNU/Linux",
        "12",
        "x86_64",
        8 << 30,
    )


# ------------------------------------------------------------------ the computer service

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)


def test_create_checks_names(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    made = svc.create(OPERATOR, "  Web-1 ", notes="rack 3", fqdn=" Web-1.Corp.Example ")
    assert (made.hostname, made.notes, made.fqdn, made.enrolled, made.online) == (
        "Web-1",
        "rack 3",
        "web-1.corp.example",
        False,
        False,
    )
    assert len(made.uid) == 32 and made.uid != svc.create(admin, "web-2").uid
    assert svc.get(admin, made.id).created_by == "op"
    with pytest.raises(Conflict) as err:
        svc.create(admin, "WEB-1")
    assert err.value.detail == {"field": "hostname"}
    for hostname, fqdn, field in (("", "", "hostname"), ("   ", "", "hostname"), ("h" * 256, "", "hostname")):
        with pytest.raises(ValidationFailed) as verr:
            svc.create(admin, hostname, fqdn=fqdn)
        assert verr.value.field == field
    with pytest.raises(ValidationFailed) as verr:
        svc.create(admin, "x", fqdn="f" * 256)
    assert verr.value.field == "fqdn"
    assert svc.create(admin, "h" * 255, fqdn="f" * 255).hostname == "h" * 255
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "computer.create"),)))
    assert page.items[-1].detail == {"hostname": "Web-1"} and page.items[-1].object_id == str(made.id)


def test_find_by_query_and_group(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    ids = [svc.create(admin, name).id for name in ("c", "a", "b")]
    group = runtime.services.groups.create(admin, "g")
    runtime.services.groups.add_members(admin, group.id, ids[:2])
    page = svc.find(VIEWER, Query(sort=(SortKey("hostname"),)))
    assert [c.hostname for c in page.items] == ["a", "b", "c"] and page.total == 3
    page = svc.find(VIEWER, Query(sort=(SortKey("hostname"),), limit=1), group_id=group.id)
    assert [c.hostname for c in page.items] == ["a"] and page.total == 2
    detailed = svc.find_detailed(VIEWER, Query(sort=(SortKey("hostname"),)), group_id=group.id)
    assert [c.hostname for c in detailed.items] == ["a", "c"] and detailed.total == 2
    everything = svc.find_detailed(VIEWER, Query(where=(Cond("hostname", Op.EQ, "b"),)))
    assert everything.total == 1 and everything.items[0].id == ids[2]
    assert everything.items[0].created_by == "admin"
    assert svc.exists([ids[0], 4242, ids[2]]) == {ids[0], ids[2]}
    assert svc.exists([]) == set()


def test_detail_lists_groups_by_name(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    cid = svc.create(admin, "pc").id
    for name in ("zeta", "alpha"):
        g = runtime.services.groups.create(admin, name)
        runtime.services.groups.add_members(admin, g.id, [cid])
    groups = svc.get(VIEWER, cid).groups
    assert [(g.key, g.name) for g in groups] == [("alpha", "alpha"), ("zeta", "zeta")]


def test_update_notes_and_fqdn(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    a = svc.create(admin, "a").id
    b = svc.create(admin, "b", fqdn="b.corp.example").id
    assert svc.update(OPERATOR, a, notes="new").notes == "new"
    assert svc.update(admin, a, fqdn=" A.Corp.Example. ").fqdn == "a.corp.example"
    assert svc.update(admin, a).notes == "new"
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "computer.update"),)))
    assert [e.detail for e in reversed(page.items)] == [
        {"notes": ["", "new"]},
        {"fqdn": ["", "a.corp.example"]},
        {},
    ]
    assert svc.update(admin, a, notes="new", fqdn="a.corp.example").fqdn == "a.corp.example"
    assert runtime.services.audit.find(admin, Query()).items[0].detail == {}  # nothing changed
    with pytest.raises(Conflict) as err:
        svc.update(admin, a, fqdn="B.corp.example")
    assert err.value.detail == {"field": "fqdn"}
    for bad in ("a.lan", "localhost6.localdomain6", "a." + "x" * 250 + ".example"):
        with pytest.raises(ValidationFailed) as verr:
            svc.update(admin, a, fqdn=bad)
        assert verr.value.field == "fqdn"
    assert svc.update(admin, b, fqdn="b.corp.example").fqdn == "b.corp.example"  # its own name
    with pytest.raises(NotFound):
        svc.update(admin, 4242, notes="x")
    with pytest.raises(PermissionDenied):
        svc.update(VIEWER, a, notes="x")


def test_delete(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    c = svc.create(admin, "gone")
    with pytest.raises(PermissionDenied):
        svc.delete(VIEWER, c.id)
    svc.delete(admin, c.id)
    assert svc.exists([c.id]) == set()
    entry = runtime.services.audit.find(admin, Query()).items[0]
    assert (entry.action, entry.detail) == ("computer.delete", {"hostname": "gone", "uid": c.uid})
    with pytest.raises(NotFound):
        svc.delete(admin, c.id)
    with pytest.raises(NotFound):
        svc.record_inventory(system_actor("agent"), c.id, inventory(), "d")
    assert svc.inventory_digest(c.id) == ""


def test_network_identities(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    a, b, bare = (svc.create(admin, n).id for n in ("a", "b", "bare"))
    inv = inventory(
        network_interfaces=[
            m.NetworkInterface(
                name="eth1",
                mac="52:54:00:AA:BB:02",
                addresses=[
                    m.Address(address="10.0.0.2", family="ipv4"),
                    m.Address(address="127.0.0.1", family="ipv4"),
                    m.Address(address="fe80::1", family="ipv6"),
                ],
            ),
            m.NetworkInterface(
                name="eth0", mac="52:54:00:AA:BB:01", addresses=[m.Address(address="10.0.0.1", family="ipv4")]
            ),
            m.NetworkInterface(
                name="lo", mac="00:00:00:00:00:00", addresses=[m.Address(address="127.0.0.1", family="ipv4")]
            ),
            m.NetworkInterface(name="tun0", mac=""),
        ]
    )
    svc.record_inventory(system_actor("agent"), a, inv, "d1")
    svc.record_inventory(system_actor("agent"), b, inventory(), "d2")
    found = svc.network_identities(VIEWER)
    assert set(found) == {a, b}
    assert found[a].macs == ["52:54:00:aa:bb:01", "52:54:00:aa:bb:02"]
    assert found[a].ipv4 == ["10.0.0.1", "10.0.0.2"]
    assert found[b].ipv4 == ["10.0.0.5"]
    assert set(svc.network_identities(VIEWER, [b, bare])) == {b}
    assert svc.network_identities(VIEWER, []) == {}


def test_presence_is_batched_and_per_node(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    a, b = svc.create(admin, "a").id, svc.create(admin, "b").id
    svc.set_presence(
        [Presence(a, "10.0.0.1" + "x" * 100, "1.0" + "v" * 100), Presence(b, "10.0.0.2", "2.0")],
        [],
        node_id="n1",
    )
    sa, sb = svc.get(admin, a).summary, svc.get(admin, b).summary
    assert sa.online and sb.online and sa.last_seen is not None
    assert (len(sa.remote_address), len(sa.agent_version), sb.remote_address, sb.agent_version) == (
        64,
        50,
        "10.0.0.2",
        "2.0",
    )
    svc.set_presence([Presence(b, "10.0.0.3", "2.1")], [a], node_id="n1")  # one batch: a left, b moved
    assert not svc.get(admin, a).summary.online
    assert svc.get(admin, b).summary.remote_address == "10.0.0.3"
    svc.set_presence([], [], node_id="n1")  # nothing to do
    svc.set_online(a, node_id="n2", remote_address="10.0.0.1", agent_version="1")
    assert svc.reset_presence("n1") == 1  # only b was held by n1
    assert svc.get(admin, a).summary.online and not svc.get(admin, b).summary.online
    svc.set_offline([a], node_id="n2")
    assert not svc.get(admin, a).summary.online
    assert svc.reset_presence("n2") == 0
    seen = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    svc.touch({a: seen})
    svc.touch({})
    last = svc.get(admin, a).summary.last_seen
    assert last is not None and last.replace(tzinfo=UTC) == seen


def test_list_rows_are_the_detail_scalars(runtime: Runtime, admin: Actor, system: Actor) -> None:
    """``find_detailed`` reads columns into ``ComputerRow`` by position: every field must be what
    ``get`` says, for an enrolled computer with an inventory and a bare pre-registered one."""
    svc = runtime.services.computers
    token = runtime.services.enrollment.create_token(admin, max_uses=None)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname="pc1", machine_id="m" * 32, agent_version="1.2", source="10.0.0.9"
    )
    boot = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    inv = inventory(boot_time=boot.timestamp(), domain="example.org")
    svc.record_inventory(system, creds.computer_id, inv, m.inventory_digest(inv))
    bare = svc.create(admin, "bare", notes="by hand")
    rows = {r.id: r for r in svc.find_detailed(VIEWER, Query(limit=None)).items}
    for cid in (creds.computer_id, bare.id):
        assert rows[cid] == svc.get(VIEWER, cid).row()
    assert rows[creds.computer_id].enrolled is True and rows[bare.id].enrolled is False
    assert rows[creds.computer_id].boot_time == boot
