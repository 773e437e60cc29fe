"""The guards that keep a test run from being green by accident: a misspelt backend stops the
run, an unreachable PostgreSQL fails it (never a run of skips), and ``.ci/counts.py`` turns a
run that tested too little into a failure."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ("tests/unit/test_backlog.py",)


def _pytest(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A real pytest run (by default of one small file) with the given database variables."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", *(args or DEFAULT_FILE)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unknown_backend_stops_the_run() -> None:
    out = _pytest({"FLEETDECK_TEST_DB": "postgress"})
    assert out.returncode == 4, out.stdout + out.stderr
    assert "FLEETDECK_TEST_DB='postgress'" in out.stderr
    assert "passed" not in out.stdout


def test_an_unreachable_postgres_fails_the_run_and_names_the_url() -> None:
    url = f"postgresql+psycopg://postgres:not-shown@127.0.0.1:{_closed_port()}/postgres"
    out = _pytest({"FLEETDECK_TEST_DB": "postgres", "FLEETDECK_TEST_PG": url})
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert url.replace("not-shown", "***") in text and "not-shown" not in text
    assert "passed" not in text and "skipped" not in text


def _counts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_counts", ROOT / ".ci" / "counts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_counts"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _junit(path: Path, passed: int, failed: int = 0, skipped: int = 0, errors: int = 0) -> None:
    cases = (
        ["<testcase name='p'/>"] * passed
        + ["<testcase name='f'><failure message='x'/></testcase>"] * failed
        + ["<testcase name='s'><skipped message='x'/></testcase>"] * skipped
        + ["<testcase name='e'><error message='x'/></testcase>"] * errors
    )
    path.write_text(f"<testsuites><testsuite name='pytest'>{''.join(cases)}</testsuite></testsuites>")


def test_counts_pass_a_complete_run_above_its_floors(tmp_path: Path) -> None:
    counts = _counts()
    _junit(tmp_path / "sqlite.xml", passed=12, skipped=2)
    _junit(tmp_path / "postgres.xml", passed=13, skipped=1)
    lines, problems = counts.check(tmp_path, {"sqlite": 12, "postgres": 12})
    assert problems == []
    assert lines[1].split() == ["sqlite", "14", "12", "0", "0", "2", "12"]
    assert lines[2].split() == ["postgres", "14", "13", "0", "0", "1", "12"]


def test_counts_fail_a_missing_short_or_failing_run(tmp_path: Path) -> None:
    counts = _counts()
    _junit(tmp_path / "sqlite.xml", passed=5, skipped=9)  # everything else skipped
    _junit(tmp_path / "postgres.xml", passed=20, failed=1, errors=1)
    _, problems = counts.check(tmp_path, {"sqlite": 12, "postgres": 12, "mysql": 1})
    assert problems == [
        "sqlite: only 5 tests passed, the floor is 12",
        "postgres: 1 failed, 1 errors",
        f"mysql: no results ({tmp_path / 'mysql.xml'} missing: the run did not happen or did not finish)",
    ]


def test_the_floors_file_names_both_backends() -> None:
    floors = _counts().read_floors(ROOT / ".ci" / "floors")
    assert set(floors) == {"sqlite", "postgres"} and min(floors.values()) > 0


def test_counts_check_that_the_tests_left_to_sqlite_passed_there(tmp_path: Path) -> None:
    """The PostgreSQL run leaves the tests that use no database to the SQLite run
    (``--database-tests-only``); a left-out test that failed or never ran there is red."""
    counts = _counts()
    cases = [
        ("tests.unit.test_a", "test_ok", ""),
        ("tests.unit.test_a.TestC", "test_p[x-1]", ""),
        ("tests.unit.test_b", "test_skip", "<skipped message='no redis'/>"),
        ("tests.unit.test_b", "test_bad", "<failure message='x'/>"),
    ]
    xml = "".join(f"<testcase classname='{c}' name='{n}'>{body}</testcase>" for c, n, body in cases)
    (tmp_path / "sqlite.xml").write_text(
        f"<testsuites><testsuite name='pytest'>{xml}</testsuite></testsuites>"
    )
    _junit(tmp_path / "postgres.xml", passed=3)
    good = [
        "tests/unit/test_a.py::test_ok",
        "tests/unit/test_a.py::TestC::test_p[x-1]",
        "tests/unit/test_b.py::test_skip",
    ]
    (tmp_path / "postgres.left-out").write_text("\n".join(good) + "\n")
    lines, problems = counts.check_left_out(tmp_path, ["sqlite", "postgres"])
    assert problems == []
    assert lines == ["postgres: 3 tests that use no database left to sqlite (postgres.left-out)"]

    bad = [*good, "tests/unit/test_b.py::test_bad", "tests/unit/test_c.py::test_never_ran"]
    (tmp_path / "postgres.left-out").write_text("\n".join(bad) + "\n")
    _, problems = counts.check_left_out(tmp_path, ["sqlite", "postgres"])
    assert problems == [
        "postgres: 2 of the 5 tests it left out did not pass in sqlite:"
        " tests/unit/test_b.py::test_bad, tests/unit/test_c.py::test_never_ran"
    ]
    (tmp_path / "sqlite.xml").unlink()  # the SQLite run did not happen: nothing left out passed
    _, problems = counts.check_left_out(tmp_path, ["sqlite", "postgres"])
    assert problems and problems[0].startswith(
        "postgres: 5 of the 5 tests it left out did not pass in no other run"
    )


def test_database_tests_only_leaves_out_exactly_the_tests_without_the_database(tmp_path: Path) -> None:
    """A real collection: tests with ``db_url`` in their fixture closure (directly, or through
    ``runtime``/an app) stay, and so do modules that read ``BACKEND``; the others are listed in
    the ``.left-out`` file next to the junit XML."""
    out = _pytest(
        {"FLEETDECK_TEST_DB": "sqlite"},
        "--collect-only",
        "--database-tests-only",
        f"--junitxml={tmp_path / 'postgres.xml'}",
        "tests/unit/test_backlog.py",  # no database
        "tests/integration/storage/test_migrations.py",  # db_url, and migrations of own SQLite files
        "tests/integration/reports/test_sandbox_functions.py",  # reads BACKEND
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    left = set((tmp_path / "postgres.left-out").read_text().splitlines())
    kept = {line for line in out.stdout.splitlines() if "::" in line}
    assert "tests/unit/test_backlog.py::test_backlog_keeps_recent_output_bounded" in left
    assert "tests/integration/storage/test_migrations.py::test_0010_keeps_every_row_and_reference" in left
    assert "tests/integration/storage/test_migrations.py::test_migrated_schema_matches_models" in kept
    assert not any("test_sandbox_functions" in x for x in left)
    assert any("test_sandbox_functions" in x for x in kept)
    assert not left & kept
    assert "deselected" in out.stdout


def test_a_test_reaching_the_database_at_run_time_only_is_refused(tmp_path: Path) -> None:
    """``request.getfixturevalue("db_url")`` hides the database from the collection, which would
    leave the test out of the PostgreSQL run: it errors, saying what to do."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import _template, db_url, pytest_addoption  # noqa: F401\n"
    )
    (tmp_path / "test_hidden.py").write_text(
        "def test_hidden(request):\n    request.getfixturevalue('db_url')\n\n"
        "def test_named(db_url):\n    assert db_url\n"
    )
    out = _pytest({"FLEETDECK_TEST_DB": "sqlite", "PYTHONPATH": str(ROOT)}, str(tmp_path), timeout=300)
    assert "1 failed, 1 passed" in out.stdout, out.stdout + out.stderr
    assert "test_hidden.py::test_hidden gets db_url only at run time" in out.stdout
