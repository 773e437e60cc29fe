"""A report cannot call SQLite's functions that reach outside the database (mutation sample of
seed 20261204, docs/testing.md: ``SqliteRunner.run`` 47 let every function through the
authorizer, and no test called one)."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor
from fleetdeck.core.reports import ReportFailed, ReportService
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "sqlite", reason="SQLite's authorizer; PostgreSQL has its own role"
)


@pytest.mark.parametrize("call", ["load_extension('/nonexistent')", "LOAD_EXTENSION('/nonexistent')"])
def test_a_report_may_not_load_an_extension(reports: ReportService, world: Actor, call: str) -> None:
    with pytest.raises(ReportFailed) as info:
        reports.run_sql(world, f"SELECT {call} AS x")
    assert info.value.detail["kind"] == "forbidden"
    assert info.value.message == "report may not call load_extension()"
