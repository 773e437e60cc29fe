"""opsi host filters run in SQL (issue #10): the database returns only the computers a filter
can match, and what opsi answers is exactly what opsi's Python rules (``filters.matches``)
keep of every host."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleetdeck.api.dialects.opsi.methods.hosts import _hosts
from fleetdeck.api.dialects.opsi.objects.filters import matches, sql_condition
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import AnyOf, Cond, Op
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

from .conftest import Rpc

HOSTS = [  # (hostname, fqdn, notes)
    ("ws-1", "", "Desk 4"),
    ("WS-2", "ws-2.example.org", "desk 5"),
    ("ws-10.lan", "ws-10.lan", ""),
    ("db", "db.corp.example.", "the *star* server"),
    ("mail", "localhost", "n1"),
    ("print", "print.example.org", "n2"),
]

FILTERS: list[dict[str, Any]] = [
    {},
    {"id": "ws-1.fleetdeck.local"},
    {"id": "WS-2.EXAMPLE.ORG"},
    {"id": "ws-*"},
    {"id": "ws-1*"},
    {"id": "*.example.org"},
    {"id": "********#"},
    {"id": ["db.corp.example", "mail*"]},
    {"id": [f"ws-{i}.fleetdeck.local" for i in range(12)]},
    {"id": ["print.example.org", None]},
    {"id": "ws-10.fleetdeck.local"},
    {"id": ">m"},
    {"notes": "desk*"},
    {"notes": "DESK 4"},
    {"notes": "*\\*star\\**"},
    {"notes": "*star*"},
    {"notes": ["n1", "n2", None]},
    {"notes": [f"n{i}" for i in range(12)]},
    {"notes": "<n2"},
    {"notes": "", "type": "OpsiClient"},
    {"type": "OpsiDepotserver"},
    {"type": "OpsiClient", "id": "*.lan"},
    {"id": "d%", "notes": "the _star* server"},
]


@pytest.fixture
def fleet(runtime: Runtime, admin: Actor) -> None:
    for hostname, fqdn, notes in HOSTS:
        c = runtime.services.computers.create(admin, hostname, notes=notes)
        if fqdn:
            with UnitOfWork(runtime.db) as uow:  # as an agent's inventory would report it
                row = uow.session.get(Computer, c.id)
                assert row is not None
                row.fqdn = fqdn


def _ctx(runtime: Runtime, admin: Actor) -> Context:
    return Context(services=runtime.services, actor=admin)


@pytest.mark.parametrize("flt", FILTERS, ids=[repr(f)[:60] for f in FILTERS])
def test_sql_narrowing_keeps_opsi_semantics(
    rpc: Rpc, runtime: Runtime, admin: Actor, fleet: None, flt: dict[str, Any]
) -> None:
    ctx = _ctx(runtime, admin)
    everything = _hosts.fetch(ctx, {})  # no filter: every host, built in Python
    expected = sorted(r["id"] for r in everything if matches(r, flt, _hosts.family))
    assert sorted(rpc.ok("host_getIdents", "str", flt)) == expected
    narrowed = _hosts.clients(ctx, flt)
    assert set(expected) - {everything[0]["id"]} <= set(narrowed)  # never fewer than opsi keeps


def test_the_database_drops_what_the_filter_excludes(runtime: Runtime, admin: Actor, fleet: None) -> None:
    ctx = _ctx(runtime, admin)
    assert set(_hosts.clients(ctx, {"id": "ws-1*"})) == {"ws-1.fleetdeck.local", "ws-10.fleetdeck.local"}
    assert set(_hosts.clients(ctx, {"notes": "desk*"})) == {"ws-1.fleetdeck.local", "ws-2.example.org"}
    assert set(_hosts.clients(ctx, {"id": "print.example.org"})) == {"print.example.org"}
    assert _hosts.clients(ctx, {"type": "OpsiConfigserver"}) == {}


def test_filter_values_become_query_conditions() -> None:
    assert sql_condition("notes", None) is None and sql_condition("notes", []) is None
    assert sql_condition("notes", "a*") == Cond("notes", Op.LIKE, "a*")
    assert sql_condition("notes", "A") == Cond("notes", Op.IEQ, "A")
    assert sql_condition("notes", ["a", None]) == AnyOf(
        (Cond("notes", Op.IEQ, "a"), Cond("notes", Op.IS_NULL, True))
    )
    long = [f"v{i}*" for i in range(11)]
    assert sql_condition("notes", long) == Cond("notes", Op.IIN, tuple(long))  # opsi: plain IN
    for python_only in (">a", ["a", "<b"], 5, True, [1, "a"]):
        assert sql_condition("notes", python_only) is None


def test_random_filters_agree_with_python(rpc: Rpc, runtime: Runtime, admin: Actor, fleet: None) -> None:
    ctx = _ctx(runtime, admin)
    everything = _hosts.fetch(ctx, {})
    rng = random.Random(10)
    words = ["ws", "WS-", "*", "1", ".", "example", "org", "desk", " ", "n", "%", "_", "lan", "db"]
    for _ in range(60):
        value: Any = "".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            value = [value, "".join(rng.choice(words) for _ in range(rng.randint(1, 3)))]
        flt = {rng.choice(["id", "notes"]): value}
        expected = sorted(r["id"] for r in everything if matches(r, flt, _hosts.family))
        assert sorted(rpc.ok("host_getIdents", "str", flt)) == expected, flt
