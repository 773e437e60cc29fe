"""No N+1 (issue #10): every list call of every dialect runs the same number of SQL statements
with 1 and with 20 rows of everything. Statements are counted with SQLAlchemy's
``before_cursor_execute`` on the real engine, through the real application (HTTP in-process),
for OCO's ``*.list`` methods, opsi's ``*_getObjects``/``*_getIdents``/``*_getHashes`` family
(every one the registry has) and the ``/api/v1`` list routes."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import pytest
from sqlalchemy import event

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fleetdeck.api.dialects.oco import settings as oco_settings
from fleetdeck.api.dialects.opsi.registry import METHODS as OPSI_METHODS
from fleetdeck.app import Runtime, create_app
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.licenses.service import Contract, License, Pool
from fleetdeck.core.settings.configs import Config
from fleetdeck.protocol import messages as m
from fleetdeck.storage.db import Database
from tests import factories

OCO_KEY = "query-count-key"


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on ``db`` inside the block."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    # reads only: a request may also write bookkeeping (a token's last use, at most once a
    # while), which has nothing to do with how many rows are listed

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


def fewest(measure: Callable[[], list[str]], tries: int = 3) -> list[str]:
    """The shortest of ``tries`` measurements of the same read. The engine also serves the
    application's own background work (the hub's flushes and presence, housekeeping duties,
    a settings cache reloading on its timer), whose statements land in whichever block runs
    meanwhile; they can only add to a count, never take from it, so the fewest is the read's
    own (a busy machine made single measurements differ by a few statements)."""
    return min((measure() for _ in range(tries)), key=len)


class World:
    """Grows by one of everything a list shows: a computer with an interface in a computer
    group, a package in a package group, a deployment of it to the computer with the job
    finished (an installation), a deployment rule, a command job, a report in a report group,
    a user, an enrollment token, and a computer without an agent that reported its own audit
    data."""

    def __init__(self, runtime: Runtime, admin: Actor) -> None:
        self.rt, self.admin, self.size = runtime, admin, 0
        self.first: dict[str, int] = {}

    def grow(self, to: int) -> None:
        s, a = self.rt.services, self.admin
        while self.size < to:
            k = self.size
            cid = factories.computer(s, a, f"pc-{k:02d}", macs=[f"52:54:00:00:00:{k:02x}"])
            gid = factories.group(s, a, f"computers {k}", [cid])
            pkg = factories.package(s, a, f"product-{k:02d}")
            pgid = factories.package_group(s, a, f"packages {k}", [pkg.id])
            factories.installed(s, a, cid, pkg.id)
            rule = s.deployments.create_rule(a, f"rule {k}", gid, pgid)
            factories.commands(s, a, [cid])
            rg = s.reports.groups.create(a, f"reports {k}")
            report = s.reports.create(a, f"report {k}", "select 1", group_id=rg.id)
            factories.user(s, Role.VIEWER, f"viewer{k}")
            s.enrollment.create_token(a, max_uses=1)
            container = s.deployments.list_containers(a)[-1].id
            # a client without the agent that reported its own audit data (opsi's hwaudit/swaudit)
            bare = s.computers.create(a, f"bare-{k:02d}").id
            s.reported_audit.report(
                a, "hardware", bare, [(f"BIOS;{k}", {"hardwareClass": "BIOS", "version": str(k)})]
            )
            s.reported_audit.report(
                a, "software", bare, [(f"sw-r{k};1;;;x64", {"name": f"sw-r{k}", "version": "1"})]
            )
            s.reported_audit.report(
                a, "software_title", None, [(f"sw-r{k};1;;;x64", {"name": f"sw-r{k}", "version": "1"})]
            )
            s.reported_audit.report(
                a, "hardware_device", None, [(f"BIOS;d{k}", {"hardwareClass": "BIOS", "version": f"d{k}"})]
            )
            if self.first:  # the first group, package group, family, report group grow too
                s.groups.add_members(a, self.first["group"], [cid])
                s.packages.add_to_group(a, self.first["package_group"], pkg.id)
                factories.package(s, a, "product-00", f"{k + 1}")
                s.reports.create(a, f"grouped report {k}", "select 1", group_id=self.first["report_group"])
            else:
                self.first = {
                    "computer": cid,
                    "group": gid,
                    "package": pkg.id,
                    "family": pkg.family_id,
                    "package_group": pgid,
                    "rule": rule.id,
                    "report_group": rg.id,
                    "report": report.id,
                    "container": container,
                }
            s.packages.create_upload(a, self.first["package"], 10)  # an unfinished payload upload
            self.size += 1


@pytest.fixture
def world(runtime: Runtime, admin: Actor) -> World:
    return World(runtime, admin)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime.settings, runtime=runtime)
    with TestClient(app) as c:
        # Periodic duties (job expiry, lost jobs, node leases) read the database on their own
        # schedule; counted inside a list call they would look like the call's statements.
        c.portal.call(app.state.housekeeping.stop)
        yield c


@pytest.fixture
def auth(runtime: Runtime, admin: Actor) -> str:
    token = runtime.services.users.create_token(admin, "counts", "read+write", None).token
    return "Basic " + base64.b64encode(f"admin:{token}".encode()).decode()


class Grows(Protocol):
    def grow(self, to: int) -> None: ...


def _compare(
    world: Grows, db: Database, calls: dict[str, Callable[[], Any]], sizes: tuple[int, int] = (1, 20)
) -> None:
    """Each call's SELECT count at ``sizes`` rows (1 and 20); fails listing every call that grew."""
    counts: dict[str, list[int]] = {name: [] for name in calls}
    seen: dict[str, list[list[str]]] = {name: [] for name in calls}
    for size in sizes:
        world.grow(size)
        for name, call in calls.items():
            call()  # warm: settings caches, first connection
            runs = []
            for _ in range(2):  # the fewer of two: a cache refilled in one of them is not the list
                with counting(db) as statements:
                    call()
                runs.append([st for st in statements if st.lstrip().upper().startswith(("SELECT", "WITH"))])
            fewest = min(runs, key=len)
            counts[name].append(len(fewest))
            seen[name].append(fewest)
    # more at 20 rows is an N+1; one fewer happens when a bookkeeping read (a cache refill, a
    # throttle check) fell into both runs at 1 row, which says nothing about the rows
    grew = {name: c for name, c in counts.items() if c[1] > c[0]}
    extra = {name: sorted(set(seen[name][1]) - set(seen[name][0]))[:3] for name in grew}
    assert not grew, f"statements with {sizes[0]} vs {sizes[1]} rows: {grew}; new at {sizes[1]}: {extra}"


