#!/usr/bin/env python3
"""Print how many tests each backend's run passed, failed and skipped, and fail when a run is
missing, has failures, or passed fewer tests than its floor in ``.ci/floors``.

Why: a suite can go green without testing anything (a conftest that skips everything, a test
directory that stops being collected, a database that was never reached). The floors make
that a red run. Raise a floor when the suite grows; lower it only with a reason in the commit.

Usage: ``.ci/counts.py [RESULTS_DIR] [--floors FILE]``. RESULTS_DIR (default
``build/test-results``) holds one junit XML per backend, ``<backend>.xml``, as written by
``make test-sqlite`` / ``make test-postgres``. Standard library only: it runs before and
without the project's virtualenv.

A run may leave tests to another: ``make test-postgres`` runs with ``--database-tests-only``
and lists the tests it left out (they use no database) in ``postgres.left-out``, one node id a
line. Each of them must have passed (or been skipped, with its reason) in the SQLite run, or
the runs are red: what the PostgreSQL run does not test, the SQLite run must have tested.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


def read_floors(path: Path) -> dict[str, int]:
    """``backend minimum`` per line; ``#`` starts a comment."""
    floors: dict[str, int] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise SystemExit(f"{path}:{n}: expected 'backend minimum', got {raw!r}")
        floors[parts[0]] = int(parts[1])
    return floors


def outcomes(path: Path) -> dict[tuple[str, str], str]:
    """(classname, name) -> failed, error, skipped (xfail too) or passed, per ``testcase``."""
    found: dict[tuple[str, str], str] = {}
    # our own pytest's output, not untrusted input
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314
        tags = {child.tag for child in case}
        key = (case.get("classname", ""), case.get("name", ""))
        if "failure" in tags:
            outcome = "failed"
        elif "error" in tags:
            outcome = "error"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "passed"
        # a test failing in teardown has two testcases: the worse outcome counts
        if found.get(key) not in ("failed", "error"):
            found[key] = outcome
    return found


def count(path: Path) -> Counts:
    """One outcome per ``testcase``: failure, else error, else skipped (xfail too), else passed."""
    counts = Counts()
    # our own pytest's output, not untrusted input
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314
        tags = {child.tag for child in case}
        if "failure" in tags:
            counts.failed += 1
        elif "error" in tags:
            counts.errors += 1
        elif "skipped" in tags:
            counts.skipped += 1
        else:
            counts.passed += 1
    return counts


def junit_key(nodeid: str) -> tuple[str, str]:
    """A node id as pytest's junit XML names its testcase: (dotted module[.Class], name)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def check_left_out(results: Path, backends: list[str]) -> tuple[list[str], list[str]]:
    """Each ``<backend>.left-out`` test must have passed or skipped in another backend's run."""
    lines: list[str] = []
    problems: list[str] = []
    for backend in backends:
        path = results / f"{backend}.left-out"
        if not path.is_file():
            continue
        left = [line for line in path.read_text().splitlines() if line.strip()]
        others = [b for b in backends if b != backend and (results / f"{b}.xml").is_file()]
        ran: dict[tuple[str, str], str] = {}
        for other in others:
            with contextlib.suppress(ET.ParseError):  # reported by check()
                ran.update(outcomes(results / f"{other}.xml"))
        missing = [nodeid for nodeid in left if ran.get(junit_key(nodeid)) not in ("passed", "skipped")]
        where = "/".join(others) or "no other run"
        lines.append(f"{backend}: {len(left)} tests that use no database left to {where} ({path.name})")
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            problems.append(
                f"{backend}: {len(missing)} of the {len(left)} tests it left out"
                f" did not pass in {where}: {shown}"
            )
    return lines, problems


def check(results: Path, floors: dict[str, int]) -> tuple[list[str], list[str]]:
    """(table lines, problems); no problems = the runs are good."""
    lines = [
        f"{'backend':<10} {'tests':>6} {'passed':>7} {'failed':>7} {'errors':>7} {'skipped':>8} {'floor':>6}"
    ]
    problems: list[str] = []
    for backend, floor in floors.items():
        path = results / f"{backend}.xml"
        if not path.is_file():
            lines.append(f"{backend:<10} {'-':>6} {'-':>7} {'-':>7} {'-':>7} {'-':>8} {floor:>6}")
            problems.append(
                f"{backend}: no results ({path} missing: the run did not happen or did not finish)"
            )
            continue
        try:
            c = count(path)
        except ET.ParseError as exc:
            problems.append(f"{backend}: {path} is not junit XML ({exc})")
            continue
        lines.append(
            f"{backend:<10} {c.total:>6} {c.passed:>7} {c.failed:>7} {c.errors:>7} {c.skipped:>8} {floor:>6}"
        )
        if c.failed or c.errors:
            problems.append(f"{backend}: {c.failed} failed, {c.errors} errors")
        if c.passed < floor:
            problems.append(f"{backend}: only {c.passed} tests passed, the floor is {floor}")
    return lines, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=Path("build/test-results"))
    parser.add_argument("--floors", type=Path, default=HERE / "floors")
    args = parser.parse_args(argv)
    floors = read_floors(args.floors)
    lines, problems = check(args.results, floors)
    more_lines, more_problems = check_left_out(args.results, list(floors))
    lines += more_lines
    problems += more_problems
    print("\n".join(lines))
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if not problems:
        print("test counts: every run complete and above its floor")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
