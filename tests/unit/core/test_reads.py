"""Reading through core never takes SQLite's write lock.

On SQLite every transaction that may write starts with ``BEGIN IMMEDIATE`` and so queues for the
database's single write lock; reads start a plain ``BEGIN`` and run beside a writer (WAL). A read
that took the write lock would make list pages, agent hellos and the periodic tick wait for every
write, thousands of times per minute in a reconnect storm. This checks each read method, and the
periodic paths when they have nothing to do, on a database with something in every table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.core.licenses.service import Contract, License, Pool
from fleetdeck.core.packages.entities import PackageFields, PayloadFile
from fleetdeck.core.query import Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.settings.configs import Config
from fleetdeck.settings import Settings
from tests.conftest import BACKEND, SECRET

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock and BEGIN IMMEDIATE are SQLite's")


@contextmanager
def write_transactions(engine: Engine) -> Iterator[list[str]]:
    started: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.strip().upper().startswith("BEGIN IMMEDIATE"):
            started.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield started
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@pytest.fixture
def world(runtime: Runtime, settings: Settings) -> tuple[Services, dict[str, Any]]:
    svc = build_services(runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "payloads"))
    ids: dict[str, Any] = {}
    ids["pc"] = svc.computers.create(ADMIN, "pc").id
    ids["group"] = svc.groups.create(ADMIN, "g").id
    svc.groups.add_members(ADMIN, ids["group"], [ids["pc"]])
    pkg = svc.packages.create(
        ADMIN, "tool", "1", PackageFields(install_procedure="x"), files=[PayloadFile("a", b"a")]
    )
    ids["package"], ids["family"] = pkg.id, pkg.family_id
    ids["package_group"] = svc.packages.create_group(ADMIN, "pg").id
    svc.packages.add_to_group(ADMIN, ids["package_group"], pkg.id)
    ids["container"] = svc.deployments.deploy(ADMIN, "d", computer_ids=[ids["pc"]], package_ids=[pkg.id]).id
    ids["job"] = svc.deployments.container_jobs(ADMIN, ids["container"])[0].id
    ids["rule"] = svc.deployments.create_rule(ADMIN, "r", ids["group"], ids["package_group"]).id
    ids["batch"] = svc.jobs.create_commands(ADMIN, CommandRequest("ls"), computer_ids=[ids["pc"]]).batch_id
    ids["report"] = svc.reports.create(ADMIN, "r", "SELECT 1").id
    ids["report_group"] = svc.reports.groups.create(ADMIN, "rg").id
    svc.licenses.put_contract(ADMIN, Contract("c"))
    svc.licenses.put_pool(ADMIN, Pool("p"))
    svc.licenses.put_license(ADMIN, License("l", "c"))
    svc.configs.put(ADMIN, Config("k"))
    token = svc.enrollment.create_token(ADMIN).token
    creds = svc.enrollment.enroll(token, hostname="agent", machine_id="m", agent_version="1", source="")
    ids["agent"], ids["uid"], ids["key"] = creds.computer_id, creds.uid, creds.key
    return svc, ids


READS: dict[str, Callable[[Services, dict[str, Any]], object]] = {
    "audit.find": lambda s, i: s.audit.find(ADMIN, Query()),
    "computers.find": lambda s, i: s.computers.find(ADMIN, Query()),
    "computers.find_detailed": lambda s, i: s.computers.find_detailed(ADMIN, Query()),
    "computers.get": lambda s, i: s.computers.get(ADMIN, i["pc"]),
    "computers.exists": lambda s, i: s.computers.exists([i["pc"]]),
    "computers.inventory_digest": lambda s, i: s.computers.inventory_digest(i["pc"]),
    "computers.network_identities": lambda s, i: s.computers.network_identities(ADMIN),
    "desktops.check": lambda s, i: s.desktops.check(ADMIN, i["pc"]),
    "groups.find": lambda s, i: s.groups.find(ADMIN, Query()),
    "groups.get": lambda s, i: s.groups.get(ADMIN, i["group"]),
    "groups.members": lambda s, i: s.groups.members(ADMIN, i["group"]),
    "groups.member_ids": lambda s, i: s.groups.member_ids([i["group"]]),
    "jobs.get": lambda s, i: s.jobs.get(ADMIN, i["job"]),
    "jobs.find": lambda s, i: s.jobs.find(ADMIN, Query()),
    "jobs.get_batch": lambda s, i: s.jobs.get_batch(ADMIN, i["batch"]),
    "jobs.final_among": lambda s, i: s.jobs.final_among(ADMIN, [i["job"]]),
    "jobs.wait (no waiting)": lambda s, i: s.jobs.wait(ADMIN, [i["job"]], 0),
    "jobs.computers_with_queued": lambda s, i: s.jobs.computers_with_queued(),
    "jobs.cancel_requested": lambda s, i: s.jobs.cancel_requested(i["pc"]),
    "jobs.on_hello (nothing delivered)": lambda s, i: s.jobs.on_hello(i["pc"], []),
    "deployments.list_containers": lambda s, i: s.deployments.list_containers(ADMIN),
    "deployments.get_container": lambda s, i: s.deployments.get_container(ADMIN, i["container"]),
    "deployments.container_jobs": lambda s, i: s.deployments.container_jobs(ADMIN, i["container"]),
    "deployments.computer_jobs": lambda s, i: s.deployments.computer_jobs(ADMIN),
    "deployments.get_job": lambda s, i: s.deployments.get_job(ADMIN, i["job"]),
    "deployments.list_rules": lambda s, i: s.deployments.list_rules(ADMIN),
    "deployments.get_rule": lambda s, i: s.deployments.get_rule(ADMIN, i["rule"]),
    "deployments.rule_jobs": lambda s, i: s.deployments.rule_jobs(ADMIN, i["rule"]),
    "deployments.tick (nothing due)": lambda s, i: s.deployments.tick(),
    "enrollment.list_tokens": lambda s, i: s.enrollment.list_tokens(ADMIN),
    "enrollment.agent_key": lambda s, i: s.enrollment.agent_key(ADMIN, i["agent"]),
    "enrollment.agent_keys": lambda s, i: s.enrollment.agent_keys(ADMIN, [i["agent"]]),
    "enrollment.authenticate_agent": lambda s, i: s.enrollment.authenticate_agent(i["uid"], i["key"]),
    "enrollment.authenticate_host": lambda s, i: s.enrollment.authenticate_host(
        "agent.fleetdeck.local", i["key"], ""
    ),
    "licenses.contracts": lambda s, i: s.licenses.contracts(ADMIN),
    "licenses.pools": lambda s, i: s.licenses.pools(ADMIN),
    "licenses.licenses": lambda s, i: s.licenses.licenses(ADMIN),
    "licenses.pool_members": lambda s, i: s.licenses.pool_members(ADMIN),
    "licenses.pool_software": lambda s, i: s.licenses.pool_software(ADMIN),
    "licenses.assignments": lambda s, i: s.licenses.assignments(ADMIN),
    "packages.list_families": lambda s, i: s.packages.list_families(ADMIN),
    "packages.get_family": lambda s, i: s.packages.get_family(ADMIN, i["family"]),
    "packages.get": lambda s, i: s.packages.get(ADMIN, i["package"]),
    "packages.find": lambda s, i: s.packages.find(ADMIN, Query()),
    "packages.payload": lambda s, i: s.packages.payload(ADMIN, i["package"]),
    "packages.payload_for_agent": lambda s, i: s.packages.payload_for_agent(i["pc"], i["package"]),
    "packages.get_group": lambda s, i: s.packages.get_group(ADMIN, i["package_group"]),
    "packages.list_groups": lambda s, i: s.packages.list_groups(ADMIN),
    "packages.group_packages": lambda s, i: s.packages.group_packages(ADMIN, i["package_group"]),
    "packages.list_packages": lambda s, i: s.packages.list_packages(ADMIN, family_id=i["family"]),
    "packages.list_installations": lambda s, i: s.packages.list_installations(ADMIN),
    "packages.may_upload": lambda s, i: s.packages.may_upload(ADMIN, i["package"]),
    "properties.find": lambda s, i: s.properties.find(ADMIN),
    "properties.values": lambda s, i: s.properties.values(ADMIN),
    "reports.find": lambda s, i: s.reports.find(ADMIN, Query()),
    "reports.get": lambda s, i: s.reports.get(ADMIN, i["report"]),
    "reports.list_reports": lambda s, i: s.reports.list_reports(ADMIN),
    "reports.groups.find": lambda s, i: s.reports.groups.find(ADMIN, Query()),
    "reports.groups.get": lambda s, i: s.reports.groups.get(ADMIN, i["report_group"]),
    "configs.entries": lambda s, i: s.configs.entries(ADMIN),
    "configs.values": lambda s, i: s.configs.values(ADMIN),
    "settings.list": lambda s, i: s.settings.list(ADMIN),
    "settings.get": lambda s, i: s.settings.get(ADMIN, "wol.port"),
    "settings.value": lambda s, i: s.settings.value("wol.port"),
    "wol.wake (no MAC known)": lambda s, i: s.wol.wake([i["pc"]]),
}


def test_reads_take_no_write_lock(world: tuple[Services, dict[str, Any]], runtime: Runtime) -> None:
    svc, ids = world
    writers = []
    for name, read in READS.items():
        with write_transactions(runtime.db.engine) as started:
            read(svc, ids)
        if started:
            writers.append(name)
    assert writers == []


def test_an_agents_frame_check_takes_no_write_lock(
    world: tuple[Services, dict[str, Any]], runtime: Runtime
) -> None:
    """Asked for every output, update and result frame an agent sends: a read."""
    svc, ids = world
    with write_transactions(runtime.db.engine) as started:
        assert svc.jobs.agent_may_report(ADMIN, ids["pc"], ids["job"], "result")
        assert not svc.jobs.agent_may_report(ADMIN, ids["pc"], 4242, "output")
    assert started == []


def test_the_check_sees_a_write(world: tuple[Services, dict[str, Any]], runtime: Runtime) -> None:
    svc, ids = world
    with write_transactions(runtime.db.engine) as started:
        svc.computers.update(ADMIN, ids["pc"], notes="changed")
    assert len(started) == 1
