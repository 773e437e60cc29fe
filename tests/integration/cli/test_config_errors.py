"""Configuration mistakes get one line naming the setting (or file) and exit code 2, never a
traceback, and a named config file that is missing is an error, not silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def fleetdeck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
    return subprocess.run(
        [sys.executable, "-m", "fleetdeck", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleetdeck: error: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert one_error_line(fleetdeck("config", "show", "--config", str(missing))) == (
        f"fleetdeck: error: config file {missing}: not found"
    )
    line = one_error_line(fleetdeck("config", "show", env={"FLEETDECK_CONFIG": str(missing)}))
    assert "not found" in line


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [\n")
    assert one_error_line(fleetdeck("config", "show", "--config", str(bad))).startswith(
        f"fleetdeck: error: config file {bad}: invalid TOML: "
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("server", "--tls", "bogus"), {}, "setting tls (--tls or FLEETDECK_TLS): Input should be"),
        (("config", "show"), {"FLEETDECK_PORT": "99999"}, "setting port (--port or FLEETDECK_PORT)"),
        (("config", "show"), {"FLEETDECK_HEARTBEAT_SEC": "-1"}, "setting heartbeat_sec"),
    ],
)
def test_an_invalid_setting_is_named(args: tuple[str, ...], env: dict[str, str], expected: str) -> None:
    assert expected in one_error_line(fleetdeck(*args, env=env))


def test_a_bad_value_in_the_file_is_named(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('tls = "bogus"\n')
    assert "setting tls" in one_error_line(fleetdeck("config", "show", "--config", str(conf)))


def test_config_show_names_the_variable_that_sets_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("port = 9999\n")
    out = fleetdeck("config", "show", "--config", str(conf))
    assert out.returncode == 0, out.stderr
    assert f"# config file: {conf}    (--config or FLEETDECK_CONFIG)" in out.stdout
    assert "port = 9999" in out.stdout
    assert "FLEETDECK_CONFIG_FILE" not in out.stdout
