"""The CLI's local commands start without the server's transports (``fleetdeck.runtime``): every
one-shot command (and every test that runs one) would otherwise import every dialect, the REST
API and the web UI first, ~2 s of CPU each time. ``settings`` is the exception: it lists and
checks the settings the dialects own, so it must still know them."""

from __future__ import annotations

import subprocess

from fleetdeck.app import Runtime
from fleetdeck.settings import Settings
from tests.integration.cli.run import fleetdeck

# Prints, when the process ends, which server modules it imported; then runs the CLI as
# ``fleetdeck.__main__`` does.
PROBE = """
import atexit, sys
HEAVY = ("fleetdeck.app", "fleetdeck.api", "fleetdeck.web", "fastapi", "starlette", "uvicorn")
loaded = lambda: sorted(m for m in sys.modules if m.startswith(HEAVY))
atexit.register(lambda: print("LOADED", loaded(), file=sys.stderr))
from fleetdeck.cli import main
main(sys.argv[1:])
"""


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return fleetdeck(settings, *args, python=("-c", PROBE))


def _loaded(out: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in out.stderr.splitlines() if line.startswith("LOADED"))


def test_local_commands_import_no_transport(settings: Settings, runtime: Runtime) -> None:
    for args in (("user", "list"), ("enroll-token", "list"), ("db", "current"), ("--help",)):
        out = _run(settings, *args)
        assert out.returncode == 0, (args, out.stderr)
        assert _loaded(out) == "LOADED []", args
    created = _run(settings, "user", "create", "lean-admin", "--role", "admin", "--password", "x" * 16)
    assert created.returncode == 0, created.stderr
    assert "lean-admin" in _run(settings, "user", "list").stdout


def test_settings_commands_still_know_the_dialects_settings(settings: Settings, runtime: Runtime) -> None:
    out = _run(settings, "settings", "set", "oco.api_enabled", "true")
    assert out.returncode == 0, out.stderr
    assert "fleetdeck.api.dialects.oco" in _loaded(out)
    assert runtime.services.settings.value("oco.api_enabled") is True
