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


def _pytest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A real pytest run of one small file with the given database variables."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "0",
            "tests/unit/test_backlog.py",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
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
