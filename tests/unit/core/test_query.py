from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.query import AnyOf, Cond, Op, Query, SortKey


@pytest.fixture
def names(runtime: Runtime, admin: Actor) -> list[str]:
    hosts = ["web-1", "web-2", "db_1", "db%2", "mail"]
    for h in hosts:
        runtime.services.computers.create(admin, h)
    return hosts


def hostnames(runtime: Runtime, admin: Actor, query: Query) -> list[str]:
    return [c.hostname for c in runtime.services.computers.find(admin, query).items]


def test_glob_is_case_insensitive_and_escapes_sql_wildcards(
    runtime: Runtime, admin: Actor, names: list[str]
) -> None:
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "WEB*"),))) == ["web-1", "web-2"]
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "db_*"),))) == ["db_1"]
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "db%*"),))) == ["db%2"]


def test_or_in_sort_and_page(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    q = Query(
        where=(AnyOf((Cond("hostname", Op.EQ, "mail"), Cond("hostname", Op.IN, ["web-1", "db_1"]))),),
        sort=(SortKey.parse("-hostname"),),
        limit=2,
    )
    page = runtime.services.computers.find(admin, q)
    assert [c.hostname for c in page.items] == ["web-1", "mail"] and page.total == 3
    assert hostnames(runtime, admin, Query(sort=(SortKey("hostname"),), limit=2, offset=2)) == [
        "mail",
        "web-1",
    ]


def test_typed_values_and_errors(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    assert len(hostnames(runtime, admin, Query(where=(Cond("online", Op.EQ, "false"),)))) == 5
    assert hostnames(runtime, admin, Query(where=(Cond("ram_bytes", Op.GT, "0"),))) == []
    with pytest.raises(ValidationFailed, match="unknown filter field"):
        hostnames(runtime, admin, Query(where=(Cond("password", Op.EQ, "x"),)))
    with pytest.raises(ValidationFailed, match="invalid value"):
        hostnames(runtime, admin, Query(where=(Cond("ram_bytes", Op.GT, "lots"),)))
    with pytest.raises(ValidationFailed, match="unknown sort field"):
        hostnames(runtime, admin, Query(sort=(SortKey("agent_key_hash"),)))
    with pytest.raises(ValidationFailed):
        hostnames(runtime, admin, Query(limit=100000))


def test_a_run_of_stars_is_one_sql_wildcard(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    from fleetdeck.core.query import _glob_to_like

    assert _glob_to_like("*" * 5000 + "#") == "%#"  # the database never sees 5000 wildcards
    assert _glob_to_like("a**b*") == "a%b%"
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "*" * 5000 + "#"),))) == []
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "w" + "*" * 5000 + "2"),))) == [
        "web-2"
    ]
