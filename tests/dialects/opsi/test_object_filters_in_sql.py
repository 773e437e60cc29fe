"""opsi filters of non-host objects run in SQL (issue #10 §2): the database returns only the
rows a filter's stored attributes keep, and what opsi answers, in its order, is exactly what
opsi's Python rules (``filters.matches``) keep of every object. Per object kind: wildcards,
lists (any of), ``None``/``[]`` (no restriction), case, comparisons and the type."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.api.dialects.opsi.default_configs import default_configs
from fleetdeck.api.dialects.opsi.methods.audit import SOFTWARE, SOFTWARE_ON_CLIENT
from fleetdeck.api.dialects.opsi.methods.configs import CONFIGS
from fleetdeck.api.dialects.opsi.methods.configs import STATES as CONFIG_STATES
from fleetdeck.api.dialects.opsi.methods.groups import GROUPS, OBJECT_TO_GROUPS
from fleetdeck.api.dialects.opsi.methods.licenses import (
    CONTRACTS,
    LICENSES,
    POOL_MEMBERS,
    POOL_SOFTWARE,
    POOLS,
)
from fleetdeck.api.dialects.opsi.methods.licenses import ON_CLIENT as LICENSE_ON_CLIENT
from fleetdeck.api.dialects.opsi.methods.products import ON_DEPOT, PRODUCTS
from fleetdeck.api.dialects.opsi.methods.properties import PROPERTIES
from fleetdeck.api.dialects.opsi.objects.crud import Crud
from fleetdeck.api.dialects.opsi.objects.filters import matches
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.api.dialects.opsi.render import ident_string
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.core.query import Query
from fleetdeck.core.settings.configs import Config
from fleetdeck.protocol import messages as m
from tests import factories

from .conftest import Rpc, enroll

PACKAGES = [  # (family, version, description)
    ("firefox", "1.0", "Web browser"),
    ("firefox", "2.0", "web browser, newer"),
    ("thunderbird", "1.0", "the *mail* client"),
    ("7zip", "19.0", ""),
    ("fire_wall", "1.0", "100% firewall"),
]

PRODUCT_FILTERS: list[dict[str, Any]] = [
    {},
    {"id": None},
    {"id": []},
    {"id": "firefox"},
    {"id": "FireFox"},
    {"id": "fire*"},
    {"id": "*zip"},
    {"id": "fire_*"},  # _ is no wildcard
    {"id": "fire%"},  # nor is %
    {"id": ["thunderbird", "7zip"]},
    {"id": ["fire*", None]},
    {"id": [f"p{i}" for i in range(11)] + ["firefox"]},  # long list: a plain IN
    {"id": "firefox", "productVersion": "2.0"},
    {"productVersion": ["1.0", "19.0"]},
    {"productVersion": ">1.5"},
    {"packageVersion": "1"},
    {"description": "web*"},
    {"description": "*\\*mail\\**"},
    {"description": "*mail*"},
    {"description": ""},
    {"description": "100%*"},
    {"name": "FIREFOX"},
    {"setupScript": "install fire*"},
    {"uninstallScript": ["remove 7zip 19.0", "remove nothing"]},
    {"priority": 0},
    {"priority": "<1"},
    {"licenseRequired": False},
    {"updateScript": ""},
    {"type": "LocalbootProduct", "id": "t*"},
    {"type": "Product"},
    {"type": "NetbootProduct"},
]

ON_DEPOT_FILTERS: list[dict[str, Any]] = [
    {},
    {"productId": "FIRE*"},
    {"productId": ["7zip", "thunderbird"], "productVersion": "1.0"},
    {"productVersion": "1.*"},
    {"depotId": "*"},
    {"depotId": "not.the.depot"},
    {"locked": False},
    {"productId": None, "packageVersion": ["1", None]},
]

PROPERTY_FILTERS: list[dict[str, Any]] = [
    {},
    {"productId": "firefox"},
    {"productId": "fire*", "propertyId": "lang*"},
    {"productId": ["thunderbird"], "productVersion": "1.0"},
    {"productVersion": "2.0"},
    {"propertyId": "LANGUAGE"},
    {"productId": "nothing"},
    {"type": "BoolProductProperty"},
]


@pytest.fixture
def catalogue(runtime: Runtime, admin: Actor) -> None:
    for family, version, description in PACKAGES:
        pkg = factories.package(runtime.services, admin, family, version, description=description)
        runtime.services.properties.put(admin, pkg.id, Config("language", possible_values=["de", "en"]))
        if family == "firefox":
            runtime.services.properties.put(admin, pkg.id, Config("proxy", kind="bool"))


def _ctx(runtime: Runtime, admin: Actor) -> Context:
    return Context(services=runtime.services, actor=admin)


def _expected(ctx: Context, crud: Crud, flt: dict[str, Any]) -> list[str]:
    """What opsi's rules keep of every object, in the order of the unfiltered listing."""
    everything = crud.a.fetch(ctx, {})
    return [ident_string(r, crud.a.ident) for r in everything if matches(r, flt, crud.a.family)]