def test_oco_list_methods(
    runtime: Runtime, admin: Actor, world: World, client: TestClient, auth: str
) -> None:
    runtime.services.settings.set(admin, oco_settings.ENABLED_KEY, True)
    runtime.services.settings.set(admin, oco_settings.API_KEY, OCO_KEY)
    world.grow(1)

    def oco(method: str, data: dict[str, Any] | None = None) -> Callable[[], Any]:
        def call() -> Any:
            params: dict[str, Any] = {"api_key": OCO_KEY, **({"data": data} if data is not None else {})}
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            r = client.post("/api-client.php", json=body, headers={"Authorization": auth})
            assert r.status_code == 200 and "result" in r.json(), r.text
            return r.json()

        return call

    first = world.first
    _compare(
        world,
        runtime.db,
        {
            "computer.list": oco("oco.computer.list"),
            "computer.list(group)": oco("oco.computer.list", {"computer_group_id": first["group"]}),
            "job_container.list": oco("oco.job_container.list"),
            "job_container.job.list": oco("oco.job_container.job.list", {"id": first["container"]}),
            "package_family.list": oco("oco.package_family.list"),
            "package.list(family)": oco("oco.package.list", {"package_family_id": first["family"]}),
            "package.list(group)": oco("oco.package.list", {"package_group_id": first["package_group"]}),
            "report.list": oco("oco.report.list"),
            "report.list(group)": oco("oco.report.list", {"report_group_id": first["report_group"]}),
            "deployment_rule.list": oco("oco.deployment_rule.list"),
            "deployment_rule.job.list": oco("oco.deployment_rule.job.list", {"id": first["rule"]}),
        },
    )


def test_opsi_get_objects_family(runtime: Runtime, world: World, client: TestClient, auth: str) -> None:
    world.grow(1)
    names = sorted(
        m.name for m in OPSI_METHODS if m.name.endswith(("_getObjects", "_getIdents", "_getHashes"))
    )
    assert "host_getObjects" in names and "productOnClient_getObjects" in names

    def opsi(method: str) -> Callable[[], Any]:
        def call() -> Any:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
            r = client.post("/rpc", json=body, headers={"Authorization": auth})
            assert r.status_code == 200 and r.json().get("error") is None, r.text
            return r.json()

        return call

    _compare(world, runtime.db, {n: opsi(n) for n in names})


def test_api_v1_list_routes(runtime: Runtime, world: World, client: TestClient, auth: str) -> None:
    world.grow(1)
    f = world.first
    paths = [
        "/api/v1/computers",
        f"/api/v1/computers/{f['computer']}/jobs",
        "/api/v1/groups",
        f"/api/v1/groups/{f['group']}/members",
        "/api/v1/jobs",
        "/api/v1/packages",
        "/api/v1/package-families",
        "/api/v1/package-groups",
        f"/api/v1/package-groups/{f['package_group']}/members",
        f"/api/v1/packages/{f['package']}/uploads",
        "/api/v1/installations",
        "/api/v1/deployments",
        f"/api/v1/deployments/{f['container']}",
        "/api/v1/deployment-rules",
        f"/api/v1/deployment-rules/{f['rule']}/jobs",
        "/api/v1/reports",
        "/api/v1/report-groups",
        "/api/v1/users",
        "/api/v1/enroll-tokens",
        "/api/v1/me/tokens",
        "/api/v1/settings",
        "/api/v1/audit",
    ]

    def get(path: str) -> Callable[[], Any]:
        def call() -> Any:
            r = client.get(path, headers={"Authorization": auth})
            assert r.status_code == 200, (path, r.text)
            return r.json()

        return call

    _compare(world, runtime.db, {p: get(p) for p in paths})


