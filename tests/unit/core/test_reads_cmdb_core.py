"""Reads of the CMDB never take SQLite's write lock (as ``test_reads.py`` checks for the older
services): objects, entries, dialog tables, relation types and relations, the logbook and the
search, each on a database with something in every table it reads. The i-doit dialect makes
these calls for every read request; one taking the write lock would queue behind every agent
report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.query import Query
from fleetdeck.core.services import Services
from tests.conftest import BACKEND
from tests.unit.core.test_reads import write_transactions

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")
RELATION = "C__CATG__RELATION"

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock and BEGIN IMMEDIATE are SQLite's")


@pytest.fixture
def world(svc: Services) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    ids["pc"] = svc.computers.create(ADMIN, "pc").id
    ids["server"], _ = svc.cmdb.create(ADMIN, "C__OBJTYPE__SERVER", "db01")
    ids["app"], _ = svc.cmdb.create(ADMIN, "C__OBJTYPE__APPLICATION", "PostgreSQL")
    # a relation type added to the dialog+ table: relation_type reads the table for it
    ids["feeds"] = svc.cmdb.dialog_change(ADMIN, RELATION, "relation_type", title="Feeds")
    svc.cmdb.save(ADMIN, ids["server"], RELATION, {"object2": ids["app"], "relation_type": ids["feeds"]})
    svc.cmdb.update(ADMIN, ids["app"], title="PostgreSQL 16")  # a logbook row
    return ids


READS: dict[str, Callable[[Services, dict[str, Any]], object]] = {
    "find": lambda s, i: s.cmdb.find(ADMIN, Query()),
    "get": lambda s, i: s.cmdb.get(ADMIN, i["server"]),
    "object_of_computer": lambda s, i: s.cmdb.object_of_computer(ADMIN, i["pc"]),
    "entries": lambda s, i: s.cmdb.entries(ADMIN, [i["server"]], None),
    "dialog_items": lambda s, i: s.cmdb.dialog_items(ADMIN, RELATION, "relation_type"),
    "relation_type": lambda s, i: s.cmdb.relation_type(i["feeds"]),
    "relations": lambda s, i: s.cmdb.relations(ADMIN, i["server"]),
    "logbook": lambda s, i: s.cmdb.logbook(ADMIN),
    "search": lambda s, i: s.cmdb.search(ADMIN, "postgres"),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_cmdb_read_takes_no_write_lock(
    runtime: Runtime, svc: Services, world: dict[str, Any], name: str
) -> None:
    with write_transactions(runtime.db.engine) as started:
        found = READS[name](svc, world)
    assert found, f"{name} read nothing: the world lacks what it reads"
    assert started == [], f"{name} started a write transaction"
