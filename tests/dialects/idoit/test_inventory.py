"""Every computer is a CMDB object whose inventory categories are its agent's live inventory:
readable through the i-doit API without a copy, read-only there, and current after the next
inventory."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.protocol import messages as m
from tests.dialects.idoit.conftest import Idoit, counting
from tests.integration.queries.test_list_query_counts import fewest

INVENTORY = [
    "C__CATG__MODEL",
    "C__CATG__CPU",
    "C__CATG__MEMORY",
    "C__CATG__DRIVE",
    "C__CATG__NETWORK_PORT",
    "C__CATG__IP",
    "C__CATG__OPERATING_SYSTEM",
    "C__CATG__APPLICATION",
]


def inventory(software: list[m.Software], os: str = "Ubuntu", os_version: str = "24.04 LTS") -> m.Inventory:
    return m.Inventory(
        hostname="ws-17",
        os=os,
        os_version=os_version,
        kernel="6.8.0",
        cpu_model="Intel(R) Core(TM) i7-1185G7",
        cpu_cores=4,
        ram_bytes=16 * 1024**3,
        manufacturer="Lenovo",
        model="ThinkPad T14",
        serial="PF-123",
        bios_version="N34ET55W",
        domain="example.test",
        filesystems=[m.Filesystem("/", "ext4", 500 * 1024**3, 200 * 1024**3, device="/dev/nvme0n1p2")],
        network_interfaces=[
            m.NetworkInterface(
                "eth0",
                "52:54:00:12:34:56",
                [m.Address("192.0.2.17", "ipv4", "255.255.255.0"), m.Address("2001:db8::17", "ipv6")],
            )
        ],
        software=software,
    )


def report(runtime: Runtime, computer_id: int, inv: m.Inventory) -> None:
    """What the agent endpoint does with an inventory frame, as the agent."""
    runtime.services.computers.record_inventory(
        agent_actor(computer_id, inv.hostname, "127.0.0.1"), computer_id, inv, m.inventory_digest(inv)
    )


def test_enrolled_computer_is_an_object_with_inventory_categories(
    idoit: Idoit, runtime: Runtime, admin: Actor
) -> None:
    cid = runtime.services.computers.create(admin, "ws-17").id
    report(runtime, cid, inventory([m.Software("firefox", "128.0", "web browser")]))
    (row,) = idoit.ok("cmdb.objects.read", {"filter": {"title": "ws-17"}, "categories": INVENTORY})
    assert (row["type"], row["title"]) == (10, "ws-17")  # a workstation: no server in its facts
    cats = row["categories"]
    assert cats["C__CATG__MODEL"][0]["manufacturer"]["title"] == "Lenovo"
    assert cats["C__CATG__MODEL"][0]["title"]["title"] == "ThinkPad T14"
    assert cats["C__CATG__MODEL"][0]["serial"] == "PF-123"
    assert cats["C__CATG__CPU"][0]["manufacturer"]["title"] == "Intel"
    assert cats["C__CATG__CPU"][0]["cores"] == "4"
    assert cats["C__CATG__MEMORY"][0]["capacity"] == {"title": 16}
    assert cats["C__CATG__MEMORY"][0]["unit"]["title"] == "GB"
    assert cats["C__CATG__DRIVE"][0]["mount_point"] == "/"
    assert cats["C__CATG__NETWORK_PORT"][0]["mac"] == "52:54:00:12:34:56"
    assert [ip["hostaddress"] for ip in cats["C__CATG__IP"]] == ["192.0.2.17", "2001:db8::17"]
    assert cats["C__CATG__IP"][0]["primary"] == {"value": "1", "title": "Yes"}
    assert cats["C__CATG__OPERATING_SYSTEM"][0]["application"]["title"] == "Ubuntu"
    assert [a["application"]["title"] for a in cats["C__CATG__APPLICATION"]] == ["firefox"]
    assert cats["C__CATG__APPLICATION"][0]["assigned_version"]["title"] == "128.0"
    read = idoit.ok("cmdb.category.read", {"objID": row["id"], "category": "C__CATG__APPLICATION"})
    assert read == cats["C__CATG__APPLICATION"]


def test_new_software_is_visible_after_the_next_inventory(
    idoit: Idoit, runtime: Runtime, admin: Actor
) -> None:
    cid = runtime.services.computers.create(admin, "ws-17").id
    report(runtime, cid, inventory([m.Software("firefox", "128.0")]))
    oid = runtime.services.cmdb.object_of_computer(admin, cid)
    params = {"objID": oid, "category": "C__CATG__APPLICATION"}
    assert [a["application"]["title"] for a in idoit.ok("cmdb.category.read", params)] == ["firefox"]
    report(runtime, cid, inventory([m.Software("firefox", "129.0"), m.Software("gimp", "2.10")]))
    rows = idoit.ok("cmdb.category.read", params)
    assert [(a["application"]["title"], a["assigned_version"]["title"]) for a in rows] == [
        ("firefox", "129.0"),
        ("gimp", "2.10"),
    ]
    hits = idoit.ok("idoit.search", {"q": "gimp"})
    assert [h["documentId"] for h in hits] == [str(oid)]


def test_inventory_categories_are_read_only(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    cid = runtime.services.computers.create(admin, "ws-17").id
    report(runtime, cid, inventory([]))
    oid = runtime.services.cmdb.object_of_computer(admin, cid)
    for category in INVENTORY:
        err = idoit.error(
            "cmdb.category.save", {"object": oid, "category": category, "data": {"description": "x"}}
        )
        assert (
            err["code"] == -32099
            and "inventory" in err["data"]["error"]
            and "read-only" in err["data"]["error"]
        )
    err = idoit.error("cmdb.object.update", {"id": oid, "title": "other"})
    assert err["code"] == -32099 and "host name" in err["data"]["error"]
    assert idoit.error("cmdb.object.purge", {"object": oid})["code"] == -32099
    # what is not inventory is editable: accounting, contacts, the general category's description
    idoit.ok(
        "cmdb.category.save",
        {"object": oid, "category": "C__CATG__ACCOUNTING", "data": {"inventory_no": "7"}},
    )
    idoit.ok(
        "cmdb.category.save",
        {"object": oid, "category": "C__CATG__GLOBAL", "data": {"description": "desk 4"}},
    )
    assert (
        idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATG__ACCOUNTING"})[0]["inventory_no"]
        == "7"
    )


def test_type_from_facts_and_changed_by_an_admin(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    cid = runtime.services.computers.create(admin, "db-1").id
    oid = runtime.services.cmdb.object_of_computer(admin, cid)
    assert idoit.ok("cmdb.object.read", {"id": oid})["objecttype"] == 10
    report(runtime, cid, inventory([], os="Windows Server 2022 Datacenter", os_version="10.0.20348"))
    assert idoit.ok("cmdb.object.read", {"id": oid})["objecttype"] == 5
    assert [r["id"] for r in idoit.ok("cmdb.objects.read", {"filter": {"type": "C__OBJTYPE__SERVER"}})] == [
        oid
    ]
    idoit.ok("cmdb.object.update", {"id": oid, "type": "C__OBJTYPE__VIRTUAL_SERVER"})
    assert idoit.ok("cmdb.object.read", {"id": oid})["objecttype"] == 59
    # archived and recycled like any object; the computer stays
    idoit.ok("cmdb.object.archive", {"object": oid})
    assert idoit.ok("cmdb.objects.read", {"filter": {"ids": [oid]}}) == []
    idoit.ok("cmdb.object.recycle", {"object": oid})
    runtime.services.computers.delete(admin, cid)
    assert idoit.ok("cmdb.object.read", {"id": oid}) == []


def test_changes_are_in_the_audit_log(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    from fleetdeck.core.query import Cond, Op, Query

    oid = idoit.ok("cmdb.object.create", {"type": 5, "title": "a"})["id"]
    idoit.ok("cmdb.object.update", {"id": oid, "title": "b"})
    idoit.ok("cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "1"}})
    idoit.ok("cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "2"}})
    rows = runtime.services.audit.find(
        admin, Query(where=(Cond("action", Op.LIKE, "cmdb_*"),), limit=None)
    ).items
    by_action = [(r.action, r.username, r.via) for r in reversed(rows)]
    assert by_action[:2] == [
        ("cmdb_object.create", "Api System", "idoit"),
        ("cmdb_object.update", "Api System", "idoit"),
    ]
    update = next(r for r in rows if r.action == "cmdb_object.update")
    assert update.detail["old"] == {"title": "a"} and update.detail["new"] == {"title": "b"}
    last = rows[0]
    assert last.detail["entries"][0]["old"] == {"serial": "1"} and last.detail["entries"][0]["new"] == {
        "serial": "2"
    }


def test_search_finds_titles_and_stored_values(idoit: Idoit) -> None:
    oid = idoit.ok("cmdb.object.create", {"type": 5, "title": "mail-gw"})["id"]
    idoit.ok(
        "cmdb.category.save",
        {"object": oid, "category": "C__CATG__ACCOUNTING", "data": {"inventory_no": "INV-Quux-7"}},
    )
    by_title = idoit.ok("idoit.search", {"q": "MAIL"})
    assert [(h["documentId"], h["value"]) for h in by_title] == [(str(oid), "mail-gw")]
    by_value = idoit.ok("idoit.search", {"q": "quux"})
    assert [(h["documentId"], h["value"]) for h in by_value] == [(str(oid), "INV-Quux-7")]
    assert by_value[0]["key"] == "Server > Accounting > Inventory number"
    assert idoit.error("idoit.search", {})["code"] == -32602
    too_long = idoit.error("idoit.search", {"q": "x" * 1001})
    assert too_long["code"] == -32602 and "at most 1000 characters" in str(too_long), too_long


def _search_statements(idoit: Idoit, runtime: Runtime, q: str) -> tuple[int, int]:
    found: list[int] = []

    def once() -> list[str]:
        with counting(runtime.db) as statements:
            found.append(len(idoit.ok("idoit.search", {"q": q})))
        return [s for s in statements if s.lstrip().upper().startswith("SELECT")]

    selects = fewest(once)
    assert len(set(found)) == 1, found  # the same hits each time
    return found[0], len(selects)


def test_search_runs_a_constant_number_of_queries(idoit: Idoit, runtime: Runtime) -> None:
    """Titles, entries, software and the hits' objects: one query each whatever the number of
    hits, up to one batch of candidates (500) of each kind; past it, one more per batch, at most
    ``SEARCH_SCAN_ROWS`` rows of each kind."""
    oid = idoit.ok("cmdb.object.create", {"type": 5, "title": "zed-0"})["id"]
    idoit.ok("cmdb.category.save", {"object": oid, "category": "C__CATG__MODEL", "data": {"serial": "zed"}})
    one, few = _search_statements(idoit, runtime, "zed")
    for n in range(1, 20):
        o = idoit.ok("cmdb.object.create", {"type": 5, "title": f"zed-{n}"})["id"]
        idoit.ok("cmdb.category.save", {"object": o, "category": "C__CATG__MODEL", "data": {"serial": "zed"}})
    many, statements = _search_statements(idoit, runtime, "zed")
    assert (one, many) == (2, 40)
    assert statements == few