def _check(rpc: Rpc, ctx: Context, crud: Crud, prefix: str, flt: dict[str, Any]) -> None:
    expected = _expected(ctx, crud, flt)
    assert rpc.ok(f"{prefix}_getIdents", "str", flt) == expected
    objects = rpc.ok(f"{prefix}_getObjects", [], flt)
    assert [o["ident"] for o in objects] == expected


def test_the_database_drops_products_the_filter_excludes(
    runtime: Runtime, admin: Actor, catalogue: None
) -> None:
    ctx = _ctx(runtime, admin)
    ids = [(r["id"], r["productVersion"]) for r in PRODUCTS.a.fetch(ctx, {"id": "FIRE*"})]
    assert ids == [("firefox", "1.0"), ("firefox", "2.0"), ("fire_wall", "1.0")]
    assert [r["id"] for r in PRODUCTS.a.fetch(ctx, {"description": "*MAIL*"})] == ["thunderbird"]
    assert PRODUCTS.a.fetch(ctx, {"type": "NetbootProduct"}) == []
    depot = ON_DEPOT.a.fetch(ctx, {"productId": ["7zip"], "productVersion": "19.0"})
    assert [r["productId"] for r in depot] == ["7zip"]
    props = PROPERTIES.a.fetch(ctx, {"productId": "firefox", "productVersion": "2.0"})
    assert sorted(r["propertyId"] for r in props) == ["language", "proxy"]


GROUP_FILTERS: list[dict[str, Any]] = [
    {},
    {"id": None, "description": []},
    {"id": "LAB"},
    {"id": "lab*"},
    {"id": ["apps", "nothing", "sub*"]},
    {"id": "lab_2"},  # _ is no wildcard
    {"description": "*ROOM*"},
    {"description": ""},
    {"description": ["", None]},
    {"parentGroupId": "lab"},
    {"parentGroupId": None},
    {"parentGroupId": [None]},  # None in a list: top-level groups
    {"parentGroupId": "*", "type": "HostGroup"},
    {"notes": ""},
    {"notes": "x"},
    {"type": "ProductGroup"},
    {"type": "Group", "id": "a*"},
    {"type": ["HostGroup"], "description": "<m"},
    {"id": [f"g{i}" for i in range(11)] + ["APPS"]},
]

OBJECT_TO_GROUP_FILTERS: list[dict[str, Any]] = [
    {},
    {"groupId": "lab"},
    {"groupId": "LAB*", "groupType": "HostGroup"},
    {"groupId": ["apps", "sublab"]},
    {"objectId": "ws-01.example.org"},
    {"objectId": ["WS-02.EXAMPLE.ORG", "firefox"]},
    {"objectId": "ws-*"},
    {"objectId": "fire*", "groupType": "ProductGroup"},
    {"groupType": "ProductGroup"},
    {"groupId": "nothing"},
]


