"""Shared settings of the fuzz tests: one hypothesis profile, bounded and reproducible.

``derandomize=True`` makes every run generate the same examples (a failure in CI reproduces
locally with the same command); no example database, so nothing is stored between runs.
``FLEETDECK_FUZZ_EXAMPLES`` raises the number of examples for a deeper run by hand, e.g.
``FLEETDECK_FUZZ_EXAMPLES=200 pytest tests/fuzz``; the default keeps the fuzz tests to about a
minute per database, because CI runs the whole suite on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

# The real application on the test database, as /api/v1's own tests use it.
from tests.integration.api.conftest import app, client  # noqa: F401  (fixtures)

# What the fuzz tests sent, by kind: printed at the end of a run for docs/reliability.md.
SENT: Counter[str] = Counter()

EXAMPLES = int(os.environ.get("FLEETDECK_FUZZ_EXAMPLES") or 0)

# A fixture (the database, the app) serves all examples of one test: state accumulates within an
# operation, which is what a real client does too; hypothesis warns about that, and we mean it.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def examples(default: int) -> settings:
    """The profile with ``default`` examples (or ``FLEETDECK_FUZZ_EXAMPLES`` when set)."""
    return settings(FUZZ, max_examples=EXAMPLES or default)


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Log records that carry a traceback or report an error: the server must log none for
    anything a client can send."""
    return [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in records
        if r.exc_info or r.exc_text or r.levelno >= logging.ERROR
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SENT:
        counts = ", ".join(f"{kind}: {n}" for kind, n in sorted(SENT.items()))
        terminalreporter.write_line(f"fuzz requests sent ({counts})")