class OpsiObjects:
    """Grows by one of each opsi object whose filters run in SQL (issue #10 §2): a computer with
    installed software, a package with a property installed on it, a computer group holding
    the computer (a child of the first), a package group holding the package, a config entry
    with a value for the computer."""

    def __init__(self, runtime: Runtime, admin: Actor) -> None:
        self.rt, self.admin, self.size = runtime, admin, 0
        self.first_group: int | None = None

    def grow(self, to: int) -> None:
        s, a = self.rt.services, self.admin
        while self.size < to:
            k = self.size
            cid = s.computers.create(a, f"pc-{k:02d}").id
            inv = m.Inventory(
                hostname=f"pc-{k:02d}",
                architecture="x86_64",
                software=[m.Software(f"sw-{k:02d}", "1.0", ""), m.Software("sw-common", "2.0", "")],
            )
            s.computers.record_inventory(
                agent_actor(cid, f"pc-{k:02d}", "127.0.0.1"), cid, inv, m.inventory_digest(inv)
            )
            pkg = factories.package(s, a, f"product-{k:02d}")
            s.properties.put(a, pkg.id, Config("language", possible_values=["de", "en"]))
            gid = s.groups.create(a, f"computers {k}", parent_id=self.first_group).id
            s.groups.add_members(a, gid, [cid])
            self.first_group = self.first_group or gid
            factories.package_group(s, a, f"packages {k}", [pkg.id])
            factories.installed(s, a, cid, pkg.id)
            s.configs.put(a, Config(f"cfg.{k:02d}", default_values=["x"]))
            s.configs.set_value(a, f"cfg.{k:02d}", cid, ["y"])
            s.licenses.put_contract(a, Contract(f"contract-{k:02d}", "", "", "ACME", None, None, None))
            s.licenses.put_pool(a, Pool(f"pool-{k:02d}", "", [f"product-{k:02d}"]))
            s.licenses.put_license(
                a, License(f"license-{k:02d}", f"contract-{k:02d}", "volume", 5, None, None)
            )
            s.licenses.put_pool_member(a, f"license-{k:02d}", f"pool-{k:02d}", f"KEY-{k:02d}")
            self.size += 1


FILTERED_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "product(id=*)": ("product_getObjects", {"id": "product-*"}),
    "product(id list)": ("product_getObjects", {"id": ["product-00", "PRODUCT-01"], "productVersion": "1"}),
    "productOnDepot(productId=*)": ("productOnDepot_getObjects", {"productId": "product*"}),
    "productProperty(productId=*)": (
        "productProperty_getObjects",
        {"productId": "product-*", "propertyId": "lang*"},
    ),
    "productOnClient(productId=*)": ("productOnClient_getObjects", {"productId": "product-*"}),
    "group(id=*)": ("group_getObjects", {"id": "computers*", "type": "HostGroup"}),
    "group(parentGroupId)": ("group_getObjects", {"parentGroupId": "computers*"}),
    "group(ProductGroup)": ("group_getObjects", {"type": "ProductGroup", "description": ""}),
    "objectToGroup(groupId=*)": ("objectToGroup_getObjects", {"groupId": "computers*"}),
    "config(id=*)": ("config_getObjects", {"id": "cfg.*", "type": "UnicodeConfig"}),
    "configState(configId=*)": ("configState_getObjects", {"configId": "cfg.*"}),
    "auditSoftwareOnClient(name=*)": ("auditSoftwareOnClient_getObjects", {"name": "sw-*"}),
    "auditSoftware(name)": ("auditSoftware_getObjects", {"name": ["sw-common", "SW-00"]}),
    "licenseContract(partner)": ("licenseContract_getObjects", {"id": "contract-*", "partner": "acme"}),
    "softwareLicense(contract=*)": ("softwareLicense_getObjects", {"licenseContractId": "contract-*"}),
    "licensePool(id=*)": ("licensePool_getObjects", {"id": "pool-*"}),
    "softwareLicenseToLicensePool(pool=*)": (
        "softwareLicenseToLicensePool_getObjects",
        {"licensePoolId": "pool-*"},
    ),
}


def test_opsi_filtered_get_objects(runtime: Runtime, admin: Actor, client: TestClient, auth: str) -> None:
    """The calls whose filters moved into SQL, with filters that match a growing number of
    objects: the same number of statements with 3 and with 30 of each."""
    objects = OpsiObjects(runtime, admin)
    objects.grow(3)

    def opsi(method: str, flt: dict[str, Any]) -> Callable[[], Any]:
        def call() -> Any:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": [[], flt]}
            r = client.post("/rpc", json=body, headers={"Authorization": auth})
            assert r.status_code == 200 and r.json().get("error") is None, r.text
            assert r.json()["result"], (method, flt)  # the filter matches something
            return r.json()

        return call

    _compare(objects, runtime.db, {n: opsi(m, f) for n, (m, f) in FILTERED_CALLS.items()}, sizes=(3, 30))