@pytest.fixture
def grouped(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    for name in ("ws-01", "ws-02", "ws-03"):
        rpc.ok("host_insertObject", {"type": "OpsiClient", "id": f"{name}.example.org"})
    factories.package(runtime.services, admin, "firefox", "1.0")
    factories.package(runtime.services, admin, "7zip", "19.0")
    for group in (
        {"type": "HostGroup", "id": "lab", "description": "Room 4"},
        {"type": "HostGroup", "id": "sublab", "parentGroupId": "lab", "description": "room 4, back"},
        {"type": "HostGroup", "id": "lab_2", "description": ""},
        {"type": "HostGroup", "id": "lab-2", "parentGroupId": "sublab"},
        {"type": "ProductGroup", "id": "apps", "description": "Office"},
        {"type": "ProductGroup", "id": "archivers", "parentGroupId": "apps"},
    ):
        rpc.ok("group_insertObject", group)
    rpc.ok("objectToGroup_create", "HostGroup", "lab", "ws-01.example.org")
    rpc.ok("objectToGroup_create", "HostGroup", "lab", "ws-02.example.org")
    rpc.ok("objectToGroup_create", "HostGroup", "sublab", "ws-02.example.org")
    rpc.ok("objectToGroup_create", "ProductGroup", "apps", "firefox")
    rpc.ok("objectToGroup_create", "ProductGroup", "archivers", "7zip")


def test_the_database_drops_groups_the_filter_excludes(runtime: Runtime, admin: Actor, grouped: None) -> None:
    ctx = _ctx(runtime, admin)
    rows = GROUPS.a.fetch(ctx, {"id": "SUB*"})
    assert [(r["id"], r["parentGroupId"]) for r in rows] == [("sublab", "lab")]  # parent left out, named
    assert [r["id"] for r in GROUPS.a.fetch(ctx, {"parentGroupId": "apps"})] == ["archivers"]
    assert GROUPS.a.fetch(ctx, {"type": "ProductGroup", "id": "lab"}) == []
    assert {g.key for g in runtime.services.packages.find_groups(admin, Query(limit=None))} == {
        "apps",
        "archivers",
    }
    links = OBJECT_TO_GROUPS.a.fetch(ctx, {"groupId": "sublab"})
    assert [(r["groupId"], r["objectId"]) for r in links] == [("sublab", "ws-02.example.org")]


CONFIG_FILTERS: list[dict[str, Any]] = [
    {},
    {"id": "CLIENTCONFIG.*"},
    {"id": ["opsi.flag", "nothing", None]},
    {"id": "*_*"},  # _ is literal
    {"description": "*Depot*"},
    {"description": ""},
    {"type": "BoolConfig"},
    {"type": "UnicodeConfig", "id": "client*"},
    {"type": "Config"},
    {"editable": False},
    {"multiValue": True, "type": "UnicodeConfig"},
    {"defaultValues": "x"},
    {"id": [f"k{i}" for i in range(11)] + ["OPSI.FLAG"]},
]

CONFIG_STATE_FILTERS: list[dict[str, Any]] = [
    {},
    {"configId": "opsi.flag"},
    {"configId": "client*", "objectId": "pc-1.example.org"},
    {"objectId": ["PC-2.EXAMPLE.ORG"]},
    {"objectId": "pc-*"},
    {"objectId": "nothing.example.org"},
    {"values": "a"},
    {"configId": ["clientconfig.depot_id", "opsi.flag"], "objectId": None},
]


@pytest.fixture
def configured(rpc: Rpc) -> None:
    for name in ("pc-1", "pc-2"):
        rpc.ok("host_insertObject", {"type": "OpsiClient", "id": f"{name}.example.org"})
    for config in (
        {
            "type": "UnicodeConfig",
            "id": "clientconfig.depot_id",
            "description": "the Depot",
            "defaultValues": ["d"],
        },
        {
            "type": "UnicodeConfig",
            "id": "clientconfig.multi",
            "multiValue": True,
            "possibleValues": ["a", "b"],
        },
        {"type": "UnicodeConfig", "id": "locked_one", "editable": False, "defaultValues": ["x"]},
        {"type": "BoolConfig", "id": "opsi.flag", "defaultValues": [True]},
    ):
        rpc.ok("config_insertObject", config)
    rpc.ok("configState_create", "clientconfig.multi", "pc-1.example.org", ["a"])
    rpc.ok("configState_create", "clientconfig.depot_id", "pc-1.example.org", ["x"])
    rpc.ok("configState_create", "opsi.flag", "pc-2.example.org", [False])
    rpc.ok("configState_create", "clientconfig.multi", "pc-2.example.org", ["a", "b"])


def test_the_database_drops_configs_the_filter_excludes(
    runtime: Runtime, admin: Actor, configured: None
) -> None:
    ctx = _ctx(runtime, admin)
    builtin = set(default_configs("x.y.z", "https://x.y.z"))  # opsiconfd's defaults, not stored

    def stored(flt: dict[str, Any]) -> list[str]:
        return [r["id"] for r in CONFIGS.a.fetch(ctx, flt) if r["id"] not in builtin]

    assert stored({"type": "BoolConfig"}) == ["opsi.flag"]
    assert stored({"description": "*DEPOT"}) == ["clientconfig.depot_id"]
    states = CONFIG_STATES.a.fetch(ctx, {"configId": "clientconfig.multi", "objectId": "pc-2.example.org"})
    assert [(r["configId"], r["objectId"]) for r in states] == [("clientconfig.multi", "pc-2.example.org")]


SOFTWARE_FILTERS: list[dict[str, Any]] = [
    {},
    {"name": "CURL"},
    {"name": "z*", "version": "5.*"},
    {"name": ["curl", "nothing", None]},
    {"version": "<6"},
    {"name": "lib_x"},  # _ is literal
    {"architecture": "x64"},
    {"architecture": "x86"},
    {"subVersion": "", "language": None},
    {"clientId": "sw-1*"},
    {"clientId": ["SW-2.FLEETDECK.LOCAL"], "name": "git"},
    {"name": [f"n{i}" for i in range(11)] + ["ZSH"]},
]


@pytest.fixture
def inventories(runtime: Runtime, admin: Actor) -> None:
    software = {
        "sw-1": [m.Software("curl", "7.88.1", ""), m.Software("zsh", "5.9", ""), m.Software("libx", "1", "")],
        "sw-2": [m.Software("curl", "7.88.1", ""), m.Software("git", "2.39", "")],
        "sw-3": [m.Software("zsh", "5.8", ""), m.Software("lib_x", "2", "")],
    }
    for hostname, titles in software.items():
        token = runtime.services.enrollment.create_token(admin, max_uses=1)
        creds = runtime.services.enrollment.enroll(
            token.token, hostname=hostname, machine_id=hostname, agent_version="1", source="127.0.0.1"
        )
        inv = m.Inventory(
            hostname=hostname, architecture="i686" if hostname == "sw-3" else "x86_64", software=titles
        )
        runtime.services.computers.record_inventory(
            system_actor("agent"), creds.computer_id, inv, m.inventory_digest(inv)
        )


def test_the_database_drops_software_the_filter_excludes(
    runtime: Runtime, admin: Actor, inventories: None
) -> None:
    ctx = _ctx(runtime, admin)
    rows = SOFTWARE_ON_CLIENT.a.fetch(ctx, {"name": "ZSH"})
    assert [(r["clientId"], r["version"], r["architecture"]) for r in rows] == [
        ("sw-1.fleetdeck.local", "5.9", "x64"),
        ("sw-3.fleetdeck.local", "5.8", "x86"),
    ]
    assert [r["name"] for r in SOFTWARE.a.fetch(ctx, {"name": "lib_*"})] == ["lib_x"]


@pytest.fixture
def licensing(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    for name in ("lc-1", "lc-2"):
        enroll(runtime, admin, name)
    rpc.ok("licenseContract_create", "msdn", "MSDN", "the notes", "Microsoft")
    rpc.ok("licenseContract_create", "oem_1", "", "", "ACME")
    rpc.ok("licensePool_create", "win-pool", "Windows", ["win7"])
    rpc.ok("licensePool_create", "office-pool", "Office 2016")
    rpc.ok("softwareLicense_createVolume", "vol-1", "msdn", 5)
    rpc.ok("softwareLicense_createRetail", "retail-1", "msdn", 1)
    rpc.ok("softwareLicense_createOEM", "oem-1", "oem_1", 1, "lc-1.fleetdeck.local")
    rpc.ok("softwareLicenseToLicensePool_create", "vol-1", "win-pool", "AAAAA-BBBBB")
    rpc.ok("softwareLicenseToLicensePool_create", "retail-1", "office-pool", "CCCCC")
    rpc.ok("softwareLicenseToLicensePool_create", "oem-1", "win-pool", "")
    rpc.ok("auditSoftwareToLicensePool_create", "Office", "16.0", "", "de-DE", "x64", "office-pool")
    rpc.ok("auditSoftwareToLicensePool_create", "Office", "16.1", "", "", "x86", "office-pool")
    rpc.ok("auditSoftwareToLicensePool_create", "Windows", "7", "", "", "x64", "win-pool")
    rpc.ok("licenseOnClient_getOrCreateObject", "lc-1.fleetdeck.local", "win-pool")
    rpc.ok("licenseOnClient_getOrCreateObject", "lc-2.fleetdeck.local", "office-pool")


LICENSE_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("licenseContract", {}),
    ("licenseContract", {"id": "MSDN"}),
    ("licenseContract", {"partner": "micro*", "notes": "*NOTES"}),
    ("licenseContract", {"id": "oem_*"}),
    ("licenseContract", {"description": ["", None]}),
    ("licenseContract", {"expirationDate": "0000*"}),
    ("softwareLicense", {}),
    ("softwareLicense", {"licenseContractId": "msdn"}),
    ("softwareLicense", {"id": ["VOL-1", "oem-1"], "type": "VolumeSoftwareLicense"}),
    ("softwareLicense", {"type": "SoftwareLicense", "maxInstallations": ">1"}),
    ("softwareLicense", {"boundToHost": "lc-1*"}),
    ("softwareLicense", {"type": ["OEMSoftwareLicense", "RetailSoftwareLicense"]}),
    ("licensePool", {"id": "*-pool", "description": "office*"}),
    ("licensePool", {"productIds": "win7"}),
    ("softwareLicenseToLicensePool", {"licensePoolId": "WIN-POOL"}),
    ("softwareLicenseToLicensePool", {"softwareLicenseId": "r*", "licenseKey": "C*"}),
    ("auditSoftwareToLicensePool", {"name": "office", "version": ["16.1", None]}),
    ("auditSoftwareToLicensePool", {"language": "", "architecture": "X64"}),
    ("auditSoftwareToLicensePool", {"licensePoolId": "office*", "subVersion": ""}),
    ("licenseOnClient", {"licensePoolId": "win*"}),
    ("licenseOnClient", {"clientId": "lc-2*", "softwareLicenseId": ["retail-1", "vol-1"]}),
]


def test_the_database_drops_licenses_the_filter_excludes(
    runtime: Runtime, admin: Actor, licensing: None
) -> None:
    ctx = _ctx(runtime, admin)
    assert [r["id"] for r in LICENSES.a.fetch(ctx, {"type": "OEMSoftwareLicense"})] == ["oem-1"]
    assert [r["id"] for r in CONTRACTS.a.fetch(ctx, {"partner": "ACME"})] == ["oem_1"]
    members = POOL_MEMBERS.a.fetch(ctx, {"licensePoolId": "office-pool"})
    assert [(r["softwareLicenseId"], r["licenseKey"]) for r in members] == [("retail-1", "CCCCC")]
    software = POOL_SOFTWARE.a.fetch(ctx, {"version": "16.*"})
    assert [r["version"] for r in software] == ["16.0", "16.1"]


CRUDS: dict[str, Crud] = {
    "product": PRODUCTS,
    "productOnDepot": ON_DEPOT,
    "productProperty": PROPERTIES,
    "group": GROUPS,
    "objectToGroup": OBJECT_TO_GROUPS,
    "config": CONFIGS,
    "configState": CONFIG_STATES,
    "auditSoftwareOnClient": SOFTWARE_ON_CLIENT,
    "auditSoftware": SOFTWARE,
    "licenseContract": CONTRACTS,
    "softwareLicense": LICENSES,
    "licensePool": POOLS,
    "softwareLicenseToLicensePool": POOL_MEMBERS,
    "auditSoftwareToLicensePool": POOL_SOFTWARE,
    "licenseOnClient": LICENSE_ON_CLIENT,
}
# (fixture with the objects, opsi object prefix, filters)
CASES: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("catalogue", "product", PRODUCT_FILTERS),
    ("catalogue", "productOnDepot", ON_DEPOT_FILTERS),
    ("catalogue", "productProperty", PROPERTY_FILTERS),
    ("grouped", "group", GROUP_FILTERS),
    ("grouped", "objectToGroup", OBJECT_TO_GROUP_FILTERS),
    ("configured", "config", CONFIG_FILTERS),
    ("configured", "configState", CONFIG_STATE_FILTERS),
    ("inventories", "auditSoftwareOnClient", SOFTWARE_FILTERS),
    ("inventories", "auditSoftware", [f for f in SOFTWARE_FILTERS if "clientId" not in f]),
    *(
        ("licensing", prefix, [f for p, f in LICENSE_FILTERS if p == prefix])
        for prefix in dict.fromkeys(p for p, _ in LICENSE_FILTERS)
    ),
]


@pytest.mark.parametrize(("objects", "prefix", "filters"), CASES, ids=[p for _, p, _ in CASES])
def test_filters_keep_opsi_semantics(
    request: pytest.FixtureRequest,
    rpc: Rpc,
    runtime: Runtime,
    admin: Actor,
    objects: str,
    prefix: str,
    filters: list[dict[str, Any]],
) -> None:
    """Per object kind: what ``{prefix}_getIdents``/``_getObjects`` answer, in order, is what
    opsi's Python rules keep of every object (wildcards, lists, None/[], case, <, >, type).
    Every filter of a kind on one set of objects (they only read): those that answer
    otherwise are listed together."""
    assert filters
    request.getfixturevalue(objects)
    ctx, wrong = _ctx(runtime, admin), {}
    for flt in filters:
        try:
            _check(rpc, ctx, CRUDS[prefix], prefix, flt)
        except AssertionError as exc:
            wrong[repr(flt)] = str(exc)[:500]
    assert wrong == {}
