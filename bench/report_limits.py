#!/usr/bin/env python
"""Time and memory of report queries that try to return huge values (SQLite runner).

    .venv/bin/python bench/report_limits.py [--json]

Each query runs in its own Python process against a freshly migrated SQLite database in a
temporary directory, with the default limits (``reports.max_bytes`` 20,000,000,
``reports.timeout_sec`` 10), through the real ``SqliteRunner``. Reported per query: the
outcome (refused with which kind, or how many rows), wall time, and the growth of the
process's peak resident set size. ``tests/integration/reports/test_sandbox_bounds.py`` asserts
the refusal; the figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

QUERIES = {
    "zeroblob(300000000)": "SELECT zeroblob(300000000) AS b",
    "hex(zeroblob(150000000))": "SELECT hex(zeroblob(150000000)) AS s",
    "1,000 rows x 50 kB": "SELECT hex(zeroblob(25000)) AS s FROM"
    " (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000) SELECT x FROM c)",
}

CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from fleetdeck.core.reports.policy import TIERS, Limits, ReportFailed
from fleetdeck.core.reports.sqlite_runner import SqliteRunner
from fleetdeck.storage import migrate
from fleetdeck.storage.db import Database

path = Path(tempfile.mkdtemp()) / "bench.db"
db = Database(f"sqlite:///{path}")
migrate.upgrade(db)
db.dispose()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
try:
    result = SqliteRunner(str(path)).run(sys.argv[1], Limits(10_000, 20_000_000, 10.0), TIERS[-1])
    outcome = f"{len(result.rows)} rows"
except ReportFailed as exc:
    outcome = "refused: " + str(exc.detail["kind"])
print(json.dumps({
    "outcome": outcome,
    "seconds": round(time.monotonic() - started, 3),
    "peak_rss_growth_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, 1),
}))
"""


def measure(sql: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, sql], capture_output=True, text=True, check=True, timeout=120
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = {name: measure(sql) for name, sql in QUERIES.items()}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, f in figures.items():
        print(f"{name:28} {f['outcome']:22} {f['seconds']:7.3f} s  peak RSS +{f['peak_rss_growth_mib']} MiB")


if __name__ == "__main__":
    main()
