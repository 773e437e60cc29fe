"""A report cannot call SQLite's functions that reach outside the database, and PostgreSQL's
refusal of a secret says what is secret (mutation sample of seed 20261204, docs/testing.md:
``SqliteRunner.run`` 47 let every function through the authorizer, and no test called one;
``postgres_runner._forbidden`` 30 garbled the explanation, which no test read)."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor
from fleetdeck.core.reports import ReportFailed, ReportService
from tests.conftest import BACKEND


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's authorizer; PostgreSQL has its own role")
@pytest.mark.parametrize("call", ["load_extension('/nonexistent')", "LOAD_EXTENSION('/nonexistent')"])
def test_a_report_may_not_load_an_extension(reports: ReportService, world: Actor, call: str) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, f"SELECT {call} AS x")
    assert info.value.detail["kind"] == "forbidden"
    assert info.value.message == "report may not call load_extension()"


@pytest.mark.skipif(BACKEND != "postgres", reason="the report role's refusal on PostgreSQL")
def test_postgres_explains_what_a_report_may_not_read(reports: ReportService, world: Actor) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, "SELECT password_hash FROM users")
    assert info.value.detail["kind"] == "forbidden"
    assert info.value.message.startswith("report may not read this: ")
    assert info.value.message.endswith(
        "(secret columns such as users.password_hash and the settings table are not readable by"
        " reports, and a report reads only what its caller may read elsewhere)"
    )
