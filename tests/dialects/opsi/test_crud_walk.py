"""Every opsi object type through the full CRUD set and opsi's filter rules, generated from one
table: two objects per type, created, read back (``type`` and ``ident`` as opsi's object spec
says), found by exact value, list (OR), wildcard and empty-list filters, projected with
``attributes``, identified in every ``returnType``, updated, and deleted by object and by ident.
Types that are the agent's live inventory are walked read-only: every write must be refused;
productOnDepot (every product is on the server's depot) takes writes of what exists, and a
delete removes the product version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fleetdeck.api.dialects.opsi.interface import SPEC
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.protocol import messages as m

from .conftest import Rpc, enroll

H1, H2 = "walk-1.fleetdeck.local", "walk-2.fleetdeck.local"
P1 = {"productId": "walk-p1", "productVersion": "1.0", "packageVersion": "1"}

Setup = Callable[[Rpc, Runtime, Actor], None]


# ident attributes per class, from opsi's object spec (shared/specs/opsi-objects.json)
IDENTS: dict[str, list[str]] = {
    "AuditHardware": ["hardwareClass", "<sorted scope-g hardware attributes of the class>"],
    "AuditHardwareOnHost": ["hostId", "hardwareClass", "<sorted hardware attributes of the class>"],
    "AuditSoftware": ["name", "version", "subVersion", "language", "architecture"],
    "AuditSoftwareOnClient": ["name", "version", "subVersion", "language", "architecture", "clientId"],
    "AuditSoftwareToLicensePool": [
        "name",
        "version",
        "subVersion",
        "language",
        "architecture",
        "licensePoolId",
    ],
    "BoolConfig": ["id"],
    "BoolProductProperty": ["productId", "productVersion", "packageVersion", "propertyId"],
    "ConcurrentSoftwareLicense": ["id", "licenseContractId"],
    "Config": ["id"],
    "ConfigState": ["configId", "objectId"],
    "Group": ["id"],
    "Host": ["id"],
    "HostGroup": ["id"],
    "LicenseContract": ["id"],
    "LicenseOnClient": ["softwareLicenseId", "licensePoolId", "clientId"],
    "LicensePool": ["id"],
    "LocalbootProduct": ["id", "productVersion", "packageVersion"],
    "NetbootProduct": ["id", "productVersion", "packageVersion"],
    "OEMSoftwareLicense": ["id", "licenseContractId"],
    "ObjectToGroup": ["groupType", "groupId", "objectId"],
    "OpsiClient": ["id"],
    "OpsiConfigserver": ["id"],
    "OpsiDepotserver": ["id"],
    "Product": ["id", "productVersion", "packageVersion"],
    "ProductDependency": [
        "productId",
        "productVersion",
        "packageVersion",
        "productAction",
        "requiredProductId",
    ],
    "ProductGroup": ["id"],
    "ProductOnClient": ["productId", "productType", "clientId"],
    "ProductOnDepot": ["productId", "productType", "productVersion", "packageVersion", "depotId"],
    "ProductProperty": ["productId", "productVersion", "packageVersion", "propertyId"],
    "ProductPropertyState": ["productId", "propertyId", "objectId"],
    "RetailSoftwareLicense": ["id", "licenseContractId"],
    "SoftwareLicense": ["id", "licenseContractId"],
    "SoftwareLicenseToLicensePool": ["softwareLicenseId", "licensePoolId"],
    "UnicodeConfig": ["id"],
    "UnicodeProductProperty": ["productId", "productVersion", "packageVersion", "propertyId"],
    "User": ["id"],
    "VolumeSoftwareLicense": ["id", "licenseContractId"],
}


def hosts(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    enroll(runtime, admin, "walk-1")
    enroll(runtime, admin, "walk-2")


def products(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    rpc.ok(
        "product_createObjects",
        [
            {
                "type": "LocalbootProduct",
                "id": pid,
                "productVersion": "1.0",
                "packageVersion": "1",
                "setupScript": "x",
            }
            for pid in ("walk-p1", "walk-p2")
        ],
    )


def products_and_hosts(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    products(rpc, runtime, admin)
    hosts(rpc, runtime, admin)


def properties(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    products(rpc, runtime, admin)
    hosts(rpc, runtime, admin)
    rpc.ok("productProperty_createUnicode", *P1.values(), "lang", "", ["de", "en"], ["en"], False, False)


def configs(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    hosts(rpc, runtime, admin)
    rpc.ok("config_createUnicode", "walk.c1", "", ["a", "b"], ["a"], True, False)


def licenses(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    hosts(rpc, runtime, admin)
    rpc.ok("licenseContract_create", "walk-c1")
    rpc.ok("licensePool_create", "walk-pool1")
    rpc.ok("licensePool_create", "walk-pool2")
    rpc.ok("softwareLicense_createVolume", "walk-l1", "walk-c1", 0)
    rpc.ok("softwareLicense_createVolume", "walk-l2", "walk-c1", 0)
    rpc.ok("softwareLicenseToLicensePool_create", "walk-l2", "walk-pool1", "KEY")


def host_group(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    hosts(rpc, runtime, admin)
    rpc.ok("group_createHostGroup", "walk-g")


def inventory(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "walk-1")
    inv = m.Inventory(
        hostname="walk-1",
        architecture="x86_64",
        cpu_model="Walk CPU",
        cpu_cores=4,
        network_interfaces=[m.NetworkInterface("eth0", "00:0c:29:35:70:a7", [m.Address("10.0.0.5", "ipv4")])],
        software=[m.Software("walk-editor", "1.0", ""), m.Software("walk-shell", "2.0", "")],
    )
    runtime.services.computers.record_inventory(system_actor("agent"), cid, inv, m.inventory_digest(inv))


@dataclass
class Family:
    prefix: str
    objects: list[dict[str, Any]]
    setup: Setup | None = None
    change: dict[str, Any] = field(default_factory=dict)  # applied to the first object
    read_only: bool = False
    # objects that exist as a view of others (productOnDepot: the server's depot offers every
    # product): writing what exists succeeds and changes nothing, deleting one removes it
    derived: bool = False


FAMILIES = [
    Family(
        "host",
        [
            {"type": "OpsiClient", "id": "walk-1.example.org", "notes": "n1"},
            {"type": "OpsiClient", "id": "walk-2.example.org"},
        ],
        change={"notes": "changed"},
    ),
    Family(
        "group",
        [{"type": "HostGroup", "id": "walk-a", "description": "A"}, {"type": "HostGroup", "id": "walk-b"}],
        change={"description": "changed"},
    ),
    Family(
        "group",
        [
            {"type": "ProductGroup", "id": "walk-pa", "description": "A"},
            {"type": "ProductGroup", "id": "walk-pb"},
        ],
        change={"description": "changed"},
    ),
    Family(
        "objectToGroup",
        [
            {"type": "ObjectToGroup", "groupType": "HostGroup", "groupId": "walk-g", "objectId": H1},
            {"type": "ObjectToGroup", "groupType": "HostGroup", "groupId": "walk-g", "objectId": H2},
        ],
        setup=host_group,
    ),
    Family(
        "product",
        [
            {
                "type": "LocalbootProduct",
                "id": "walk-x1",
                "productVersion": "1.0",
                "packageVersion": "1",
                "setupScript": "a",
            },
            {
                "type": "LocalbootProduct",
                "id": "walk-x2",
                "productVersion": "2.0",
                "packageVersion": "3",
                "setupScript": "b",
            },
        ],
        change={"description": "changed"},
    ),
    Family(
        "productProperty",
        [
            {
                "type": "UnicodeProductProperty",
                **P1,
                "propertyId": "walk-lang",
                "possibleValues": ["de", "en"],
                "defaultValues": ["en"],
                "editable": False,
                "multiValue": False,
            },
            {"type": "BoolProductProperty", **P1, "propertyId": "walk-flag", "defaultValues": [False]},
        ],
        setup=products,
        change={"description": "changed"},
    ),
    Family(
        "productPropertyState",
        [
            {
                "type": "ProductPropertyState",
                "productId": "walk-p1",
                "propertyId": "lang",
                "objectId": H1,
                "values": ["de"],
            },
            {
                "type": "ProductPropertyState",
                "productId": "walk-p1",
                "propertyId": "lang",
                "objectId": H2,
                "values": ["en"],
            },
        ],
        setup=properties,
        change={"values": ["en"]},
    ),
    Family(
        "productDependency",
        [
            {
                "type": "ProductDependency",
                **P1,
                "productAction": "setup",
                "requiredProductId": "walk-p2",
                "requiredInstallationStatus": "installed",
                "requirementType": "before",
            },
            {
                "type": "ProductDependency",
                **P1,
                "productAction": "uninstall",
                "requiredProductId": "walk-p2",
                "requiredAction": "uninstall",
                "requirementType": "after",
            },
        ],
        setup=products,
        change={"requirementType": "after"},
    ),
    Family(
        "productOnClient",
        [
            {
                "type": "ProductOnClient",
                "productId": "walk-p1",
                "productType": "LocalbootProduct",
                "clientId": H1,
                "actionRequest": "setup",
            },
            {
                "type": "ProductOnClient",
                "productId": "walk-p2",
                "productType": "LocalbootProduct",
                "clientId": H2,
                "actionRequest": "setup",
            },
        ],
        setup=products_and_hosts,
    ),
    Family(
        "config",
        [
            {
                "type": "UnicodeConfig",
                "id": "walk.u1",
                "possibleValues": ["a", "b"],
                "defaultValues": ["a"],
                "editable": True,
                "multiValue": False,
            },
            {"type": "BoolConfig", "id": "walk.b1", "defaultValues": [True]},
        ],
        change={"description": "changed"},
    ),
    Family(
        "configState",
        [
            {"type": "ConfigState", "configId": "walk.c1", "objectId": H1, "values": ["b"]},
            {"type": "ConfigState", "configId": "walk.c1", "objectId": H2, "values": ["a"]},
        ],
        setup=configs,
        change={"values": ["a"]},
    ),
    Family(
        "licenseContract",
        [
            {"type": "LicenseContract", "id": "walk-k1", "description": "one"},
            {"type": "LicenseContract", "id": "walk-k2"},
        ],
        change={"description": "changed"},
    ),
    Family(
        "softwareLicense",
        [
            {
                "type": "RetailSoftwareLicense",
                "id": "walk-r1",
                "licenseContractId": "walk-c1",
                "maxInstallations": 1,
            },
            {
                "type": "VolumeSoftwareLicense",
                "id": "walk-r2",
                "licenseContractId": "walk-c1",
                "maxInstallations": 10,
            },
        ],
        setup=licenses,
        change={"maxInstallations": 5},
    ),
    Family(
        "licensePool",
        [
            {"type": "LicensePool", "id": "walk-q1", "productIds": ["walk-p1"]},
            {"type": "LicensePool", "id": "walk-q2"},
        ],
        change={"description": "changed"},
    ),
    Family(
        "softwareLicenseToLicensePool",
        [
            {
                "type": "SoftwareLicenseToLicensePool",
                "softwareLicenseId": "walk-l1",
                "licensePoolId": "walk-pool1",
                "licenseKey": "K1",
            },
            {
                "type": "SoftwareLicenseToLicensePool",
                "softwareLicenseId": "walk-l1",
                "licensePoolId": "walk-pool2",
                "licenseKey": "K2",
            },
        ],
        setup=licenses,
        change={"licenseKey": "K9"},
    ),
    Family(
        "licenseOnClient",
        [
            {
                "type": "LicenseOnClient",
                "softwareLicenseId": "walk-l2",
                "licensePoolId": "walk-pool1",
                "clientId": H1,
            },
            {
                "type": "LicenseOnClient",
                "softwareLicenseId": "walk-l2",
                "licensePoolId": "walk-pool1",
                "clientId": H2,
            },
        ],
        setup=licenses,
        change={"notes": "changed"},
    ),
    Family(
        "auditSoftwareToLicensePool",
        [
            {
                "type": "AuditSoftwareToLicensePool",
                "name": "walk-editor",
                "version": "1.0",
                "subVersion": "",
                "language": "",
                "architecture": "x64",
                "licensePoolId": "walk-pool1",
            },
            {
                "type": "AuditSoftwareToLicensePool",
                "name": "walk-editor",
                "version": "2.0",
                "subVersion": "",
                "language": "",
                "architecture": "x64",
                "licensePoolId": "walk-pool1",
            },
        ],
        setup=licenses,
    ),
    Family("user", [{"type": "User", "id": "walk-u1"}, {"type": "User", "id": "walk-u2"}]),
    Family("auditSoftwareOnClient", [], setup=inventory, read_only=True),
    Family("auditSoftware", [], setup=inventory, read_only=True),
    Family("auditHardwareOnHost", [], setup=inventory, read_only=True),
    Family("auditHardware", [], setup=inventory, read_only=True),
    Family("productOnDepot", [], setup=products, read_only=True, derived=True),
]


def ident_of(obj: dict[str, Any]) -> str:
    attrs = IDENTS.get(obj["type"])
    assert attrs, f"no ident for {obj['type']}"
    return ";".join("" if obj.get(a) is None else str(obj[a]) for a in attrs)


def mine(rpc: Rpc, fam: Family, *attributes: str, **flt: Any) -> list[dict[str, Any]]:
    kinds = sorted({o["type"] for o in fam.objects})
    rows = rpc.ok(f"{fam.prefix}_getObjects", list(attributes), {"type": kinds, **flt})
    wanted = {ident_of(o) for o in fam.objects}
    return [r for r in rows if r["ident"] in wanted]


@pytest.mark.parametrize(
    "fam",
    FAMILIES,
    ids=[f"{f.prefix}-{f.objects[0]['type'] if f.objects else 'inventory'}" for f in FAMILIES],
)
def test_crud_walk(rpc: Rpc, runtime: Runtime, admin: Actor, fam: Family) -> None:
    if fam.setup is not None:
        fam.setup(rpc, runtime, admin)
    if fam.read_only:
        walk_read_only(rpc, fam)
        return
    first, second = fam.objects
    idents = {ident_of(first), ident_of(second)}

    # create, read back with type and ident
    rpc.ok(f"{fam.prefix}_createObjects", fam.objects)
    rows = mine(rpc, fam)
    assert {r["ident"] for r in rows} == idents
    assert all(r["type"] in {first["type"], second["type"]} for r in rows)
    attrs = IDENTS[first["type"]]

    # filters: exact value, list = OR, wildcard, empty list / None = no restriction, AND of keys
    key = next((a for a in attrs if first.get(a) != second.get(a)), attrs[0])
    assert {r["ident"] for r in mine(rpc, fam, **{key: first[key]})} == {ident_of(first)}
    assert {r["ident"] for r in mine(rpc, fam, **{key: [first[key], second[key]]})} == idents
    assert {r["ident"] for r in mine(rpc, fam, **{key: []})} == idents
    assert {r["ident"] for r in mine(rpc, fam, **{key: None})} == idents
    # wildcards: the two objects' common prefix (when they have one) finds both, and the first
    # value less its last character finds exactly the objects that start with it
    common = _common_prefix(str(first[key]), str(second[key]))
    if common:
        assert {r["ident"] for r in mine(rpc, fam, **{key: common + "*"})} == idents
    stem = str(first[key])[:-1]
    expected = {ident_of(o) for o in fam.objects if str(o[key]).startswith(stem)}
    assert ident_of(first) in expected
    assert {r["ident"] for r in mine(rpc, fam, **{key: stem + "*"})} == expected
    # AND of keys: a second attribute (another ident attribute, else the type) must match too
    other = next((a for a in attrs if a != key), "type")
    assert {r["ident"] for r in mine(rpc, fam, **{key: first[key], other: first.get(other)})} == {
        ident_of(first)
    }
    assert mine(rpc, fam, **{key: first[key], other: "no-such-value-*"}) == []

    # attributes: the ident (and type) always, the rest null
    other = next((a for a in first if a not in attrs and a != "type"), None)
    if other is not None:
        projected = mine(rpc, fam, attrs[0], **{key: first[key]})
        assert projected and all(r.get(other) is None for r in projected)

    # getIdents in every returnType, getHashes without ident
    flt = {**{a: first[a] for a in attrs}, "type": first["type"]}  # exactly the first object
    assert rpc.ok(f"{fam.prefix}_getIdents", "str", flt) == [ident_of(first)]
    (as_dict,) = rpc.ok(f"{fam.prefix}_getIdents", "dict", flt)
    assert list(as_dict) == attrs
    for kind in ("list", "tuple"):
        (as_list,) = rpc.ok(f"{fam.prefix}_getIdents", kind, flt)
        assert ";".join("" if v is None else str(v) for v in as_list) == ident_of(first)
    assert rpc.error(f"{fam.prefix}_getIdents", "bogus", flt)["class"] == "ValueError"
    if f"{fam.prefix}_getHashes" in SPEC:
        (hashed,) = rpc.ok(f"{fam.prefix}_getHashes", [], flt)
        assert "ident" not in hashed and hashed["type"] == first["type"]

    # update one object, then again through updateObjects and insertObject (idempotent)
    if fam.change:
        rpc.ok(f"{fam.prefix}_updateObject", {**first, **fam.change})
        (changed,) = mine(rpc, fam, **{key: first[key]})
        for attr, value in fam.change.items():
            assert changed[attr] == value, (attr, changed)
    rpc.ok(f"{fam.prefix}_updateObjects", [second])
    rpc.ok(f"{fam.prefix}_insertObject", second)
    assert {r["ident"] for r in mine(rpc, fam)} == idents

    # delete by object, then by ident
    rpc.ok(f"{fam.prefix}_deleteObjects", [first])
    assert {r["ident"] for r in mine(rpc, fam)} == {ident_of(second)}
    delete_args = [a for a in SPEC[f"{fam.prefix}_delete"]["entry"]["args"] if a != "self"]
    rpc.ok(f"{fam.prefix}_delete", named={a: second[a] for a in delete_args if a in second})
    assert mine(rpc, fam) == []


def walk_read_only(rpc: Rpc, fam: Family) -> None:
    rows = rpc.ok(f"{fam.prefix}_getObjects")
    assert rows, f"{fam.prefix}: the inventory shows nothing"
    for row in rows:
        assert row["ident"] and row["type"]
        attrs = IDENTS[row["type"]] if row["type"] in IDENTS and fam.prefix != "auditHardwareOnHost" else None
        if attrs is not None and fam.prefix not in ("auditHardware",):
            assert row["ident"] == ident_of(row)
    idents = rpc.ok(f"{fam.prefix}_getIdents", "str")
    assert sorted(idents) == sorted(r["ident"] for r in rows)
    obj = {k: v for k, v in rows[0].items() if k != "ident"}
    for verb, arg in (
        ("createObjects", [obj]),
        ("updateObject", obj),
        ("updateObjects", [obj]),
        ("insertObject", obj),
        ("deleteObjects", [obj]),
    ):
        if fam.derived and verb != "deleteObjects":
            assert rpc.ok(f"{fam.prefix}_{verb}", arg) is None, verb
            continue
        if verb in STORED_BESIDE.get(fam.prefix, ()):
            # stored as what the client reported; the agent's inventory still is what shows
            # (the idents below stay the same)
            assert rpc.ok(f"{fam.prefix}_{verb}", arg) is None, verb
            continue
        if fam.derived:
            rpc.ok(f"{fam.prefix}_{verb}", arg)
            idents = [i for i in idents if i != rows[0]["ident"]]
            continue
        err = rpc.error(f"{fam.prefix}_{verb}", arg)
        assert err["class"] == "BackendPermissionDeniedError", (verb, err)
    assert sorted(rpc.ok(f"{fam.prefix}_getIdents", "str")) == sorted(idents)


# Writes opsi's swaudit makes, stored beside the agent's inventory (issue #13); the rest of a
# read-only family is refused.
STORED_BESIDE = {"auditSoftwareOnClient": ("createObjects", "updateObject", "updateObjects", "insertObject")}


def _common_prefix(a: str, b: str) -> str:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return "".join(out)
